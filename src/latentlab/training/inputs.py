"""What `fit` and `train` accept, checked before anything is trained or saved: the config (a `RunConfig` or its
dict), the model (one the config describes, since the run directory will be rebuilt from the config) and the
images (uint8 0..255 or float in [0, 1], as everywhere else in latentlab)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from latentlab.config import RunConfig
from latentlab.data.npz import non_finite_places
from latentlab.errors import ConfigError, TrainingError
from latentlab.images import stored_shape, to_uint8
from latentlab.models import LatentModel
from latentlab.models.check import model_differences


def as_config(cfg: Any) -> RunConfig:
    """`cfg` as a `RunConfig`: one already, or a dict of its fields as `RunConfig.to_dict` writes them, nested
    ({"train": {"epochs": 3}}); fields it leaves out take their defaults."""
    if isinstance(cfg, RunConfig):
        return cfg
    if isinstance(cfg, dict):
        with warnings.catch_warnings():  # a dict of only the fields one wants is the point: defaults fill the rest
            warnings.simplefilter("ignore", UserWarning)
            return RunConfig.from_dict(cfg)
    raise TypeError(f"cfg must be a latentlab.RunConfig (or a dict of its fields, as RunConfig.to_dict() gives), got "
                    f"{type(cfg).__name__}; e.g. latentlab.preset_config('mnist-simple')")


def check_model(model: Any, cfg: RunConfig, run_dir: Path | None) -> None:
    """TypeError for a module without the model contract; ConfigError naming each `cfg.model` field the model
    contradicts (a run directory is rebuilt from cfg.model, so weights of another shape would not load)."""
    if not isinstance(model, nn.Module) or not callable(getattr(model, "loss", None)):
        raise TypeError(f"fit needs a latentlab model, e.g. latentlab.build_model(cfg.model), or an nn.Module with "
                        f"the same contract (loss(x, target) -> dict with a 'loss' tensor, encode, decode); got "
                        f"{type(model).__name__}, which has no loss method")
    if isinstance(model, LatentModel):
        differences = model_differences(model, cfg.model)
        if differences:
            raise ConfigError(f"the model does not match cfg.model ({'; '.join(differences)}); build it with "
                              f"latentlab.build_model(cfg.model), or change cfg.model to describe it "
                              f"(latentlab.train(cfg, ...) builds the model for you)", field="model")
    elif run_dir is not None:
        raise ConfigError(f"run_dir={str(run_dir)!r}: a run directory holds a model latentlab rebuilds from "
                          f"cfg.model, and a {type(model).__name__} is not one of latentlab.MODELS; pass "
                          "run_dir=None to train it without saving, or add its kind to latentlab.MODELS",
                          field="run_dir", value=str(run_dir))


def as_images(x: Any, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """uint8 images stored as `shape` (channels, height, width) asks: uint8 as they are, floats in [0, 1] scaled to
    0..255. TrainingError names `name`, the shape wanted and what was given."""
    x = np.asarray(x)
    c, h, w = shape
    stored = f"(N, {h}, {w})" if c == 1 else f"(N, {h}, {w}, 3)"
    if np.issubdtype(x.dtype, np.floating) and x.size:
        bad = int(np.count_nonzero(~np.isfinite(x)))
        if bad:
            raise TrainingError(f"{name} holds {bad:,} NaN or infinite values, at {non_finite_places(x)}; images are "
                                f"uint8 0..255 or floats in [0, 1]: replace them (e.g. np.nan_to_num({name}))",
                                field=name)
        lo, hi = float(x.min()), float(x.max())
        if not (lo >= 0.0 and hi <= 1.0):
            raise TrainingError(f"{name} holds floats in [{lo:g}, {hi:g}]; images are uint8 0..255 or floats in "
                                f"[0, 1]: scale {name} to one of those", field=name)
        x = to_uint8(x)
    elif np.issubdtype(x.dtype, np.integer) and x.dtype != np.uint8 and x.size:
        lo, hi = int(x.min()), int(x.max())
        if not (lo >= 0 and hi <= 255):
            raise TrainingError(f"{name} holds integers in [{lo}, {hi}]; images are uint8 0..255 or floats in "
                                f"[0, 1]: scale {name} into 0..255", field=name)
        x = x.astype(np.uint8)  # integers 0..255 of a wider type, as .npz files are taken
    if stored_shape(x) != shape or x.dtype != np.uint8 or len(x) == 0:
        raise TrainingError(f"{name} must be uint8 images {stored} (or floats in [0, 1]) with N > 0 for this model "
                            f"(image_shape {shape}), got {x.dtype} {x.shape}; build the model for the data's shape "
                            f"(train() does)", field=name, value=np.shape(x))
    return x


def as_labels(model: nn.Module, y_train: np.ndarray | None, n_train: int, y_val: np.ndarray | None, n_val: int
            ) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(y_train, y_val) as int64 arrays for a conditional model, (None, None) for any other; ConfigError when a
    conditional model lacks them, or they do not match the images in number or range."""
    if not getattr(model, "conditional", False):
        return None, None
    n_classes = int(getattr(model, "n_classes", 0))
    out = []
    for name, y, n in (("y_train", y_train, n_train), ("y_val", y_val, n_val)):
        if y is None:
            if name == "y_val" and not n:
                out.append(None)
                continue
            raise ConfigError(f"{name} is missing: a conditional model ({type(model).__name__}) trains on class "
                              f"labels; pass {name} (N,) integers in [0, {n_classes}) beside the images", field=name)
        y = np.asarray(y).astype(np.int64).reshape(-1)
        if len(y) != n or (len(y) and (y.min() < 0 or y.max() >= n_classes)):
            raise ConfigError(f"{name} must hold {n} labels in [0, {n_classes}) (model.n_classes), one per image; got "
                              f"{len(y)} in [{y.min() if len(y) else '-'}, {y.max() if len(y) else '-'}]",
                              field=name, related=("model.n_classes",))
        out.append(y)
    return out[0], out[1]
