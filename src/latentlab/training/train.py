"""`train(cfg, ...)`: build the model a `RunConfig` describes and `fit` it. Also the device and config checks."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from latentlab.config import RunConfig
from latentlab.errors import ConfigError
from latentlab.models import MODELS, build_model
from latentlab.models.layers import ENCODERS
from latentlab.training import dist
from latentlab.training.fit import EpochCallback, TrainResult, fit
from latentlab.training.inputs import as_config, as_images
from latentlab.training.noise import NOISES
from latentlab.training.optim import OPTIMIZERS, SCHEDULES
from latentlab.training.steps import stored_shape


def check_config(cfg: RunConfig) -> RunConfig:
    """Check the fields that name registry entries against their registries; returns `cfg`. ConfigError names the
    field and lists the registry's names."""
    for field, value, names in (("model.kind", cfg.model.kind, MODELS), ("model.encoder", cfg.model.encoder, ENCODERS),
                                ("train.noise.kind", cfg.train.noise.kind, NOISES),
                                ("train.optimizer", cfg.train.optimizer, OPTIMIZERS),
                                ("train.schedule", cfg.train.schedule, SCHEDULES)):
        if value not in names:
            raise ConfigError(f"{field}={value!r} is invalid: choose one of {', '.join(names)}")
    return cfg


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """`auto` picks cuda, then mps, then cpu; under torchrun each process takes the GPU of its local rank."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank)
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    dev = torch.device(name)
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    mps = torch.backends.mps.is_available()
    if (dev.type == "cuda" and (not gpus or (dev.index or 0) >= gpus)) or (dev.type == "mps" and not mps):
        raise ConfigError(f"device={name!r} is not available on this machine; available: "
                          f"{', '.join(available_devices())}")
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", local_rank)
    return dev


def available_devices() -> list[str]:
    """The device names this machine can train on: auto and cpu, then each CUDA GPU, then mps."""
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    cuda = ["cuda"] + [f"cuda:{i}" for i in range(gpus)] if gpus else []
    return ["auto", "cpu", *cuda, *(["mps"] if torch.backends.mps.is_available() else [])]


def shape_from_data(cfg: RunConfig, x_train: np.ndarray) -> tuple[RunConfig, str]:
    """`cfg` with `model.image_shape` set to the (channels, height, width) of uint8 images `x_train`, and a sentence
    saying so when that changed it (a preset is made for one shape, the data may have another); "" when it fit."""
    shape = stored_shape(np.asarray(x_train))
    if not shape or tuple(shape) == tuple(cfg.model.image_shape):
        return cfg, ""
    new = replace(cfg, model=replace(cfg.model, image_shape=tuple(shape)))
    return new, (f"model.image_shape set to {tuple(shape)} from the data (the "
                 f"{'preset ' + cfg.preset if cfg.preset else 'config'} said {tuple(cfg.model.image_shape)})")


def train(cfg: RunConfig | dict[str, Any], x_train: np.ndarray, x_val: np.ndarray | None, run_dir: Path | None, *,
          resume: bool = False, quiet: bool = False, info: dist.DistInfo | None = None,
          meta: dict[str, Any] | None = None, max_steps: int | None = None,
          callbacks: tuple[EpochCallback, ...] = (), tensorboard_dir: str | Path | None = None,
          y_val: np.ndarray | None = None, classes: Sequence[str] | None = None,
          y_train: np.ndarray | None = None) -> TrainResult:
    """Build `cfg.model` (weights seeded by `cfg.train.seed`, identical on every rank) and `fit` it on images
    (N, H, W) or (N, H, W, 3), uint8 0..255 or float in [0, 1]; `cfg` may be a `RunConfig` or its dict.
    Checkpoints to `run_dir` every epoch (rank 0 only). See `fit` for the rest.

    `tensorboard_dir` logs the run for TensorBoard (needs the `tensorboard` extra): scalars, reconstructions and
    manifold per epoch, and at the end the codes of `x_val` for the Embedding Projector, labelled by `y_val` and
    named by `classes` (default: `meta["classes"]`) when given. A conditional model (model.kind="cvae") trains on
    the labels `y_train` and validates with `y_val`.
    """
    cfg = check_config(as_config(cfg))
    if tensorboard_dir is not None:
        from latentlab.training.tensorboard import require_tensorboard

        require_tensorboard()  # on every rank, before any of them joins the process group
    info = info or dist.DistInfo()
    # The model is built for the images' shape, (N, H, W) grey or (N, H, W, 3) colour; the run's meta says so.
    cfg, note = shape_from_data(cfg, x_train)
    meta = {**(meta or {}), "image_shape": list(cfg.model.image_shape), **({"image_shape_note": note} if note else {})}
    if note and info.is_main and not quiet:
        print(note, file=sys.stderr, flush=True)
    # Floats in [0, 1] become uint8 here once, for the TensorBoard logger as well as for fit.
    x_train = as_images(x_train, "x_train", cfg.model.image_shape)
    if x_val is not None and len(x_val):
        x_val = as_images(x_val, "x_val", cfg.model.image_shape)
    device = resolve_device(cfg.train.device, info.local_rank)
    dist.init(info, device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.train.seed)
        model = build_model(cfg.model).to(device)
    logger = None
    if tensorboard_dir is not None and info.is_main:
        from latentlab.training.tensorboard import TensorBoardLogger

        shown = x_val if x_val is not None and len(x_val) else x_train
        logger = TensorBoardLogger(tensorboard_dir, shown, y_val if shown is x_val else None,
                                   classes or (meta or {}).get("classes"))
        callbacks = (*callbacks, logger)
    try:
        result = fit(model, x_train, x_val, cfg, run_dir=run_dir, resume=resume, quiet=quiet, device=device,
                     info=info, meta=meta, max_steps=max_steps, callbacks=callbacks, y_train=y_train,
                     y_val=y_val)
        if logger is not None:
            logger.finish(result.model)
    finally:
        if logger is not None:
            logger.close()
    return result
