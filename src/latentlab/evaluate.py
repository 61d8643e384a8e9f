"""Batched inference and per-image quality measures: the numbers behind metrics.json, the report and the web view.

Every helper takes uint8 images (N, 28, 28) as stored in a dataset, runs the model in inference mode on the
device its weights live on, in batches, and returns NumPy arrays on the host.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

BATCH = 4096
SCORE_SEED = 0  # the generator behind the one-sample ELBO, so metrics.json is reproducible


def to_float(x: np.ndarray | Tensor) -> Tensor:
    """uint8 images (N, 28, 28) -> float32 (N, 1, 28, 28) in [0, 1] on the CPU (or the tensor's own device).

    Float input is taken to be in [0, 1] already and only reshaped; (N, 1, 28, 28) is accepted as well.
    """
    t = x if isinstance(x, Tensor) else torch.from_numpy(np.ascontiguousarray(x))
    if t.ndim == 3:
        t = t.unsqueeze(1)
    if t.ndim != 4 or t.shape[1:] != (1, 28, 28):
        raise ValueError(f"images must have shape (N, 28, 28) or (N, 1, 28, 28), got {tuple(t.shape)}")
    if t.dtype == torch.uint8:
        return t.to(torch.float32).div_(255.0)
    if not t.is_floating_point():
        raise ValueError(f"images must be uint8 (0..255) or float (0..1), got {t.dtype}")
    return t.to(torch.float32)


def model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def batches(model: nn.Module, x: np.ndarray | Tensor, batch_size: int = BATCH) -> Iterator[Tensor]:
    """Float batches of `x` on the model's device; only one batch is converted at a time."""
    device = model_device(model)
    for start in range(0, len(x), batch_size):
        yield to_float(x[start:start + batch_size]).to(device, non_blocking=True)


def _collect(parts: list[Tensor], empty_shape: tuple[int, ...]) -> np.ndarray:
    if not parts:
        return np.zeros(empty_shape, np.float32)
    return torch.cat(parts).float().cpu().numpy()


@torch.inference_mode()
def embed(model: nn.Module, x: np.ndarray, batch_size: int = BATCH) -> np.ndarray:
    """Latent codes (N, latent_dim) as float32; for a VAE the mean of q(z|x)."""
    model.eval()
    return _collect([model.embed(xb) for xb in batches(model, x, batch_size)], (0, model.latent_dim))


@torch.inference_mode()
def reconstruct(model: nn.Module, x: np.ndarray, batch_size: int = BATCH) -> np.ndarray:
    """Reconstructions (N, 28, 28) float32 in [0, 1]: the decode of the code (a VAE decodes its mean)."""
    model.eval()
    parts = [model.decode(model.embed(xb)).squeeze(1) for xb in batches(model, x, batch_size)]
    return _collect(parts, (0, 28, 28))


@torch.inference_mode()
def decode_points(model: nn.Module, points: np.ndarray, batch_size: int = BATCH) -> np.ndarray:
    """Images (K, 28, 28) float32 in [0, 1] decoded at latent positions `points` (K, latent_dim)."""
    model.eval()
    z = torch.as_tensor(np.asarray(points, np.float32))
    if z.ndim != 2 or z.shape[1] != model.latent_dim:
        raise ValueError(f"points must have shape (K, {model.latent_dim}) for this model, got {tuple(z.shape)}")
    device = model_device(model)
    parts = [model.decode(zb.to(device)).squeeze(1) for zb in z.split(batch_size)]
    return _collect(parts, (0, 28, 28))


@torch.inference_mode()
def per_image_scores(model: nn.Module, x: np.ndarray, batch_size: int = BATCH,
                     seed: int = SCORE_SEED) -> dict[str, np.ndarray]:
    """Per-image losses as float64 arrays (N,).

    All models: "bce", the Bernoulli reconstruction loss of the decoded code in nats per image (summed over
    the 784 pixels; a VAE decodes its mean, so this is deterministic), and "mse", the mean squared error per
    pixel of that reconstruction. VAEs also: "kl", KL(q(z|x) || p(z)) in closed form (nats); "recon", the
    reconstruction term at one z drawn from q(z|x); "neg_elbo" = recon + kl. The draw uses a torch.Generator
    seeded with `seed`, so the (unbiased, one-sample) ELBO is the same on every call with the same batches.
    """
    model.eval()
    device = model_device(model)
    gen = torch.Generator(device=device).manual_seed(seed)
    out: dict[str, list[Tensor]] = {}
    for xb in batches(model, x, batch_size):
        row: dict[str, Tensor] = {}
        if model.variational:
            mu, logvar = model.encode(xb)
            eps = torch.randn(mu.shape, generator=gen, device=device, dtype=mu.dtype)
            sampled = model.decode_logits(mu + eps * torch.exp(0.5 * logvar))
            row["recon"] = bce_per_image(sampled, xb)
            row["kl"] = kl_per_image(mu, logvar)
            row["neg_elbo"] = row["recon"] + row["kl"]
            logits = model.decode_logits(mu)
        else:
            logits = model.decode_logits(model.encode(xb))
        row["bce"] = bce_per_image(logits, xb)
        row["mse"] = (torch.sigmoid(logits) - xb).pow(2).flatten(1).mean(1)
        for key, value in row.items():
            out.setdefault(key, []).append(value.double())
    keys = ["bce", "mse"] + (["recon", "kl", "neg_elbo"] if model.variational else [])
    return {k: torch.cat(out[k]).cpu().numpy() if k in out else np.zeros(0) for k in keys}


def bce_per_image(logits: Tensor, target: Tensor) -> Tensor:
    """Bernoulli negative log-likelihood of `target` under `logits`, summed over pixels: nats per image."""
    # From logits: exact where the sigmoid saturates, unlike BCE on decoded probabilities.
    return F.binary_cross_entropy_with_logits(logits.float(), target, reduction="none").flatten(1).sum(1)


def kl_per_image(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) in closed form, nats per image."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1)


@torch.inference_mode()
def iwae_log_likelihood(model: nn.Module, x: np.ndarray, k: int = 100, max_decodes: int = 65536,
                        seed: int = SCORE_SEED) -> np.ndarray:
    """Importance-weighted log p(x) per image (nats), with `k` samples each (VAEs only).

    Batches hold at most `max_decodes` decoded images (k per input image), which bounds memory whatever k is.
    The global torch RNG is seeded inside a fork, so the estimate is reproducible and the caller's RNG untouched.
    """
    if not model.variational:
        raise ValueError("an importance-weighted likelihood needs a VAE; this model is a plain autoencoder")
    model.eval()
    device = model_device(model)
    batch = max(1, max_decodes // k)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        parts = [model.iwae_log_likelihood(xb, k) for xb in batches(model, x, batch)]
    return _collect(parts, (0,)).astype(np.float64)


# ---- image quality: PSNR and SSIM -------------------------------------------------------------------------


def _unit(images: Any) -> np.ndarray:
    """float64 images in [0, 1] with shape (N, H, W); uint8 is divided by 255, a single image gets N = 1."""
    a = images.detach().cpu().numpy() if isinstance(images, Tensor) else np.asarray(images)
    a = a.astype(np.float64) / 255.0 if a.dtype == np.uint8 else a.astype(np.float64)
    if a.ndim == 4 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3:
        raise ValueError(f"images must have shape (N, H, W), (N, 1, H, W) or (H, W), got {a.shape}")
    return a


def _pair(clean: Any, other: Any) -> tuple[np.ndarray, np.ndarray]:
    a, b = _unit(clean), _unit(other)
    if a.shape != b.shape:
        raise ValueError(f"image sets differ in shape: {a.shape} vs {b.shape}")
    return a, b


def psnr(clean: Any, other: Any) -> np.ndarray:
    """Peak signal-to-noise ratio per image in dB, data range 1 (uint8 input is scaled); inf where identical."""
    a, b = _pair(clean, other)
    mse = ((a - b) ** 2).mean(axis=(1, 2))
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(1.0 / mse)


def _gaussian_taps(size: int, sigma: float) -> Tensor:
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(r**2) / (2 * sigma**2))
    return g / g.sum()


def gaussian_window(size: int = 11, sigma: float = 1.5) -> Tensor:
    """The normalised 2-D Gaussian of SSIM, as (1, 1, size, size) float64."""
    g = _gaussian_taps(size, sigma)
    return torch.outer(g, g)[None, None]


def ssim(clean: Any, other: Any, size: int = 11, sigma: float = 1.5, batch_size: int = BATCH) -> np.ndarray:
    """Structural similarity per image (Wang et al. 2004): Gaussian window 11 / sigma 1.5, data range 1,
    K1 = 0.01, K2 = 0.03, local statistics over 'valid' window positions only (18 x 18 of them on 28 x 28),
    averaged. 1.0 for identical images."""
    a, b = _pair(clean, other)
    if min(a.shape[1:]) < size:
        raise ValueError(f"SSIM with an {size}x{size} window needs images at least that large, got {a.shape[1:]}")
    g = _gaussian_taps(size, sigma)
    c1, c2 = 0.01**2, 0.03**2
    out = []
    for start in range(0, len(a), batch_size):
        x = torch.from_numpy(a[start:start + batch_size])[:, None]
        y = torch.from_numpy(b[start:start + batch_size])[:, None]
        # The Gaussian is separable: a row pass then a column pass is exact and ~3x faster than the 2-D kernel;
        # float64 because the variances are differences of nearly equal moments.
        moments = torch.cat([x, y, x * x, y * y, x * y])
        blurred = F.conv2d(F.conv2d(moments, g.view(1, 1, 1, -1)), g.view(1, 1, -1, 1))
        mx, my, xx, yy, xy = blurred.chunk(5)
        vx, vy, cov = xx - mx * mx, yy - my * my, xy - mx * my
        s = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
        out.append(s.mean(dim=(1, 2, 3)))
    return torch.cat(out).numpy() if out else np.zeros(0)


def __getattr__(name: str) -> Any:
    # compute_metrics needs the novelty detector, which is built on this module; it lives one layer up in
    # latentlab.metrics and is reachable here lazily, so `evaluate.compute_metrics` works without an import cycle.
    if name in ("compute_metrics", "write_metrics"):
        from latentlab import metrics

        return getattr(metrics, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["bce_per_image", "decode_points", "embed", "gaussian_window", "iwae_log_likelihood", "kl_per_image",
           "per_image_scores", "psnr", "reconstruct", "ssim", "to_float"]
