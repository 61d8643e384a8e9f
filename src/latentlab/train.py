"""The training engine: generic over any model with `loss(x, target) -> dict`, single process or torch DDP.

Data stay uint8 on the device; each epoch is one permutation and batches are sliced from it, so the hot loop
does no per-sample Python work. Loss terms are summed on the device and read once per epoch (or when the
progress bar refreshes), which avoids a host sync per step on a GPU.
"""

from __future__ import annotations

import contextlib
import json
import math
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file
from torch import Tensor, nn
from tqdm import tqdm

from latentlab import dist
from latentlab.config import RunConfig, TrainConfig
from latentlab.models import build_model
from latentlab.noise import corrupt
from latentlab.rundir import (
    HISTORY,
    META,
    OPTIMIZER,
    STATE,
    RunError,
    atomic_write_text,
    load_optimizer_tensors,
    load_run,
    read_history,
    read_json,
    save_checkpoint,
    verify_file,
)


class TrainingError(RuntimeError):
    """Training cannot go on (non-finite loss, bad resume directory, ...); the message says what to do."""


@dataclass
class TrainResult:
    run_dir: Path | None
    model: nn.Module
    history: list[dict[str, Any]]
    status: str  # "finished", "early-stopped", "interrupted"


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """`auto` picks cuda, then mps, then cpu; under torchrun each process takes the GPU of its local rank."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank)
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise TrainingError("--device cuda was asked for but no CUDA GPU is visible; use --device cpu or auto")
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", local_rank)
    return dev


class _LossModule(nn.Module):
    # DDP and torch.compile hook `forward`; the models expose their objective as `loss`, so route it here.
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor, target: Tensor) -> dict[str, Tensor]:
        return self.model.loss(x, target)


def _optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[cfg.optimizer]
    params = list(model.parameters())
    try:
        # The fused kernel updates each tensor in one pass instead of ~10 small ops: on a CPU that is a third
        # of a small model's step. Same update rule; builds without it for this device raise, so fall back.
        return cls(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
    except (RuntimeError, TypeError):
        return cls(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def _lr_at(cfg: TrainConfig, epoch: int) -> float:
    """Learning rate for 0-based `epoch`: stateless, so resuming needs nothing beyond the epoch number."""
    if cfg.schedule == "cosine":
        return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * epoch / cfg.epochs))
    if cfg.schedule == "step":
        return cfg.lr * 0.1 ** (epoch // max(1, cfg.epochs // 3))
    return cfg.lr


def _batches(n: int, batch_size: int, rank: int, world: int, perm: Tensor, start: int) -> Iterator[tuple[int, Tensor]]:
    for step in range(start, math.ceil(n / batch_size)):
        # Every rank holds the same permutation; each takes its slice of the global batch.
        yield step, torch.tensor_split(perm[step * batch_size:(step + 1) * batch_size], world)[rank]


def _as_tensor(x: np.ndarray, device: torch.device) -> Tensor:
    # Read-only arrays (np.frombuffer, memory maps) are copied once: torch wants writable memory.
    return torch.from_numpy(np.require(x, np.uint8, ["C", "W"])).to(device)


def _to_float(xb: Tensor) -> Tensor:
    return xb.unsqueeze(1).to(torch.float32).div_(255.0)


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    """SIGINT/SIGTERM set a flag that the loop checks between steps, so a checkpoint can be written cleanly."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for s in previous:
        signal.signal(s, lambda *_: stop.set())
    try:
        yield stop
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@torch.inference_mode()
def evaluate_loss(model: nn.Module, x: Tensor, cfg: TrainConfig, info: dist.DistInfo) -> dict[str, float]:
    """Mean loss terms over uint8 images `x`, sharded over ranks and summed across them."""
    model.eval()
    shard = torch.tensor_split(torch.arange(len(x), device=x.device), info.world_size)[info.rank]
    # A fixed generator: validation noise is the same every epoch, so the curve measures the model only.
    gen = torch.Generator(device=x.device).manual_seed(cfg.seed + 1)
    sums: dict[str, Tensor] = {}
    for idx in shard.split(cfg.eval_batch_size):
        xb = _to_float(x.index_select(0, idx))
        out = model.loss(corrupt(xb, cfg.noise, gen), xb)
        for k, v in out.items():
            sums[k] = sums.get(k, torch.zeros((), device=x.device)) + v.detach().float() * len(idx)
    model.train()
    keys = sorted(sums)
    total = dist.all_reduce_sum(torch.stack([sums[k] for k in keys]))
    return {k: float(v) / len(x) for k, v in zip(keys, total.tolist(), strict=True)}


def train(cfg: RunConfig, x_train: np.ndarray, x_val: np.ndarray | None, run_dir: Path | None, *,
          resume: bool = False, quiet: bool = False, info: dist.DistInfo | None = None,
          meta: dict[str, Any] | None = None, max_steps: int | None = None) -> TrainResult:
    """Train `cfg.model` on uint8 images (N, 28, 28); checkpoint to `run_dir` every epoch (rank 0 only).

    `max_steps` stops (as if interrupted) after that many optimizer steps: used by tests of resume.
    The caller's global torch RNG is left as it was.
    """
    info = info or dist.DistInfo()
    tc = cfg.train
    device = resolve_device(tc.device, info.local_rank)
    if resume and (run_dir is None or not (run_dir / STATE).is_file()):
        raise TrainingError(f"cannot resume: {run_dir} holds no checkpoint (state.json); start a new run instead")
    if x_train.ndim != 3 or x_train.shape[1:] != (28, 28) or x_train.dtype != np.uint8 or len(x_train) == 0:
        raise TrainingError(f"training images must be uint8 (N, 28, 28) with N > 0, got {x_train.dtype} "
                            f"{x_train.shape}")
    dist.init(info, device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(tc.seed + info.rank)
        return _train(cfg, x_train, x_val, run_dir, resume, quiet, info, device, meta or {}, max_steps)


def _log(msg: str, quiet: bool, info: dist.DistInfo) -> None:
    if info.is_main and not quiet:
        print(msg, file=sys.stderr, flush=True)


def _train(cfg: RunConfig, x_train_np: np.ndarray, x_val_np: np.ndarray | None, run_dir: Path | None,
           resume: bool, quiet: bool, info: dist.DistInfo, device: torch.device, meta: dict[str, Any],
           max_steps: int | None) -> TrainResult:
    tc = cfg.train
    torch.manual_seed(tc.seed)  # identical initial weights on every rank
    model = build_model(cfg.model).to(device)
    opt = _optimizer(model, tc)
    state: dict[str, Any] = {"epoch": 0, "step": 0, "sums": {}, "seen": 0, "best_val": None, "bad_epochs": 0,
                             "train_time_s": 0.0}
    history: list[dict[str, Any]] = []
    if resume:
        assert run_dir is not None
        state, history = _restore(run_dir, cfg, model, opt, device)
        _log(f"resuming {run_dir} at epoch {state['epoch'] + 1}, step {state['step']}", quiet, info)
    torch.manual_seed(tc.seed + 7919 * info.rank + 104729 * state["epoch"])
    if resume and info.world_size == 1 and state.get("rng") is not None:
        torch.set_rng_state(state.pop("rng"))
    state.pop("rng", None)

    x_train = _as_tensor(x_train_np, device)
    x_val = _as_tensor(x_val_np, device) if x_val_np is not None else None
    loss_module: nn.Module = _LossModule(model)
    if info.enabled:
        loss_module = nn.parallel.DistributedDataParallel(
            loss_module, device_ids=[device.index] if device.type == "cuda" else None)
    if tc.compile:
        loss_module = torch.compile(loss_module)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")
    run_meta = {**meta, "seed": tc.seed, "device": str(device), "world_size": info.world_size,
                "started": datetime.now(UTC).isoformat(timespec="seconds")}
    n, steps_done, status = len(x_train), 0, "finished"
    model.train()

    with _stop_on_signals() as stop:
        while state["epoch"] < tc.epochs and status == "finished":
            epoch = state["epoch"]
            for group in opt.param_groups:
                group["lr"] = _lr_at(tc, epoch)
            perm = torch.randperm(n, generator=torch.Generator().manual_seed(tc.seed * 1_000_003 + epoch))
            perm = perm.to(device)
            sums = {k: torch.tensor(v, device=device) for k, v in state["sums"].items()}
            seen = state["seen"]
            t0, t_last = time.perf_counter(), 0.0
            # disable=None lets tqdm switch itself off when stderr is not a terminal (logs stay readable).
            bar = tqdm(total=n, initial=min(n, state["step"] * tc.batch_size), unit="img", leave=False,
                       desc=f"epoch {epoch + 1}/{tc.epochs}", disable=True if quiet or not info.is_main else None,
                       dynamic_ncols=True)
            step = state["step"]
            for batch_step, idx in _batches(n, tc.batch_size, info.rank, info.world_size, perm, state["step"]):
                step = batch_step
                halt = stop.is_set() or (max_steps is not None and steps_done >= max_steps)
                if info.enabled:
                    # Ranks must agree to stop at the same step; a collective every 10 steps keeps that cheap.
                    halt = (step % 10 == 0) and dist.broadcast_flag(halt, device)
                if halt:
                    status = "interrupted"
                    break
                # index_select copies whole rows; x[idx] goes through the generic gather, ~8x slower on a CPU.
                xb = _to_float(x_train.index_select(0, idx))
                with autocast:
                    out = loss_module(corrupt(xb, tc.noise), xb)
                opt.zero_grad(set_to_none=True)
                out["loss"].backward()
                if tc.grad_clip > 0:
                    nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
                opt.step()
                steps_done += 1
                for k, v in out.items():
                    sums[k] = sums.get(k, torch.zeros((), device=device)) + v.detach().float() * len(idx)
                seen += len(idx)
                bar.update(len(idx) * info.world_size)
                now = time.perf_counter()
                if now - t_last > 0.5 and bar.n < n:
                    t_last = now
                    running = float(sums["loss"]) / max(seen, 1)
                    _check_finite(running, epoch, run_dir)
                    bar.set_postfix(loss=f"{running:.4g}", refresh=False)
            else:
                step = math.ceil(n / tc.batch_size)
            bar.close()
            elapsed = time.perf_counter() - t0
            state["train_time_s"] += elapsed
            if status == "interrupted":
                state.update(step=step, seen=seen, sums={k: float(v) for k, v in sums.items()},
                             rng=torch.get_rng_state())
                break
            keys = sorted(sums)
            totals = dist.all_reduce_sum(torch.stack([sums[k] for k in keys] + [torch.tensor(float(seen),
                                                                                           device=device)]))
            count = float(totals[-1])
            train_terms = {k: float(v) / count for k, v in zip(keys, totals[:-1].tolist(), strict=True)}
            _check_finite(train_terms["loss"], epoch, run_dir)
            val_terms = evaluate_loss(model, x_val, tc, info) if x_val is not None and len(x_val) else None
            if val_terms is not None:
                _check_finite(val_terms["loss"], epoch, run_dir)
            samples = n - min(n, state["step"] * tc.batch_size)
            record = {"epoch": epoch + 1, "train": train_terms, "val": val_terms, "lr": _lr_at(tc, epoch),
                      "samples_per_s": samples / elapsed if elapsed > 0 else 0.0, "time_s": elapsed}
            history.append(record)
            watched = (val_terms or train_terms)["loss"]
            if state["best_val"] is None or watched < state["best_val"]:
                state["best_val"], state["bad_epochs"] = watched, 0
            else:
                state["bad_epochs"] += 1
            state.update(epoch=epoch + 1, step=0, seen=0, sums={})
            if tc.patience and state["bad_epochs"] >= tc.patience and state["epoch"] < tc.epochs:
                status = "early-stopped"
            _log(_summary(record, tc.epochs), quiet, info)
            if info.is_main and run_dir is not None:
                _checkpoint(run_dir, cfg, model, opt, state, history, run_meta, status, rng=torch.get_rng_state())
    if status == "interrupted" and info.is_main and run_dir is not None:
        _checkpoint(run_dir, cfg, model, opt, state, history, run_meta, status, rng=state.pop("rng"))
        _log(f"interrupted: checkpoint saved; continue with `latentlab train --resume {run_dir}`", quiet, info)
    model.eval()
    return TrainResult(run_dir, model, history, status)


def _summary(r: dict[str, Any], epochs: int) -> str:
    terms = " ".join(f"{k}={v:.4g}" for k, v in r["train"].items())
    val = " ".join(f"{k}={v:.4g}" for k, v in (r["val"] or {}).items())
    return (f"epoch {r['epoch']}/{epochs}  train {terms}" + (f"  val {val}" if val else "")
            + f"  {r['samples_per_s']:,.0f} img/s  {r['time_s']:.1f}s")


def _check_finite(value: float, epoch: int, run_dir: Path | None) -> None:
    if not math.isfinite(value):
        kept = f"the last good checkpoint is kept in {run_dir}" if run_dir is not None else "nothing was saved"
        raise TrainingError(f"loss became {value} in epoch {epoch + 1}: training stopped and {kept}; "
                            "lower --lr or set a gradient clip (train.grad_clip)")


def _checkpoint(run_dir: Path, cfg: RunConfig, model: nn.Module, opt: torch.optim.Optimizer,
                state: dict[str, Any], history: list[dict[str, Any]], meta: dict[str, Any], status: str,
                rng: Tensor) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / HISTORY, "".join(_json_line(r) for r in history))
    meta = {**meta, "status": status, "epochs_done": state["epoch"],
            "updated": datetime.now(UTC).isoformat(timespec="seconds"), "train_time_s": state["train_time_s"]}
    save_checkpoint(run_dir, cfg, model, opt, state, meta, rng_state=rng)


def _json_line(record: dict[str, Any]) -> str:
    return json.dumps(record) + "\n"


def _restore(run_dir: Path, cfg: RunConfig, model: nn.Module, opt: torch.optim.Optimizer,
             device: torch.device) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    run = load_run(run_dir, device=device)
    if run.config.model != cfg.model:
        raise TrainingError(f"cannot resume {run_dir}: its model config differs from the requested one; "
                            "resume without changing the architecture")
    model.load_state_dict(run.model.state_dict())
    meta = read_json(run_dir / META)
    load_optimizer_tensors(opt, verify_file(run_dir, OPTIMIZER, meta))
    state = read_json(run_dir / STATE)
    state["rng"] = load_file(str(run_dir / OPTIMIZER)).get("rng.cpu")
    history = read_history(run_dir)[: state["epoch"]]
    if len(history) != state["epoch"]:
        raise RunError(f"{run_dir / HISTORY} has {len(history)} epochs but the checkpoint is at epoch "
                       f"{state['epoch']}; the run is inconsistent, start a new one")
    return state, history
