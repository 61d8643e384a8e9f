"""Figures of the VAE family, from arrays: the beta sweep (rate against distortion, with each beta's latent plane)
and the per-class latent planes of a conditional VAE."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from latentlab.figures.latent import latent_scatter_figure
from latentlab.figures.style import LABEL_SIZE, TITLE_SIZE, new_figure, show_image


def beta_sweep_figure(betas: Sequence[float], rate: Sequence[float], distortion: Sequence[float],
                      codes: Sequence[np.ndarray] | None = None, labels: np.ndarray | None = None,
                      class_names: Sequence[str] | None = None, title: str = "beta-VAE sweep",
                      max_points: int = 2000) -> Figure:
    """The rate-distortion curve of a beta sweep: `rate` (KL(q(z|x) || p(z)), nats per image) on x against
    `distortion` (reconstruction -log p(x|z), nats per image) on y, one point per beta, labelled; lower-left is
    better, and beta moves a model along the curve (Alemi et al. 2018). With `codes` (one (N, d) array of test codes
    per beta) and their `labels` (N,), each beta's latent plane is drawn beside it, coloured by class."""
    betas, rate, distortion = (np.asarray(v, np.float64) for v in (betas, rate, distortion))
    if not len(betas) or rate.shape != betas.shape or distortion.shape != betas.shape:
        raise ValueError(f"betas, rate and distortion need one value per beta; got {len(betas)}, {rate.shape[0]} "
                         f"and {distortion.shape[0]}")
    if codes is not None and len(codes) != len(betas):
        raise ValueError(f"codes: one (N, d) array per beta, got {len(codes)} for {len(betas)} betas")
    n_planes = 0 if codes is None else len(codes)
    cols = min(3, n_planes) if n_planes else 0
    rows = math.ceil(n_planes / cols) if cols else 0
    fig = new_figure(5.5 + 3.2 * cols, max(4.5, 3.0 * rows))
    grid = fig.add_gridspec(max(rows, 1), 1 + cols, width_ratios=[1.7] + [1.0] * cols)
    ax = fig.add_subplot(grid[:, 0])
    order = np.argsort(betas)
    ax.plot(rate[order], distortion[order], "-", color="0.6", zorder=1)
    points = ax.scatter(rate, distortion, c=np.log2(betas), cmap="viridis", s=60, zorder=2, edgecolors="k",
                        linewidths=0.5)
    for b, r, d in zip(betas, rate, distortion, strict=True):
        ax.annotate(f"beta={b:g}", (r, d), xytext=(6, 4), textcoords="offset points", fontsize=8)
    fig.colorbar(points, ax=ax, label="log2 beta", shrink=0.7)
    ax.set_xlabel("rate: KL(q(z|x) || p(z)), nats per image", fontsize=LABEL_SIZE)
    ax.set_ylabel("distortion: -log p(x|z), nats per image", fontsize=LABEL_SIZE)
    ax.set_title(title, fontsize=TITLE_SIZE)
    ax.grid(True, linewidth=0.4, alpha=0.4)
    for k in range(n_planes):
        sub = fig.add_subplot(grid[k // cols, 1 + k % cols])
        latent_scatter_figure(codes[k], labels, class_names, title=f"beta={betas[k]:g}", max_points=max_points,
                              ax=sub)
        legend = sub.get_legend()
        if legend is not None and k != n_planes - 1:  # the last plane's legend serves all: one each would crowd
            legend.remove()
    return fig


def class_planes_figure(images: np.ndarray, class_names: Sequence[str],
                        title: str = "One latent plane, decoded for every class") -> Figure:
    """A conditional VAE's latent grid decoded once per class: `images` (n_classes, rows, cols, h, w) in [0, 1],
    the same latent points for every class, so that a position (the style) reads across the panels."""
    arr = np.asarray(images, np.float64)
    if arr.ndim != 5 or arr.shape[0] != len(class_names):
        raise ValueError(f"images must be (n_classes={len(class_names)}, rows, cols, h, w); got {arr.shape}")
    n, rows, cols, h, w = arr.shape
    ncols = min(5, n)
    nrows = math.ceil(n / ncols)
    fig = new_figure(2.4 * ncols, 2.5 * nrows + 0.4)
    for k in range(n):
        ax = fig.add_subplot(nrows, ncols, k + 1)
        mosaic = np.full((rows * (h + 1) - 1, cols * (w + 1) - 1), np.nan)
        for i in range(rows):
            for j in range(cols):
                mosaic[i * (h + 1):i * (h + 1) + h, j * (w + 1):j * (w + 1) + w] = arr[k, i, j]
        show_image(ax, mosaic)
        ax.set_title(str(class_names[k]), fontsize=LABEL_SIZE)
        ax.axis("off")
    fig.suptitle(title, fontsize=TITLE_SIZE)
    return fig
