"""Anomaly maps: where an image departs from what the detector's pixel views and the model explain of it.

Every map is float32 in the image's own layout, (N, H, W) grey or (N, H, W, C) colour, non-negative, higher where
the image departs more. Three kinds, all from arrays (no detector object needed):
- "neighbour": |soft(x) - mean of soft(its K_NEAREST nearest references)|, in view A's units (the Gaussian-blurred
  square root of intensity / 255, so 0..1; a missing or extra full-ink stroke is ~0.5-1 at its centre). The
  neighbours are those of the default detector's view A (`pixel_views`), found by the same squared distance.
- "hyperplane": |the residual of soft(x) off the ridge-regularised affine hull of its K_HULL nearest references in
  view B|, brought back to view A's units (view B is view A divided by sqrt(|soft(x)|), so its residual is
  multiplied by that back). The map's root sum of squares divided by sqrt(|soft(x)|) is the detector's "hull"
  distance of the image, exactly: what the score measures is what the map shows.
- "reconstruction": |x / 255 - the model's reconstruction|, in intensity (0..1) units.
- "combined", the default map: the mean of "neighbour" and "hyperplane" (as the default score sums those two views),
  Gaussian-blurred over the image plane (sigma MAP_SIGMA px per 28 px of side). One pixel's residual is noisy; its
  neighbourhood's is not. Chosen on synthetic defects made on held-out *training* images (never the test split,
  `benchmark localise`'s protocol otherwise): pixel AUROC, mean of the four kinds, unblurred / sigma 1 / 1.5 / 2 / 3:
  mnist-sample 93.8 / 95.9 / 96.5 / 96.8 / 96.6, Fashion-MNIST 91.3 / 93.5 / 93.9 / 93.9 / 93.4; AUPRO to FPR 0.3:
  74.2 / 78.7 / 79.3 / 78.8 / 75.8 and 68.0 / 69.5 / 68.9 / 67.4 / 63.1. 1.5 has the best AUPRO on mnist-sample
  and all but the best pixel AUROC on both. Units stay view A's (a weighted local mean of them).
For a single (H, W) summary of a colour map use `per_pixel` (the root sum of squares over channels).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage
from torch import Tensor

from latentlab.analysis.novelty._pixel_views import K_HULL, K_NEAREST, RIDGE, neighbours, views

MAPS = ("combined", "neighbour", "hyperplane", "reconstruction")
DEFAULT_MAP = "combined"
MAP_SIGMA = 1.5  # the default map's blur, pixels per 28 pixels of the image's side (see the module's docstring)


@dataclass(frozen=True, eq=False)
class PixelExplanation:
    """The pixel views' part of an explanation of N images: `neighbour_index` int64 (N, K_NEAREST) rows of the
    references and `neighbour_distance` float64 (N, K_NEAREST) their view A distances (ascending); `hull_index`
    (N, K_HULL) and `hull_distance` the same for view B; `maps` {"neighbour", "hyperplane"} -> float32 maps."""

    neighbour_index: np.ndarray
    neighbour_distance: np.ndarray
    hull_index: np.ndarray
    hull_distance: np.ndarray
    maps: dict[str, np.ndarray]


def explain_pixels(x: np.ndarray, reference_views: dict[str, Tensor], skip: Tensor | None = None,
                   k_nearest: int = K_NEAREST, k_hull: int = K_HULL) -> PixelExplanation:
    """Neighbours and maps of uint8 images `x` (N, H, W) or (N, H, W, C) against `reference_views` (`views` of the
    references, images of the same shape). `skip[i]` leaves reference row i out for query i (leave one out)."""
    q = views(x)
    dist_a, index_a = neighbours(q["a"], reference_views["a"], k_nearest, skip)
    dist_b, index_b = neighbours(q["b"], reference_views["b"], k_hull, skip)
    shape = x.shape[1:]
    neighbour = (q["a"] - reference_views["a"][index_a].mean(1)).abs() if len(x) else q["a"]
    residual = hull_residual(q["b"], reference_views["b"], index_b)
    scale = q["a"].norm(dim=1, keepdim=True).clamp_min(1e-6).sqrt()  # half_normalised's divisor
    maps = {"neighbour": as_images(neighbour, shape), "hyperplane": as_images(residual.abs() * scale, shape)}
    return PixelExplanation(index_a.numpy(), dist_a.sqrt().double().numpy(), index_b.numpy(),
                            dist_b.sqrt().double().numpy(), maps)


def hull_residual(q: Tensor, ref: Tensor, index: Tensor) -> Tensor:
    """Each row of `q` (N, D) minus its projection on the ridge-regularised affine hull of its rows `index` (N, K) of
    `ref`, float32 (N, D); its norm is `pixel_views._hull`'s distance."""
    if len(q) == 0:
        return q.clone()
    near = ref[index]  # (N, K, D)
    centre = near.mean(1, keepdim=True)
    v = near - centre
    eye = RIDGE * torch.eye(v.shape[1], dtype=v.dtype)
    qi = q[:, None, :]
    alpha = torch.linalg.solve(v @ v.transpose(1, 2) + eye, v @ (qi - centre).transpose(1, 2))
    return (qi - centre - alpha.transpose(1, 2) @ v).squeeze(1)


def as_images(flat: Tensor, shape: tuple[int, ...]) -> np.ndarray:
    """View rows (N, C*H*W, channels first as `soft` flattens them) -> float32 (N, H, W) or (N, H, W, C)."""
    if len(shape) == 2:
        return flat.reshape(len(flat), *shape).float().numpy()
    h, w, c = shape
    return flat.reshape(len(flat), c, h, w).permute(0, 2, 3, 1).contiguous().float().numpy()


def reconstruction_map(x: np.ndarray, reconstruction: np.ndarray) -> np.ndarray:
    """|x / 255 - reconstruction| of uint8 images and their float [0, 1] reconstructions, same shape, float32."""
    return np.abs(np.asarray(x, np.float32) / 255.0 - np.asarray(reconstruction, np.float32))


def combined_map(neighbour: np.ndarray, hyperplane: np.ndarray) -> np.ndarray:
    """The default map of N images: the mean of their neighbour and hyperplane maps, (N, H, W) grey or (N, H, W, C)
    colour, blurred over each image's plane by a Gaussian of sigma MAP_SIGMA x max(H, W) / 28 pixels (each channel
    apart; borders reflected), float32 in view A units."""
    m = 0.5 * (np.asarray(neighbour, np.float32) + np.asarray(hyperplane, np.float32))
    if m.ndim < 3:
        raise ValueError(f"combined_map takes a batch of maps (N, H, W) or (N, H, W, C); got shape {m.shape}")
    if m.size == 0:
        return m
    sigma = MAP_SIGMA * max(m.shape[1:3]) / 28
    return ndimage.gaussian_filter(m, (0, sigma, sigma, 0)[:m.ndim]).astype(np.float32)


def per_pixel(m: np.ndarray, colour: bool) -> np.ndarray:
    """A map (..., H, W) grey or (..., H, W, C) colour -> (..., H, W): channels joined by their root sum of
    squares."""
    m = np.asarray(m, np.float32)
    return np.sqrt((m * m).sum(-1)) if colour else m


def summary(m: np.ndarray, obj: np.ndarray) -> dict[str, object]:
    """Where a single (H, W) map is: `peak` (row, column) of its highest value, `peak_value`, `in_object` the share
    of its mass on the object's pixels (`obj` bool (H, W)), `mass` its sum."""
    m = np.asarray(m, np.float64)
    r, c = np.unravel_index(int(np.argmax(m)), m.shape)
    total = float(m.sum())
    return {"peak": [int(r), int(c)], "peak_value": float(m[r, c]), "mass": total,
            "in_object": float(m[obj].sum() / total) if total > 0 else 0.0}


def object_mask(x: np.ndarray, core: float = 0.15) -> np.ndarray:
    """The object's pixels of one uint8 image (H, W) or (H, W, C): brighter than `core` of its brightest (the share
    `latentlab.images` crops by), widened by one pixel, as bool (H, W)."""
    g = np.asarray(x, np.float32)
    g = g.max(-1) if g.ndim == 3 else g
    lit = g > core * max(float(g.max()), 1e-6)
    p = np.pad(lit, 1)
    h, w = lit.shape
    return np.any([p[1 + dr:1 + dr + h, 1 + dc:1 + dc + w] for dr in (-1, 0, 1) for dc in (-1, 0, 1)], axis=0)


__all__ = ["DEFAULT_MAP", "MAPS", "MAP_SIGMA", "PixelExplanation", "as_images", "combined_map", "explain_pixels",
           "hull_residual", "object_mask", "per_pixel", "reconstruction_map", "summary"]
