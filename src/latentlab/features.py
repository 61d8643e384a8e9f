"""Per-image statistics behind the novelty scores: model losses, latent codes and compressed size."""

from __future__ import annotations

import zlib

import numpy as np
import torch
from torch import nn

from latentlab.evaluate import BATCH, batches, bce_per_image, kl_per_image

LN2 = float(np.log(2.0))


def as_images(x: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) from uint8 or [0, 1] float images shaped (N, 28, 28), (N, 1, 28, 28) or (N, 784)."""
    a = np.asarray(x)
    if a.ndim == 2 and a.shape[1] == 784:
        a = a.reshape(-1, 28, 28)
    elif a.ndim == 4 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 3 or a.shape[1:] != (28, 28):
        raise ValueError(f"images must have shape (N, 28, 28), (N, 1, 28, 28) or (N, 784), got {a.shape}")
    if a.dtype == np.uint8:
        return np.ascontiguousarray(a)
    if not np.issubdtype(a.dtype, np.floating):
        raise ValueError(f"images must be uint8 (0..255) or float (0..1), got {a.dtype}")
    if a.size and (np.nanmin(a) < 0 or np.nanmax(a) > 1 or np.isnan(a).any()):
        raise ValueError("float images must lie in [0, 1]; scale them (x / 255) or pass uint8")
    return np.round(a * 255).astype(np.uint8)


def complexity_bits(x: np.ndarray) -> np.ndarray:
    """L(x) of Serra et al. (2020): bits of each image's raw 784 bytes compressed by zlib at level 9.

    zlib on the raw bytes rather than PNG: no per-image container overhead (about 10,000 images/s on one
    core against about 1,000 for Pillow's PNG encoder) and the same ranking of simple and busy images.
    """
    images = as_images(x)
    return np.fromiter((8 * len(zlib.compress(img.tobytes(), 9)) for img in images), np.float64, len(images))


@torch.inference_mode()
def model_statistics(model: nn.Module, x: np.ndarray, batch_size: int = BATCH) -> dict[str, np.ndarray]:
    """One pass of the model over uint8 images: "code" (N, d) float32 and per-image float64 "bce" (nats,
    reconstruction of the decoded code, a VAE's mean) and, for VAEs, "kl" (nats, closed form).

    No sampling anywhere: each image's statistics depend on that image alone, whatever batch it sits in.
    """
    model.eval()
    codes, bce, kl = [], [], []
    for xb in batches(model, as_images(x), batch_size):
        if model.variational:
            mu, logvar = model.encode(xb)
            kl.append(kl_per_image(mu, logvar).double())
            code = mu
        else:
            code = model.encode(xb)
        bce.append(bce_per_image(model.decode_logits(code), xb).double())
        codes.append(code.float())
    out = {"code": _cat(codes, (0, model.latent_dim), np.float32), "bce": _cat(bce, (0,), np.float64)}
    if model.variational:
        out["kl"] = _cat(kl, (0,), np.float64)
    return out


def _cat(parts: list[torch.Tensor], empty: tuple[int, ...], dtype: type) -> np.ndarray:
    return torch.cat(parts).cpu().numpy().astype(dtype) if parts else np.zeros(empty, dtype)
