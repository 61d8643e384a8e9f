"""Does a model, or a file of weights, match a `ModelConfig`? The answers name config fields, so that a run whose
weights and config.json disagree is refused when it is written (`fit`) and explained when it is read (`load_run`).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from latentlab.config import ModelConfig
from latentlab.models.base import LatentModel

# Config fields a built model keeps as plain attributes, compared one by one before the layers are.
_ATTRIBUTES = ("latent_dim", "image_shape", "likelihood", "beta", "iwae_samples", "commitment", "mmd_weight")


def reference_model(cfg: ModelConfig) -> LatentModel:
    """The model `cfg` builds, on the meta device: its classes and shapes without memory or the RNG."""
    from latentlab.models import build_model  # the registry imports this module's package

    with torch.device("meta"):
        return build_model(cfg)


def shape_differences(expected: Mapping[str, torch.Tensor], got: Mapping[str, torch.Tensor],
                      what: tuple[str, str] = ("the model", "cfg.model")) -> list[str]:
    """'NAME has shape A in <got>, B from <expected>' for each tensor whose shape differs, and the names only one
    side has; empty when the two state dicts have the same names and shapes."""
    mine, theirs = what
    out = [f"{k} has shape {list(got[k].shape)} in {mine}, {list(expected[k].shape)} from {theirs}"
           for k in expected if k in got and tuple(got[k].shape) != tuple(expected[k].shape)]
    missing = [k for k in expected if k not in got]
    extra = sorted(k for k in got if k not in expected)  # a file's names: sorted, whatever order it kept
    if missing:
        out.append(f"{mine} lacks {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}")
    if extra:
        out.append(f"{mine} has {', '.join(extra[:3])}{' ...' if len(extra) > 3 else ''} that {theirs} does not")
    return out


def model_differences(model: nn.Module, cfg: ModelConfig) -> list[str]:
    """'model.FIELD: model has X, cfg.model says Y' for each way `model` differs from the model `cfg` builds (its
    class, then its attributes, then its layers' shapes, which is where `hidden` and `encoder` show); empty when
    it matches."""
    ref = reference_model(cfg)
    if type(model) is not type(ref):
        return [f"model.kind: model is a {type(model).__name__}, cfg.model says {cfg.kind!r} "
                f"(a {type(ref).__name__})"]
    out = []
    for name in _ATTRIBUTES:
        mine, said = _norm(getattr(model, name, None)), _norm(getattr(cfg, name))
        if hasattr(ref, name) and mine != said:
            out.append(f"model.{name}: model has {mine!r}, cfg.model says {said!r}")
    if out:
        return out
    layers = shape_differences(ref.state_dict(), model.state_dict())
    if layers:
        fields = "model.hidden" + (f" or model.encoder (now {cfg.encoder!r})" if cfg.kind != "dense" else "")
        out.append(f"{fields}: the model's layers differ from those cfg.model builds (hidden {list(cfg.hidden)}): "
                   f"{'; '.join(layers[:2])}")
    return out


def _norm(value: object) -> object:
    return tuple(value) if isinstance(value, list | tuple) else value
