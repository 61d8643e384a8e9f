"""The trainer's typed state and its checkpoint glue: what `fit` writes into a run directory and reads back.

state.json keeps the same keys as before this module existed, so runs written by earlier versions resume.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load
from torch import Tensor, nn

from latentlab.config import RunConfig
from latentlab.errors import RunError, TrainingError
from latentlab.files import atomic_write_text
from latentlab.runs import (
    CONFIG,
    HISTORY,
    META,
    OPTIMIZER,
    STATE,
    load_optimizer_tensors,
    load_run,
    read_history,
    read_json,
    save_checkpoint,
    verify_file,
)


@dataclass
class TrainState:
    """Where training stands: whole epochs done, batches done in the current one and their running sums."""

    epoch: int = 0  # epochs finished
    step: int = 0  # batches finished in the current epoch (non-zero only after an interruption)
    sums: dict[str, float] = field(default_factory=dict)  # loss terms summed over `seen` images of this epoch
    seen: int = 0
    best_val: float | None = None
    bad_epochs: int = 0  # epochs since the watched loss last improved (early stopping)
    train_time_s: float = 0.0

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainState:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def checkpoint(run_dir: Path, cfg: RunConfig, model: nn.Module, opt: torch.optim.Optimizer, state: TrainState,
               history: list[dict[str, Any]], meta: dict[str, Any], status: str, rng: Tensor) -> None:
    """Write history, weights, optimizer, state and meta (status, epochs done, times) into `run_dir`."""
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / HISTORY, "".join(json.dumps(r) + "\n" for r in history))
    meta = {**meta, "status": status, "epochs_done": state.epoch,
            "updated": datetime.now(UTC).isoformat(timespec="seconds"), "train_time_s": state.train_time_s}
    save_checkpoint(run_dir, cfg, model, opt, json.loads(state.to_json()), meta, rng_state=rng)


def config_differences(saved: Any, asked: Any, prefix: str) -> list[str]:
    """'field: run X, asked Y' for every leaf of two config dataclasses that differs."""
    out = []
    for f in dataclasses.fields(saved):
        a, b = getattr(saved, f.name), getattr(asked, f.name)
        if dataclasses.is_dataclass(a):
            out += config_differences(a, b, f"{prefix}{f.name}.")
        elif a != b:
            out.append(f"{prefix}{f.name}: run {a!r}, asked {b!r}")
    return out


def restore(run_dir: Path, cfg: RunConfig, model: nn.Module, opt: torch.optim.Optimizer,
            device: torch.device) -> tuple[TrainState, list[dict[str, Any]], Tensor | None]:
    """Load weights, optimizer moments, state, history and the CPU RNG state of an interrupted run."""
    if not (run_dir / STATE).is_file():
        raise TrainingError(f"cannot resume: {run_dir} holds no checkpoint (state.json); start a new run instead")
    run = load_run(run_dir, device=device)
    changed = config_differences(run.config.model, cfg.model, "model.")
    if changed:
        raise TrainingError(f"cannot resume {run_dir} with another architecture ({'; '.join(changed)}); resume "
                            "without changing the model, or start a new run")
    saved = run.config.train
    if saved.epochs != cfg.train.epochs and cfg.train.schedule != "none":
        raise TrainingError(
            f"cannot resume {run_dir} with train.epochs={cfg.train.epochs}: its {cfg.train.schedule} learning-rate "
            f"schedule was laid out over {saved.epochs} epochs, and changing that changes every later epoch's rate; "
            f"resume with epochs={saved.epochs}, or start a new run")
    model.load_state_dict(run.model.state_dict())
    load_optimizer_tensors(opt, verify_file(run_dir, OPTIMIZER, run.meta))
    state = TrainState.from_dict(read_json(run_dir / STATE))
    rng = load((run_dir / OPTIMIZER).read_bytes()).get("rng.cpu")  # bytes: any folder name, not only UTF-8
    history = read_history(run_dir)[: state.epoch]
    if len(history) != state.epoch:
        raise RunError(f"{run_dir / HISTORY} has {len(history)} epochs but the checkpoint is at epoch "
                       f"{state.epoch}; the run is inconsistent, start a new one")
    return state, history, rng


def last_checkpoint(run_dir: Path | None) -> str:
    """What a failed run leaves behind, in words, for error messages."""
    if run_dir is None:
        return "nothing was saved (no run directory was given)"
    if not (run_dir / META).is_file() or not (run_dir / CONFIG).is_file():
        return f"nothing was saved: no epoch finished, so {run_dir} holds no checkpoint"
    try:
        epochs = read_json(run_dir / META).get("epochs_done")
    except RunError:
        epochs = None
    return f"the last good checkpoint (after epoch {epochs}) is kept in {run_dir}"
