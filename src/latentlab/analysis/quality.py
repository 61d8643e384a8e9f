"""Image quality: PSNR and SSIM per image, on NumPy arrays (uint8 or floats in [0, 1]), grey or colour. Colour is
measured per channel and the channels averaged, as scikit-image's `channel_axis` does for SSIM."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

# SSIM's float64 convolutions go through im2col: 4,096 images made ~1.4 GB of columns (a process peak of 1,990 MiB
# in the Fashion-VAE's metrics); 512 keep it to ~330 MiB, give the same values bit for bit, and measured no slower.
# PSNR and SSIM also make their float64 copies batch by batch: both sets of 10,000 whole at once were 126 MB.
BATCH = 512


def _layout(images: Any) -> np.ndarray:
    """Images as (N, C, H, W) in their own dtype, a view where it can be, from (N, H, W), (N, H, W, 3),
    (N, C, H, W), (H, W) or (H, W, 3); a single image gets N = 1."""
    a = images.detach().cpu().numpy() if isinstance(images, Tensor) else np.asarray(images)
    if a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 3 and a.shape[0] not in (1, 3)):
        a = a[None]  # one image
    if a.ndim == 3:
        return a[:, None]
    if a.ndim == 4 and a.shape[3] == 3 and a.shape[1] not in (1, 3):
        return a.transpose(0, 3, 1, 2)
    if a.ndim == 4 and a.shape[1] in (1, 3):
        return a
    raise ValueError(f"images must have shape (N, H, W), (N, H, W, 3), (N, C, H, W) or (H, W), got {a.shape}")


def _unit(a: np.ndarray) -> np.ndarray:
    """float64 in [0, 1] of laid-out images: uint8 is divided by 255."""
    return a.astype(np.float64) / 255.0 if a.dtype == np.uint8 else a.astype(np.float64)


def _pair(clean: Any, other: Any) -> tuple[np.ndarray, np.ndarray]:
    a, b = _layout(clean), _layout(other)
    if a.shape != b.shape:
        raise ValueError(f"image sets differ in shape: {a.shape} vs {b.shape}")
    return a, b


def psnr(clean: Any, other: Any, batch_size: int = BATCH) -> np.ndarray:
    """Peak signal-to-noise ratio per image in dB, data range 1 (uint8 input is scaled), per channel and averaged
    over the channels; inf where identical."""
    a, b = _pair(clean, other)
    mse = np.concatenate([((_unit(a[i:i + batch_size]) - _unit(b[i:i + batch_size])) ** 2).mean(axis=(2, 3))
                          for i in range(0, len(a), batch_size)] or [np.zeros((0, a.shape[1]))])  # (N, C)
    with np.errstate(divide="ignore"):
        return (10.0 * np.log10(1.0 / mse)).mean(axis=1)


def _gaussian_taps(size: int, sigma: float) -> Tensor:
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(r**2) / (2 * sigma**2))
    return g / g.sum()


def ssim(clean: Any, other: Any, size: int = 11, sigma: float = 1.5, batch_size: int = BATCH) -> np.ndarray:
    """Structural similarity per image (Wang et al. 2004): Gaussian window 11 / sigma 1.5, data range 1,
    K1 = 0.01, K2 = 0.03, local statistics over 'valid' window positions only (18 x 18 of them on 28 x 28),
    averaged; colour per channel, the channels averaged. 1.0 for identical images."""
    a, b = _pair(clean, other)
    n, c = a.shape[:2]
    if min(a.shape[2:]) < size:
        raise ValueError(f"SSIM with an {size}x{size} window needs images at least that large, got {a.shape[2:]}")
    g = _gaussian_taps(size, sigma)
    c1, c2 = 0.01**2, 0.03**2
    out, step = [], max(1, batch_size // c)
    for start in range(0, n, step):
        # each channel an image of its own
        x = torch.from_numpy(_unit(a[start:start + step]).reshape(-1, *a.shape[2:]))[:, None]
        y = torch.from_numpy(_unit(b[start:start + step]).reshape(-1, *a.shape[2:]))[:, None]
        # The Gaussian is separable: a row pass then a column pass is exact and ~3x faster than the 2-D kernel;
        # float64 because the variances are differences of nearly equal moments.
        moments = torch.cat([x, y, x * x, y * y, x * y])
        blurred = F.conv2d(F.conv2d(moments, g.view(1, 1, 1, -1)), g.view(1, 1, -1, 1))
        mx, my, xx, yy, xy = blurred.chunk(5)
        vx, vy, cov = xx - mx * mx, yy - my * my, xy - mx * my
        s = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
        out.append(s.mean(dim=(1, 2, 3)))
    return torch.cat(out).numpy().reshape(n, c).mean(axis=1) if out else np.zeros(0)
