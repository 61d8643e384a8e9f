"""The trainer's typed state and its checkpoint glue: what `fit` writes into a run directory and reads back.

state.json keeps the same keys as before this module existed, so runs written by earlier versions resume.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load
from torch import Tensor, nn

from latentlab.config import RunConfig
from latentlab.errors import DataChangedError, RunError, TrainingError
from latentlab.locks import run_lock
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
    """Write history, weights, optimizer, state and meta (status, epochs done, times) into `run_dir`, as one set."""
    meta = {**meta, "status": status, "epochs_done": state.epoch,
            "updated": datetime.now(UTC).isoformat(timespec="seconds"), "train_time_s": state.train_time_s}
    save_checkpoint(run_dir, cfg, model, opt, json.loads(state.to_json()), meta, rng_state=rng, history=history)


def check_epochs_left(run_dir: Path, done: int, epochs: int) -> None:
    """Refuse a resume of `run_dir`, which has done `done` epochs, asked to train `epochs` in all, fewer than that:
    its config.json would say fewer epochs than its history and meta.json hold.

    Raises
    ------
    TrainingError
        ``epochs < done`` (field ``train.epochs``); nothing is written.
    """
    if done > epochs:
        raise TrainingError(f"cannot resume {run_dir} with train.epochs={epochs}: it has done {done} epochs already; "
                            "nothing was written",
                            hint=f"to train on, resume with train.epochs=N, N above {done}; to keep the run as it is, "
                                 "do not resume it", field="train.epochs", value=epochs, related=("resume",))


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


def restore(run_dir: Path, cfg: RunConfig, model: nn.Module, opt: torch.optim.Optimizer, device: torch.device,
            data: dict[str, Any] | None = None, allow_data_change: bool = False
            ) -> tuple[TrainState, list[dict[str, Any]], Tensor | None, dict[str, Any]]:
    """Load weights, optimizer moments, state, history and the CPU RNG state of an interrupted run; also returns its
    meta.json. `data` (the new meta's description of the training images) is checked against the run's own
    (`check_data`) before anything is loaded into `model`."""
    if not (run_dir / STATE).is_file():
        raise TrainingError(f"cannot resume: {run_dir} holds no checkpoint (state.json); start a new run instead",
                            field="resume", value=str(run_dir))
    run = load_run(run_dir, device=device)
    changed = config_differences(run.config.model, cfg.model, "model.")
    if changed:
        raise TrainingError(f"cannot resume {run_dir} with another architecture ({'; '.join(changed)}); resume "
                            "without changing the model, or start a new run", field="resume", value=str(run_dir))
    saved = run.config.train
    if saved.epochs != cfg.train.epochs and cfg.train.schedule != "none":
        raise TrainingError(
            f"cannot resume {run_dir} with train.epochs={cfg.train.epochs}: its {cfg.train.schedule} learning-rate "
            f"schedule was laid out over {saved.epochs} epochs, and changing that changes every later epoch's rate; "
            f"resume with train.epochs={saved.epochs}, or start a new run",
                            field="train.epochs", value=cfg.train.epochs, related=("resume",))
    if data is not None:
        check_data(run_dir, run.meta, data, allow_data_change)
    model.load_state_dict(run.model.state_dict())
    load_optimizer_tensors(opt, verify_file(run_dir, OPTIMIZER, run.meta))
    state = TrainState.from_dict(read_json(run_dir / STATE))
    check_epochs_left(run_dir, state.epoch, cfg.train.epochs)
    rng = load((run_dir / OPTIMIZER).read_bytes()).get("rng.cpu")  # bytes: any folder name, not only UTF-8
    history = read_history(run_dir)[: state.epoch]
    if len(history) != state.epoch:
        raise RunError(f"{run_dir / HISTORY} has {len(history)} epochs but the checkpoint is at epoch "
                       f"{state.epoch}; the run is inconsistent, start a new one", field="run_dir", value=str(run_dir))
    return state, history, rng, run.meta


#: What meta.json says of the training images; a resume compares them (those both sides recorded).
DATA_KEYS = ("dataset", "n_train", "classes", "train_images_sha256", "train_labels_sha256")


def data_description(meta: dict[str, Any]) -> dict[str, Any]:
    """The training images as meta.json describes them: dataset, n_train, classes and the digests it recorded."""
    return {k: meta[k] for k in DATA_KEYS if meta.get(k) is not None}


def data_changed(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether two descriptions differ in anything both recorded, other than the data set's name (a folder may be
    moved) -- the images' digest decides; counts, classes and labels catch what the digest alone would not."""
    return any(k in old and k in new and old[k] != new[k] for k in DATA_KEYS[1:])


def describe(d: dict[str, Any]) -> str:
    """'mnist-sample, 10,000 images, classes 0 1 2 ..., sha256 1a2b3c4d5e6f' (the parts recorded)."""
    parts = [str(d["dataset"])] if "dataset" in d else []
    if "n_train" in d:
        parts.append(f"{d['n_train']:,} images")
    if d.get("classes"):  # an unlabelled set records none
        names = [str(c) for c in d["classes"]]
        parts.append(f"{len(names)} classes ({', '.join(names[:12])}{', ...' if len(names) > 12 else ''})")
    if "train_images_sha256" in d:
        parts.append(f"images sha256 {str(d['train_images_sha256'])[:12]}")
    if "train_labels_sha256" in d:
        parts.append(f"labels sha256 {str(d['train_labels_sha256'])[:12]}")
    return ", ".join(parts) or "nothing recorded"


def check_data(run_dir: Path, saved_meta: dict[str, Any], meta: dict[str, Any], allow: bool) -> None:
    """DataChangedError, with both descriptions, when the training images described by `meta` are not those the run
    in `run_dir` was trained on (`saved_meta`) and `allow` is False. Runs that recorded nothing are not checked."""
    old, new = data_description(saved_meta), data_description(meta)
    if allow or not data_changed(old, new):
        return
    raise DataChangedError(
        f"cannot resume {run_dir} on other training images than it was trained on: it was trained on "
        f"{describe(old)}; now given {describe(new)}; resume with the data it was trained on (the same dataset, "
        f"folder and data_dir), or start a new run on these; to go on with them all the same, resume with "
        f"allow_data_change=True, which the run's history records",
                           field="resume", value=str(run_dir), related=("dataset", "data_dir", "allow_data_change"))


def data_change_record(epoch: int, saved_meta: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any] | None:
    """What the run's history and meta.json record of an allowed data change at a resume into `epoch` (1-based), or
    None when the data did not change."""
    old, new = data_description(saved_meta), data_description(meta)
    if not data_changed(old, new):
        return None
    return {"epoch": epoch, "before": old, "after": new,
            "at": datetime.now(UTC).isoformat(timespec="seconds")}


def resumed_meta(epoch: int, saved: dict[str, Any], meta: dict[str, Any]
                 ) -> tuple[dict[str, Any], dict[str, Any] | None, str]:
    """For a resume into `epoch` (1-based) of a run whose meta.json is `saved`, with new `meta`: that meta carrying
    the run's "data_changes" (plus this one, if its data changed), this change's record (None if none) and a
    sentence saying so ("" if none)."""
    record = data_change_record(epoch, saved, meta)
    changes = [*(saved.get("data_changes") or []), *([record] if record else [])]
    note = "" if record is None else (f"the training images changed (allowed): {describe(record['before'])} before "
                                      f"epoch {epoch}, {describe(record['after'])} from it on (recorded)")
    return ({**meta, "data_changes": changes} if changes else meta), record, note


@contextlib.contextmanager
def writing(run_dir: Path | None, is_main: bool, log: Callable[[str], None]) -> Iterator[None]:
    """Hold `run_dir`'s lock (`locks.run_lock`) on the process that writes it; a stale lock taken over is logged."""
    if run_dir is None or not is_main:
        yield
        return
    with run_lock(run_dir, "training") as lock:
        if lock.note:
            log(lock.note)
        yield


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
