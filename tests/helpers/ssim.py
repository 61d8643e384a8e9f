"""The reference SSIM window, for checking `latentlab.analysis.quality.ssim` against a plain loop."""

from __future__ import annotations

import torch
from torch import Tensor

from latentlab.analysis.quality import _gaussian_taps


def gaussian_window(size: int = 11, sigma: float = 1.5) -> Tensor:
    """The normalised 2-D Gaussian of SSIM, as (1, 1, size, size) float64, from the taps `ssim` convolves with."""
    g = _gaussian_taps(size, sigma)
    return torch.outer(g, g)[None, None]
