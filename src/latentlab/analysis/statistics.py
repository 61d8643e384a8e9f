"""Per-image statistics behind the novelty scores: model terms, latent codes and compressed size."""

from __future__ import annotations

import hashlib
import zlib

import numpy as np
import torch
from torch import nn

from latentlab.analysis.inference import BATCH, per_image
from latentlab.errors import RunError
from latentlab.images import as_uint8_images
from latentlab.runs import images_sha256

LN2 = float(np.log(2.0))


def complexity_bits(x: np.ndarray) -> np.ndarray:
    """L(x) of Serra et al. (2020): bits of each image's raw bytes (H*W, or H*W*3 interleaved) compressed by zlib at
    level 9.

    zlib on the raw bytes rather than PNG: no per-image container overhead (about 10,000 images/s on one
    core against about 1,000 for Pillow's PNG encoder) and the same ranking of simple and busy images.
    """
    images = as_uint8_images(x)
    return np.fromiter((8 * len(zlib.compress(img.tobytes(), 9)) for img in images), np.float64, len(images))


def model_statistics(model: nn.Module, x: np.ndarray, batch_size: int = BATCH) -> dict[str, np.ndarray]:
    """One pass of the model over images: its per-image terms at the code (a VAE's posterior mean) with no sampling
    anywhere, so each image's statistics depend on that image alone, whatever batch it sits in, up to the float32
    rounding of the batch's size (at most 3.4e-6 relative, measured: BLAS picks other kernels): "code" (N, d)
    float32, "bce" (nats per image), "mse" (per pixel) and, for models with a posterior, "kl" (nats), float64."""
    return require_finite(per_image(model, as_uint8_images(x), batch_size, seed=None))


def require_finite(terms: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """`terms` unchanged if every value is finite; else a RunError that says the model itself produces NaN or inf
    (scikit-learn would otherwise fail later with a long message about its own inputs)."""
    for key, values in terms.items():
        bad = ~np.isfinite(values)
        if bad.any():
            rows = np.flatnonzero(bad.reshape(len(values), -1).any(1))
            raise RunError(f"the model produces NaN or inf ({key} of {len(rows):,} of {len(values):,} images, the "
                           f"first at index {rows[0]}): its weights are broken, as after a diverged training; "
                           "retrain with a lower learning rate (train.lr) or a gradient clip (train.grad_clip)",
                           field="train.lr", related=("train.grad_clip",))
    return terms


def model_fingerprint(model: nn.Module) -> str:
    """SHA-256 over the model's parameters and buffers: a saved detector is only reused for the same weights."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()


def data_fingerprint(x: np.ndarray) -> str:
    # The same digest as an in-memory run records of its training images (`runs.images_sha256`).
    return images_sha256(x)
