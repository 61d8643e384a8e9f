"""`train(cfg, ...)`: build the model a `RunConfig` describes and `fit` it. Also the device and config checks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from latentlab.config import RunConfig
from latentlab.errors import ConfigError, TrainingError, choose
from latentlab.images import stored_shape
from latentlab.models import MODELS, build_model
from latentlab.models.layers import ENCODERS
from latentlab.progress import say
from latentlab.training import dist
from latentlab.training.fit import Callback, EpochCallback, TrainResult, fit
from latentlab.training.inputs import as_config, as_images
from latentlab.training.noise import NOISES
from latentlab.training.optim import OPTIMIZERS, SCHEDULES


def check_config(cfg: RunConfig) -> RunConfig:
    """Check the fields that name registry entries against their registries.

    Parameters
    ----------
    cfg : RunConfig
        The config to check (model.kind, model.encoder, train.noise.kind, train.optimizer, train.schedule).

    Returns
    -------
    RunConfig
        `cfg` itself.

    Raises
    ------
    ConfigError
        Names the field and lists the registry's names.
    """
    for field, value, names in (("model.kind", cfg.model.kind, MODELS), ("model.encoder", cfg.model.encoder, ENCODERS),
                                ("train.noise.kind", cfg.train.noise.kind, NOISES),
                                ("train.optimizer", cfg.train.optimizer, OPTIMIZERS),
                                ("train.schedule", cfg.train.schedule, SCHEDULES)):
        choose(names, value, field)
    return cfg


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """The torch device a device name means on this machine.

    Parameters
    ----------
    name : str
        "auto" (cuda, then mps, then cpu), "cpu", "cuda", "cuda:N" or "mps".
    local_rank : int, default 0
        Under torchrun, the process's local rank: "auto" and "cuda" take that GPU.

    Returns
    -------
    torch.device
        The device to train on.

    Raises
    ------
    ConfigError
        The device is not available here, listing those that are.
    """
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
                          f"{', '.join(available_devices())}",
                          field="device", value=name, allowed=tuple(available_devices()))
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", local_rank)
    return dev


def available_devices() -> list[str]:
    """The device names this machine can train on: auto and cpu, then each CUDA GPU, then mps."""
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    cuda = ["cuda"] + [f"cuda:{i}" for i in range(gpus)] if gpus else []
    return ["auto", "cpu", *cuda, *(["mps"] if torch.backends.mps.is_available() else [])]


def shape_from_data(cfg: RunConfig, x_train: np.ndarray) -> tuple[RunConfig, str]:
    """Fit a config's image shape to the data it will train on.

    Parameters
    ----------
    cfg : RunConfig
        The config (a preset's shape is its data set's).
    x_train : numpy.ndarray
        uint8 images, (N, H, W) or (N, H, W, 3).

    Returns
    -------
    cfg : RunConfig
        `cfg` with `model.image_shape` the images' (channels, height, width).
    note : str
        A sentence saying so when that changed the shape; "" when it fit.
    """
    shape = stored_shape(np.asarray(x_train))
    if not shape or tuple(shape) == tuple(cfg.model.image_shape):
        return cfg, ""
    new = replace(cfg, model=replace(cfg.model, image_shape=tuple(shape)))
    return new, (f"model.image_shape set to {tuple(shape)} from the data (the "
                 f"{'preset ' + cfg.preset if cfg.preset else 'config'} said {tuple(cfg.model.image_shape)})")


def train(cfg: RunConfig | dict[str, Any], x_train: np.ndarray, x_val: np.ndarray | None, run_dir: Path | None, *,
          resume: bool = False, quiet: bool = False, info: dist.DistInfo | None = None,
          meta: dict[str, Any] | None = None, max_steps: int | None = None,
          callbacks: Sequence[Callback | EpochCallback] = (), allow_data_change: bool = False,
          y_train: np.ndarray | None = None, y_val: np.ndarray | None = None) -> TrainResult:
    """Build `cfg.model` and `fit` it on images; the usual way to train.

    The weights are seeded by `cfg.train.seed`, identically on every rank; the model is built for the images'
    shape (`shape_from_data`).

    Parameters
    ----------
    cfg : RunConfig or dict
        The run config (a preset's, or its dict).
    x_train : numpy.ndarray
        Training images, (N, H, W) or (N, H, W, 3), uint8 0..255 or float in [0, 1].
    x_val : numpy.ndarray or None
        Validation images of the same shape, or None.
    run_dir : Path or None
        Where to write the run directory (rank 0 only); None trains without saving.
    resume : bool, default False
        Continue the run in `run_dir`.
    quiet : bool, default False
        No progress bar or per-epoch lines.
    info : latentlab.training.dist.DistInfo, optional
        The torchrun process group (default: from the environment).
    meta : dict, optional
        Extra entries for meta.json.
    max_steps : int, optional
        Stop as if interrupted after that many optimizer steps.
    callbacks : sequence of Callback or EpochCallback, default ()
        Run on rank 0 (a `training.tensorboard.TensorBoardLogger`, say).
    allow_data_change : bool, default False
        Let a resume go on with other training images (see `fit`).
    y_train, y_val : numpy.ndarray, optional
        Class labels of a conditional model (model.kind="cvae"); other models ignore them.

    Returns
    -------
    TrainResult
        The trained model, its history and how training ended.

    Raises
    ------
    ConfigError
        An invalid config or unknown registry name.
    TrainingError
        No training images, images that are not uint8 / [0, 1] floats, a non-finite loss, a resume that does not
        fit (and the errors of `fit`).
    """
    cfg = check_config(as_config(cfg))
    if not len(x_train):
        raise TrainingError(f"x_train holds no images (shape {np.shape(x_train)}): training needs at least one",
                            field="x_train", value=np.shape(x_train))
    info = info or dist.DistInfo()
    # The model is built for the images' shape, (N, H, W) grey or (N, H, W, 3) colour; the run's meta says so.
    cfg, note = shape_from_data(cfg, x_train)
    meta = {**(meta or {}), "image_shape": list(cfg.model.image_shape), **({"image_shape_note": note} if note else {})}
    say(bool(note and info.is_main and not quiet), note)
    # Floats in [0, 1] become uint8 here once.
    x_train = as_images(x_train, "x_train", cfg.model.image_shape)
    if x_val is not None and len(x_val):
        x_val = as_images(x_val, "x_val", cfg.model.image_shape)
    device = resolve_device(cfg.train.device, info.local_rank)
    dist.init(info, device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.train.seed)
        model = build_model(cfg.model).to(device)
    return fit(model, x_train, x_val, cfg, run_dir=run_dir, resume=resume, quiet=quiet, device=device, info=info,
               meta=meta, max_steps=max_steps, callbacks=callbacks, allow_data_change=allow_data_change,
               y_train=y_train, y_val=y_val)
