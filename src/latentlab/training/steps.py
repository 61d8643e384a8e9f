"""Batches, tensors and signals for the training loop, and the validation pass."""

from __future__ import annotations

import contextlib
import math
import signal
import threading
from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor, nn

from latentlab.config import TrainConfig
from latentlab.training import dist
from latentlab.training.noise import corrupt


def batches(n: int, batch_size: int, rank: int, world: int, perm: Tensor, start: int) -> Iterator[tuple[int, Tensor]]:
    for step in range(start, math.ceil(n / batch_size)):
        # Every rank holds the same permutation; each takes its slice of the global batch.
        yield step, torch.tensor_split(perm[step * batch_size:(step + 1) * batch_size], world)[rank]


def stored_shape(x: np.ndarray) -> tuple[int, ...]:
    """(channels, height, width) of images stored (N, H, W) or (N, H, W, 3); () for anything else."""
    if x.ndim == 3:
        return 1, *x.shape[1:]
    return (3, *x.shape[1:3]) if x.ndim == 4 and x.shape[3] == 3 else ()


def as_tensor(x: np.ndarray, device: torch.device) -> Tensor:
    """uint8 images as stored, (N, H, W) or (N, H, W, 3), on `device`, still uint8: a quarter of float32's memory."""
    # Read-only arrays (np.frombuffer, memory maps) are copied once: torch wants writable memory.
    return torch.from_numpy(np.require(x, np.uint8, ["C", "W"])).to(device)


def to_float(xb: Tensor) -> Tensor:
    """A uint8 batch (B, H, W) or (B, H, W, 3) -> float32 (B, C, H, W) in [0, 1]. Colour stays channels-last in
    memory (a permuted view, then converted): the layout the conv models' weights use, so no copy is made twice."""
    xb = xb.unsqueeze(1) if xb.ndim == 3 else xb.permute(0, 3, 1, 2)
    return xb.to(torch.float32).div_(255.0)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
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
def evaluate_loss(model: nn.Module, x: Tensor, cfg: TrainConfig, info: dist.DistInfo, y: Tensor | None = None
                  ) -> dict[str, float]:
    """Mean loss terms over uint8 images `x` (with labels `y` for a conditional model), sharded over ranks and
    summed across them."""
    model.eval()
    shard = torch.tensor_split(torch.arange(len(x), device=x.device), info.world_size)[info.rank]
    # A fixed generator: validation noise is the same every epoch, so the curve measures the model only.
    gen = torch.Generator(device=x.device).manual_seed(cfg.seed + 1)
    sums: dict[str, Tensor] = {}
    for idx in shard.split(cfg.eval_batch_size):
        xb = to_float(x.index_select(0, idx))
        noisy = corrupt(xb, cfg.noise, gen)
        out = model.loss(noisy, xb) if y is None else model.loss(noisy, xb, y=y.index_select(0, idx))
        for k, v in out.items():
            sums[k] = sums.get(k, torch.zeros((), device=x.device)) + v.detach().float() * len(idx)
    model.train()
    keys = sorted(sums)
    total = dist.all_reduce_sum(torch.stack([sums[k] for k in keys]))
    return {k: float(v) / len(x) for k, v in zip(keys, total.tolist(), strict=True)}
