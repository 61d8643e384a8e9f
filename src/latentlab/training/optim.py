"""Optimizers and learning-rate schedules, each a registry: adding one is adding one entry."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from latentlab.config import TrainConfig
from latentlab.errors import choose

OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}


def _constant(lr: float, epoch: int, epochs: int) -> float:
    return lr


def _cosine(lr: float, epoch: int, epochs: int) -> float:
    return lr * 0.5 * (1.0 + math.cos(math.pi * epoch / epochs))


def _step(lr: float, epoch: int, epochs: int) -> float:
    return lr * 0.1 ** (epoch // max(1, epochs // 3))


# name -> lr(base_lr, 0-based epoch, total epochs). Stateless, so resuming needs nothing beyond the epoch number.
SCHEDULES: dict[str, Callable[[float, int, int], float]] = {"none": _constant, "cosine": _cosine, "step": _step}


def _lookup(registry: dict, field: str, name: str):  # noqa: ANN202 - the registry's own value type
    return choose(registry, name, field)


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """The optimizer `cfg.optimizer` over `model`'s parameters, fused where the build supports it."""
    cls = _lookup(OPTIMIZERS, "train.optimizer", cfg.optimizer)
    params = list(model.parameters())
    try:
        # The fused kernel updates each tensor in one pass instead of ~10 small ops: on a CPU that is a third
        # of a small model's step. Same update rule; builds without it for this device raise, so fall back.
        return cls(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
    except (RuntimeError, TypeError):
        return cls(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def lr_at(cfg: TrainConfig, epoch: int) -> float:
    """Learning rate of 0-based `epoch` under `cfg.schedule`."""
    return _lookup(SCHEDULES, "train.schedule", cfg.schedule)(cfg.lr, epoch, cfg.epochs)
