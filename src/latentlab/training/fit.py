"""`fit(model, x_train, x_val, cfg)`: the training loop, generic over any model honouring the contract
(`loss(x, target) -> dict` with a "loss" key), single process or torch DDP.

Data stay uint8 on the device; each epoch is one permutation and batches are sliced from it, so the hot loop
does no per-sample Python work. Loss terms are summed on the device and read once per epoch (or when the
progress bar refreshes), which avoids a host sync per step on a GPU.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm

from latentlab import threads
from latentlab.config import RunConfig
from latentlab.errors import ConfigError, TrainingError
from latentlab.images import stored_shape
from latentlab.progress import say
from latentlab.runs import IN_MEMORY, images_sha256
from latentlab.training import dist
from latentlab.training.callbacks import Callback, EpochCallback, PrintEpochs, as_callbacks
from latentlab.training.inputs import as_config, as_images, as_labels, check_model
from latentlab.training.noise import corrupt
from latentlab.training.optim import build_optimizer, lr_at
from latentlab.training.state import TrainState, checkpoint, last_checkpoint, restore, resumed_meta, writing
from latentlab.training.steps import FlushSubnormals, as_tensor, batches, evaluate_loss, stop_on_signals, to_float

__all__ = ["Callback", "EpochCallback", "TrainResult", "fit", "loss_units"]


@dataclass
class TrainResult:
    """What `fit` and `train` return.

    Parameters
    ----------
    run_dir : Path or None
        The run directory written, or None when training was not saved.
    model : torch.nn.Module
        The trained model (unwrapped from DDP and torch.compile), on the training device.
    history : list of dict
        One record per epoch, as in history.jsonl: "epoch", "train" and "val" loss terms, "lr", "samples_per_s",
        "time_s".
    status : str
        "finished", "early-stopped" or "interrupted".
    """
    run_dir: Path | None
    model: nn.Module
    history: list[dict[str, Any]]
    status: str  # "finished", "early-stopped", "interrupted"


class _LossModule(nn.Module):
    # DDP and torch.compile hook `forward`; the models expose their objective as `loss`, so route it here.
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor, target: Tensor, y: Tensor | None = None) -> dict[str, Tensor]:
        return self.model.loss(x, target) if y is None else self.model.loss(x, target, y=y)


def fit(model: nn.Module, x_train: np.ndarray, x_val: np.ndarray | None, cfg: RunConfig | dict[str, Any], *,
        run_dir: Path | None = None, resume: bool = False, quiet: bool = False, device: torch.device | None = None,
        info: dist.DistInfo | None = None, meta: dict[str, Any] | None = None, max_steps: int | None = None,
        callbacks: Sequence[Callback | EpochCallback] = (), allow_data_change: bool = False,
        y_train: np.ndarray | None = None, y_val: np.ndarray | None = None) -> TrainResult:
    """Train any model that honours the `LatentModel` contract.

    Images are kept uint8 on the device; each batch is made float on its own. `cfg.train` sets the optimisation;
    `cfg` as a whole is written beside the weights when `run_dir` is given, so that `load_run` can rebuild the model
    (rank 0 checkpoints there after every epoch and on SIGINT/SIGTERM, each checkpoint whole or not at all, and
    holds the run's lock while it writes). The caller's global torch RNG is left as it was. On a CPU, the steps run
    under this process's thread governor (`latentlab.threads`).

    Parameters
    ----------
    model : torch.nn.Module
        The model to train, in place.
    x_train : numpy.ndarray
        Training images, (N, H, W) grey or (N, H, W, 3) colour as `model.image_shape` says, uint8 0..255 or float
        in [0, 1].
    x_val : numpy.ndarray or None
        Validation images of the same shape, measured after every epoch; None or empty for none.
    cfg : RunConfig or dict
        Must describe `model`.
    run_dir : Path, optional
        Where to write the run directory; None trains without saving.
    resume : bool, default False
        Continue the run in `run_dir` from its last checkpoint.
    quiet : bool, default False
        No progress bar or per-epoch lines.
    device : torch.device, optional
        Where to train (default: the device of the model's parameters).
    info : latentlab.training.dist.DistInfo, optional
        The torchrun process group (default: from the environment).
    meta : dict, optional
        Extra entries for meta.json.
    max_steps : int, optional
        Stop as if interrupted after that many optimizer steps.
    callbacks : sequence of Callback or EpochCallback, default ()
        Run on rank 0, after a `PrintEpochs` that prints a line per epoch unless `quiet`.
    allow_data_change : bool, default False
        Let a resume go on with other training images than the run's; recorded in the next epoch's history and
        meta.json's "data_changes".
    y_train, y_val : numpy.ndarray, optional
        Class labels (N,), integers in [0, model.n_classes), for a conditional model (the conditional VAE); other
        models ignore them.

    Returns
    -------
    TrainResult
        The trained model, its history and how training ended.

    Raises
    ------
    ConfigError
        `cfg` contradicts `model` (each field named), `resume` without `run_dir`.
    TypeError
        `cfg` is not a RunConfig or dict, or a module without the model contract.
    RunLockedError
        Another process is writing `run_dir` (its PID and start time named).
    DataChangedError
        A resume with other training images than the run's, without `allow_data_change` (both described).
    CheckpointError
        A checkpoint could not be written (the disk, its free space and the space needed named); the previous one
        is kept.
    TrainingError
        Images not of the model's shape or not uint8 / [0, 1] floats, a non-finite loss, a resume that does not
        fit the run directory.
    """
    cfg = as_config(cfg)
    if resume and run_dir is None:
        raise ConfigError("resume=True needs run_dir, the directory of the run to continue",
                          field="run_dir", related=("resume",))
    shape = tuple(getattr(model, "image_shape", stored_shape(np.asarray(x_train))))
    x = as_images(x_train, "x_train", shape)
    if x_val is not None and len(x_val):
        x_val = as_images(x_val, "x_val", shape)
    check_model(model, cfg, run_dir)
    labels = as_labels(model, y_train, len(x), y_val, 0 if x_val is None else len(x_val))
    info = info or dist.DistInfo()
    device = device or next(model.parameters()).device
    # Without a "data_source" the arrays came from the caller: say so, so that later commands ask for the data set
    # instead of loading cfg.dataset (a default, perhaps) in its place.
    meta = {"data_source": IN_MEMORY, "n_train": len(x), **(meta or {}), "train_images_sha256": images_sha256(x)}
    hooks = ([PrintEpochs(cfg.train.epochs)] if not quiet else []) + as_callbacks(callbacks)
    loop = _Loop(model.to(device), cfg, device, info, quiet, run_dir, hooks if info.is_main else [])
    loop.labels = tuple(None if y is None else torch.as_tensor(y, dtype=torch.long).to(device) for y in labels)
    with torch.random.fork_rng(devices=[]), FlushSubnormals(device), writing(run_dir, info.is_main, loop.log):
        return loop.run(x, x_val, resume, meta, max_steps, allow_data_change)


class _Loop:
    """One training session: the model, its optimizer and where to save; `run` drives the epochs."""

    def __init__(self, model: nn.Module, cfg: RunConfig, device: torch.device, info: dist.DistInfo, quiet: bool,
                 run_dir: Path | None, callbacks: Sequence[Callback]) -> None:
        self.model, self.cfg, self.tc, self.device, self.info = model, cfg, cfg.train, device, info
        self.quiet, self.run_dir, self.callbacks = quiet, run_dir, callbacks
        self.opt = build_optimizer(model, self.tc)
        self.history: list[dict[str, Any]] = []
        self.state = TrainState()
        self.meta: dict[str, Any] = {}
        self.labels: tuple[Tensor | None, Tensor | None] = (None, None)  # (train, val) of a conditional model

    def log(self, msg: str) -> None:
        say(self.info.is_main and not self.quiet, msg)

    def run(self, x_np: np.ndarray, x_val_np: np.ndarray | None, resume: bool, meta: dict[str, Any],
            max_steps: int | None, allow_data_change: bool = False) -> TrainResult:
        tc, info = self.tc, self.info
        rng = None
        self.data_change: dict[str, Any] | None = None
        if resume:
            assert self.run_dir is not None
            self.state, self.history, rng, saved = restore(self.run_dir, self.cfg, self.model, self.opt, self.device,
                                                           meta, allow_data_change)
            done = self.state.epoch  # no more than tc.epochs: `restore` refuses fewer (`check_epochs_left`)
            if done == tc.epochs:  # nothing left to do: say so, not "resuming at epoch N + 1", and write nothing
                self.log(f"{self.run_dir} has done all its {done} epochs; nothing to resume (to train on, resume "
                         f"with more: train.epochs, on the command line latentlab train --resume {self.run_dir} "
                         "--epochs N)")
                self.model.eval()
                status = saved.get("status", "finished")
                return TrainResult(self.run_dir, self.model, self.history,
                                   "finished" if status in ("running", "interrupted") else status)
            self.log(f"resuming {self.run_dir} at epoch {done + 1}, step {self.state.step}")
            meta, self.data_change, note = resumed_meta(self.state.epoch + 1, saved, meta)
            if note:
                self.log(note)
        torch.manual_seed(tc.seed + 7919 * info.rank + 104729 * self.state.epoch)
        if resume and info.world_size == 1 and rng is not None:
            torch.set_rng_state(rng)
        x, x_val = as_tensor(x_np, self.device), None if x_val_np is None else as_tensor(x_val_np, self.device)
        self.loss_module = self._wrap()
        # On a CPU the governor runs the steps on as many threads as are fastest now (`latentlab.threads`).
        self.governor = threads.governor() if self.device.type == "cpu" else None
        self.meta = {**meta, "seed": tc.seed, "device": str(self.device), "world_size": info.world_size,
                     "threads": threads.in_force(), "started": datetime.now(UTC).isoformat(timespec="seconds")}
        self.budget = max_steps
        status = "failed"
        begun: list[Callback] = []
        try:
            for callback in self.callbacks:
                callback.on_train_begin(self.model, self.state.epoch, tc.epochs)
                begun.append(callback)
            status = self._epochs(x, x_val)
        finally:
            for callback in begun:
                callback.on_train_end(self.model, status)
        self.model.eval()
        return TrainResult(self.run_dir, self.model, self.history, status)

    def _epochs(self, x: Tensor, x_val: Tensor | None) -> str:
        """Train the remaining epochs and write the final checkpoint; returns the status the run ended with."""
        status = "running"
        self.model.train()
        try:
            with stop_on_signals() as stop:
                while self.state.epoch < self.tc.epochs and status == "running":
                    status = self._epoch(x, x_val, stop)
        finally:
            if self.governor is not None:
                self.governor.release()
        if status == "running":
            status = "finished"
        if status in ("finished", "early-stopped") and self.history:
            self._save(status)  # the last epoch was saved as "running"; say how the run ended
        if status == "interrupted":
            # What was kept and how to go on is the caller's to say, once: the result's status in Python (resume=True
            # goes on), the command line's last line (`--resume`).
            self._save(status)
        return status

    def _wrap(self) -> nn.Module:
        module: nn.Module = _LossModule(self.model)
        if self.info.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            module = nn.parallel.DistributedDataParallel(module, device_ids=ids)
        return torch.compile(module) if self.tc.compile else module

    def _epoch(self, x: Tensor, x_val: Tensor | None, stop: Any) -> str:
        """Train one epoch (or its rest, after a resume); returns "running", "early-stopped" or "interrupted"."""
        tc, st, n = self.tc, self.state, len(x)
        epoch = st.epoch
        for group in self.opt.param_groups:
            group["lr"] = lr_at(tc, epoch)
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(tc.seed * 1_000_003 + epoch)).to(self.device)
        sums = {k: torch.tensor(v, device=self.device) for k, v in st.sums.items()}
        first_step = st.step
        t0 = time.perf_counter()
        interrupted, step = self._steps(x, perm, sums, first_step, stop)
        seen = st.seen + self._seen
        elapsed = time.perf_counter() - t0
        st.train_time_s += elapsed
        if interrupted:
            st.step, st.seen, st.sums = step, seen, {k: float(v) for k, v in sums.items()}
            return "interrupted"
        record = self._record(epoch, sums, seen, x_val, n - min(n, first_step * tc.batch_size), elapsed)
        if self.data_change is not None:  # the first epoch after a resume on other data says so
            record["data_change"], self.data_change = self.data_change, None
        self.history.append(record)
        watched = (record["val"] or record["train"])["loss"]
        if st.best_val is None or watched < st.best_val:
            st.best_val, st.bad_epochs = watched, 0
        else:
            st.bad_epochs += 1
        st.epoch, st.step, st.seen, st.sums = epoch + 1, 0, 0, {}
        stopped = tc.patience and st.bad_epochs >= tc.patience and st.epoch < tc.epochs
        for callback in self.callbacks:
            callback.on_epoch_end(record, self.model)
        self._save("running")
        return "early-stopped" if stopped else "running"

    def _steps(self, x: Tensor, perm: Tensor, sums: dict[str, Tensor], first: int, stop: Any) -> tuple[bool, int]:
        """The optimizer steps of one epoch from batch `first`; returns (interrupted, the batch it stopped at)."""
        tc, info, n = self.tc, self.info, len(x)
        self._seen = 0
        # disable=None lets tqdm switch itself off when stderr is not a terminal (logs stay readable).
        bar = tqdm(total=n, initial=min(n, first * tc.batch_size), unit="img", leave=False,
                   desc=f"epoch {self.state.epoch + 1}/{tc.epochs}", dynamic_ncols=True,
                   disable=True if self.quiet or not info.is_main else None)
        autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.device.type == "cuda")
        t_last = 0.0
        try:
            for step, idx in batches(n, tc.batch_size, info.rank, info.world_size, perm, first):
                halt = stop.is_set() or (self.budget is not None and self.budget <= 0)
                if info.enabled:
                    # Ranks must agree to stop at the same step; a collective every 10 steps keeps that cheap.
                    halt = (step % 10 == 0) and dist.broadcast_flag(halt, self.device)
                if halt:
                    return True, step
                started = time.perf_counter()
                # index_select copies whole rows; x[idx] goes through the generic gather, ~8x slower on a CPU.
                xb = to_float(x.index_select(0, idx))
                yb = None if self.labels[0] is None else self.labels[0].index_select(0, idx)
                with autocast:
                    out = self.loss_module(corrupt(xb, tc.noise), xb, yb)
                self.opt.zero_grad(set_to_none=True)
                out["loss"].backward()
                if tc.grad_clip > 0:
                    nn.utils.clip_grad_norm_(self.model.parameters(), tc.grad_clip)
                self.opt.step()
                if self.governor is not None:
                    self.governor.step(len(idx), time.perf_counter() - started)
                if self.budget is not None:
                    self.budget -= 1
                for k, v in out.items():
                    sums[k] = sums.get(k, torch.zeros((), device=self.device)) + v.detach().float() * len(idx)
                self._seen += len(idx)
                bar.update(len(idx) * info.world_size)
                now = time.perf_counter()
                if now - t_last > 0.5 and bar.n < n:
                    t_last = now
                    running = float(sums["loss"]) / max(self._seen + self.state.seen, 1)
                    self._check_finite(running, f"epoch {self.state.epoch + 1}, by batch {step + 1}")
                    bar.set_postfix(loss=f"{running:.4g}", refresh=False)
        finally:
            bar.close()
        return False, math.ceil(n / tc.batch_size)

    def _record(self, epoch: int, sums: dict[str, Tensor], seen: int, x_val: Tensor | None, samples: int,
                elapsed: float) -> dict[str, Any]:
        keys = sorted(sums)
        totals = dist.all_reduce_sum(torch.stack([sums[k] for k in keys]
                                                 + [torch.tensor(float(seen), device=self.device)]))
        count = float(totals[-1])
        train_terms = {k: float(v) / count for k, v in zip(keys, totals[:-1].tolist(), strict=True)}
        self._check_finite(train_terms["loss"], f"epoch {epoch + 1} (training loss)")
        val_terms = None
        if x_val is not None and len(x_val):
            val_terms = evaluate_loss(self.model, x_val, self.tc, self.info, self.labels[1])
            self._check_finite(val_terms["loss"], f"epoch {epoch + 1} (validation loss)")
        return {"epoch": epoch + 1, "train": train_terms, "val": val_terms, "lr": lr_at(self.tc, epoch),
                "samples_per_s": samples / elapsed if elapsed > 0 else 0.0, "time_s": elapsed,
                "units": loss_units(self.model)}

    def _check_finite(self, value: float, where: str) -> None:
        if not math.isfinite(value):
            raise TrainingError(f"the loss became {value} in {where}: training stopped and "
                                f"{last_checkpoint(self.run_dir)}; lower the learning rate (train.lr, now "
                                f"{self.tc.lr:g}) or set a gradient clip (train.grad_clip)",
                                field="train.lr", value=self.tc.lr, related=("train.grad_clip",))

    def _save(self, status: str) -> None:
        if self.info.is_main and self.run_dir is not None:
            checkpoint(self.run_dir, self.cfg, self.model, self.opt, self.state, self.history, self.meta, status,
                       rng=torch.get_rng_state())


def loss_units(model: nn.Module) -> str:
    """The unit of a model's "loss".

    Parameters
    ----------
    model : torch.nn.Module
        Any model.

    Returns
    -------
    str
        `LatentModel.loss_units` (a VAE's negative ELBO in nats per image, an autoencoder's BCE or MSE per pixel);
        "loss" for a model that does not say.
    """
    return str(getattr(model, "loss_units", "loss"))

