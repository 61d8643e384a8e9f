"""Input corruptions for denoising: any autoencoder becomes a denoising one by training on corrupted inputs."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from latentlab.config import NoiseConfig
from latentlab.errors import choose
from latentlab.images import to_float, to_uint8_images


def _gaussian(x: Tensor, factor: float, g: torch.Generator | None) -> Tensor:
    # The classic example: x + factor * N(0, 1), clipped back into the valid pixel range.
    noise = torch.randn(x.shape, generator=g, device=x.device, dtype=x.dtype)
    return (x + factor * noise).clamp_(0.0, 1.0)


def _salt_pepper(x: Tensor, factor: float, g: torch.Generator | None) -> Tensor:
    u = torch.rand(x.shape, generator=g, device=x.device, dtype=x.dtype)
    out = x.clone()
    out[u < factor / 2] = 0.0
    out[(u >= factor / 2) & (u < factor)] = 1.0
    return out


def _mask(x: Tensor, factor: float, g: torch.Generator | None) -> Tensor:
    keep = torch.rand(x.shape, generator=g, device=x.device, dtype=x.dtype) >= factor
    return x * keep


def _none(x: Tensor, factor: float, g: torch.Generator | None) -> Tensor:
    return x


NOISES: dict[str, Callable[[Tensor, float, torch.Generator | None], Tensor]] = {
    "none": _none,
    "gaussian": _gaussian,
    "salt_pepper": _salt_pepper,
    "mask": _mask,
}


def corrupt(x: Tensor, noise: NoiseConfig, generator: torch.Generator | None = None) -> Tensor:
    """A corrupted copy of `x` (values in [0, 1]); `x` itself is returned untouched when noise is off."""
    if noise.factor == 0:
        return x
    return choose(NOISES, noise.kind, "train.noise.kind")(x, noise.factor, generator)


def noisy_images(x: np.ndarray, noise: NoiseConfig, seed: int = 0) -> np.ndarray:
    """The noisy input, one definition for metrics.json, the figures and the web page: uint8 images (grey or colour,
    as stored) corrupted by `noise` from a generator seeded `seed`, and rounded back to uint8 (`images.to_uint8`),
    so what is shown is exactly what the model was given."""
    return to_uint8_images(corrupt(to_float(x), noise, torch.Generator().manual_seed(seed)))
