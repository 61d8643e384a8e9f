"""Batched inference: codes, reconstructions, decoded points and per-image terms, as NumPy arrays.

Every helper takes uint8 images as stored in a dataset, (N, H, W) grey or (N, H, W, 3) colour, runs the model in
inference mode on the device its weights live on, in batches (floats are made one batch at a time), and returns
NumPy arrays on the host; images come back in the same layout, (N, H, W) or (N, H, W, 3), floats in [0, 1].
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from latentlab.config import check_count
from latentlab.errors import ConfigError
from latentlab.images import to_float, to_images
from latentlab.models import has_likelihood, has_prior
from latentlab.threads import paced

BATCH = 4096
# Activations per batch, float32 values (64 MB): the default BATCH is cut for models whose layers hold many values
# per image. mnist-conv's hold ~30,000 (a dense AE's ~2,500): 4,096 of its images at once made its denoising
# metrics peak at +350 MiB (measured, full-size MNIST).
ACTIVATION_VALUES = 16_000_000
_activations: weakref.WeakKeyDictionary[nn.Module, int] = weakref.WeakKeyDictionary()
SCORE_SEED = 0  # the generator behind the one-sample ELBO, so metrics.json is reproducible


def image_layout(model: nn.Module) -> tuple[int, ...]:
    """The shape one image of `model` has as stored: (H, W) for grey, (H, W, 3) for colour."""
    c, h, w = getattr(model, "image_shape", (1, 28, 28))
    return (h, w) if c == 1 else (h, w, 3)


def model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def batches(model: nn.Module, x: np.ndarray | Tensor, batch_size: int = BATCH) -> Iterator[Tensor]:
    """Float batches of `x` on the model's device, of at most `batch_size` images and fewer when the model's
    activations would pass ACTIVATION_VALUES; only one batch is converted at a time."""
    device = model_device(model)
    shape = getattr(model, "image_shape", None)
    step = max(1, min(batch_size, ACTIVATION_VALUES // activation_values(model)))
    starts = range(0, len(x), step)
    # On a CPU the batches run on as many torch threads as are fastest now (`latentlab.threads`).
    for start in paced(starts, lambda s: min(step, len(x) - s)) if device.type == "cpu" else starts:
        yield to_float(x[start:start + step], shape).to(device, non_blocking=True)


def activation_values(model: nn.Module) -> int:
    """Values the model's layers output for one image, encoded and decoded (counted once per model, with hooks)."""
    if model not in _activations:
        total = 0

        def count(_module: nn.Module, _inputs: Any, out: Any) -> None:
            nonlocal total
            total += out.numel() if isinstance(out, Tensor) else 0

        hooks = [m.register_forward_hook(count) for m in model.modules() if next(m.children(), None) is None]
        try:
            with torch.inference_mode():
                model.decode(model.encode(torch.zeros(1, *model.image_shape, device=model_device(model))))
        except NotImplementedError:  # a model with only part of the contract (a posterior alone): batches uncut
            total = 0
        finally:
            for hook in hooks:
                hook.remove()
        _activations[model] = max(total, 1)
    return _activations[model]


def _collect(parts: list[Tensor], empty_shape: tuple[int, ...]) -> np.ndarray:
    if not parts:
        return np.zeros(empty_shape, np.float32)
    return torch.cat(parts).float().cpu().numpy()


def _collect_images(model: nn.Module, parts: list[Tensor]) -> np.ndarray:
    return to_images(torch.cat(parts)) if parts else np.zeros((0, *image_layout(model)), np.float32)


@torch.inference_mode()
def embed(model: nn.Module, x: np.ndarray, batch_size: int = BATCH) -> np.ndarray:
    """Latent codes (N, latent_dim) as float32; for a VAE the mean of q(z|x)."""
    model.eval()
    return _collect([model.encode(xb) for xb in batches(model, x, batch_size)], (0, model.latent_dim))


@torch.inference_mode()
def reconstruct(model: nn.Module, x: np.ndarray, batch_size: int = BATCH) -> np.ndarray:
    """Reconstructions float32 in [0, 1], (N, H, W) or (N, H, W, 3) as `x`: the decode of the code (a VAE decodes its
    mean)."""
    model.eval()
    # model(x), not decode(encode(x)): a conditional model decodes in the class it inferred from x.
    return _collect_images(model, [model(xb) for xb in batches(model, x, batch_size)])


@torch.inference_mode()
def decode_points(model: nn.Module, points: np.ndarray, batch_size: int = BATCH) -> np.ndarray:
    """Images float32 in [0, 1], (K, H, W) or (K, H, W, 3), decoded at latent positions `points` (K, latent_dim)."""
    model.eval()
    z = torch.as_tensor(np.asarray(points, np.float32))
    if z.ndim != 2 or z.shape[1] != model.latent_dim:
        raise ValueError(f"points must have shape (K, {model.latent_dim}) for this model, got {tuple(z.shape)}")
    device = model_device(model)
    return _collect_images(model, [model.decode(zb.to(device)) for zb in z.split(batch_size)])


@torch.inference_mode()
def per_image(model: nn.Module, x: np.ndarray, batch_size: int = BATCH, seed: int | None = SCORE_SEED
              ) -> dict[str, np.ndarray]:
    """The model's per-image terms (`LatentModel.per_image`) over uint8 images as stored, batched, as NumPy:
    "code" (N, latent_dim) float32 and every other term float64 (N,): "bce" (nats per image), "mse" (per pixel),
    and for models with a posterior "kl" (nats) and, with a `seed`, the one-sample ELBO terms "recon" and
    "neg_elbo" drawn with a torch.Generator seeded by `seed` (the same on every call with the same batches)."""
    model.eval()
    device = model_device(model)
    gen = None if seed is None or not has_prior(model) else torch.Generator(device=device).manual_seed(seed)
    out: dict[str, list[Tensor]] = {}
    for xb in batches(model, x, batch_size):
        terms = model.per_image(xb, gen) if gen is not None else model.per_image(xb)
        for key, value in terms.items():
            out.setdefault(key, []).append(value)
    if not out:  # no images: the keys a batch would have had, empty
        empty = {k: np.zeros(0) for k in model.TERMS}
        return {"code": np.zeros((0, model.latent_dim), np.float32), **empty}
    return {k: torch.cat(v).cpu().numpy().astype(np.float32 if k == "code" else np.float64) for k, v in out.items()}


@torch.inference_mode()
def iwae_log_likelihood(model: nn.Module, x: np.ndarray, k: int = 100, max_decodes: int = 65536,
                        seed: int = SCORE_SEED) -> np.ndarray:
    """Importance-weighted log p(x) per image (nats), with `k` samples each (VAEs only).

    Batches hold at most `max_decodes` decoded images (k per input image), which bounds memory whatever k is.
    The global torch RNG is seeded inside a fork, so the estimate is reproducible and the caller's RNG untouched;
    the samples are drawn batch by batch, so another `max_decodes` draws others: the same estimator, another
    draw (single images moved by up to ~20 nats at k=100, the mean by 0.02). Raises ConfigError for k < 1.
    """
    check_count("k", k, "importance samples per image, at least 1")
    if not has_likelihood(model):
        raise ConfigError(f"an importance-weighted likelihood needs a VAE (vae, iwae, vamp or cvae: a posterior and a "
                          f"prior); a {type(model).__name__} has neither", field="model", value=type(model).__name__)
    model.eval()
    device = model_device(model)
    batch = max(1, max_decodes // k)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        parts = [model.iwae_log_likelihood(xb, k) for xb in batches(model, x, batch)]
    return _collect(parts, (0,)).astype(np.float64)
