"""Arrays -> matplotlib figures: reconstructions, denoising, training curves, latent space, samples.

Everything takes numpy arrays and plain Python data (no torch, no models) and returns a
`matplotlib.figure.Figure` built through the object API, never pyplot, so figures can be made from a
web server's threads. Images are (n, 28, 28) floats in [0, 1] or uint8 in 0..255.
`save_figure` writes a PNG at 2x resolution, atomically.
"""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from latentlab.figures_latent import LABEL_SIZE, TITLE_SIZE, latent_grid, latent_scatter_figure, new_figure

__all__ = [
    "decoded_point_figure",
    "denoising_figure",
    "latent_grid",
    "latent_scatter_figure",
    "manifold_figure",
    "reconstruction_figure",
    "samples_figure",
    "save_figure",
    "training_curves_figure",
]

CELL_INCHES = 1.0  # one 28x28 image per inch in the row figures; at dpi=200 that is ~7 screen px per pixel
IMAGE_CMAP = colormaps["gray"].with_extremes(bad="white")  # NaN (padding, empty cells) shows blank
CODE_CMAP = colormaps["viridis"].with_extremes(bad="white")  # codes are not images: a colour map says so


def as_images(images: np.ndarray, name: str = "images") -> np.ndarray:
    """(n, 28, 28), (n, 784) or (n, 1, 28, 28) pixels -> float (n, h, w) in [0, 1].

    uint8, and whole numbers above 1 in any dtype, are taken as 0..255; other values are clipped to [0, 1]
    (a decoder without a sigmoid can overshoot a little).
    """
    arr = np.asarray(images)
    floats = arr.astype(np.float64)
    whole_255 = floats.size > 0 and floats.max() > 1.0 and np.array_equal(floats, np.round(floats))
    if arr.dtype == np.uint8 or whole_255:
        floats = floats / 255.0
    if floats.ndim == 4 and floats.shape[1] == 1:
        floats = floats[:, 0]
    if floats.ndim == 2 and math.isqrt(floats.shape[1]) ** 2 == floats.shape[1]:
        side = math.isqrt(floats.shape[1])
        floats = floats.reshape(len(floats), side, side)
    if floats.ndim != 3 or len(floats) == 0:
        raise ValueError(f"{name} must be a non-empty (n, 28, 28) array, got shape {arr.shape}")
    return np.clip(floats, 0.0, 1.0)


def _show_image(ax: Axes, image: np.ndarray, cmap=IMAGE_CMAP, vmin: float = 0.0, vmax: float = 1.0) -> None:
    ax.imshow(image, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_linewidth(0.4)
        spine.set_color("0.6")


def _image_rows(rows: list[tuple[str, np.ndarray, dict]], title: str, n: int) -> Figure:
    """One row of n image axes per (label, images, imshow style); the label is the row's y-axis label."""
    fig = new_figure(CELL_INCHES * n + 1.2, CELL_INCHES * len(rows) + 0.6)
    axes = fig.subplots(len(rows), n, squeeze=False, gridspec_kw={"wspace": 0.02, "hspace": 0.02})
    for r, (label, images, style) in enumerate(rows):
        for j in range(n):
            _show_image(axes[r, j], images[j], **style)
        axes[r, 0].set_ylabel(label, fontsize=LABEL_SIZE, rotation=0, ha="right", va="center")
    fig.suptitle(title, fontsize=TITLE_SIZE)
    return fig


def _first_n(n: int, **arrays: np.ndarray) -> int:
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"these must hold the same number of images: {lengths}")
    return min(n, next(iter(lengths.values())))


def reconstruction_figure(
    originals: np.ndarray, reconstructions: np.ndarray, title: str = "Reconstructions", n: int = 10
) -> Figure:
    """The first `n` originals in the top row, their reconstructions underneath."""
    originals = as_images(originals, "originals")
    reconstructions = as_images(reconstructions, "reconstructions")
    n = _first_n(n, originals=originals, reconstructions=reconstructions)
    return _image_rows([("original", originals, {}), ("reconstructed", reconstructions, {})], title, n)


def code_grid_shape(d: int) -> tuple[int, int]:
    """A near-square (rows, cols) for a d-long code: an exact factorisation unless it is too thin."""
    rows = max(r for r in range(1, math.isqrt(d) + 1) if d % r == 0)
    if d // rows <= 4 * rows or d <= 3:  # 32 -> 4x8, 10 -> 2x5, 3 -> 1x3
        return rows, d // rows
    rows = math.isqrt(d)  # primes and the like: pad, e.g. 17 -> 4x5 with 3 blank cells
    return rows, math.ceil(d / rows)


def denoising_figure(
    originals: np.ndarray,
    noisy: np.ndarray,
    codes: np.ndarray,
    decoded: np.ndarray,
    title: str = "Denoising",
    n: int = 10,
) -> Figure:
    """Four rows for the first `n` images: original, noisy input, its code (as a small image), decoded.

    A d-long code is laid out on a near-square grid (32 -> 4x8; blank cells pad awkward sizes), coloured
    with viridis on one scale shared by the whole row so codes can be compared with each other.
    """
    originals, noisy = as_images(originals, "originals"), as_images(noisy, "noisy")
    decoded = as_images(decoded, "decoded")
    codes = np.asarray(codes, dtype=np.float64)
    codes = codes.reshape(len(codes), -1)
    n = _first_n(n, originals=originals, noisy=noisy, codes=codes, decoded=decoded)
    d = codes.shape[1]
    rows, cols = code_grid_shape(d)
    grids = np.full((n, rows * cols), np.nan)
    grids[:, :d] = codes[:n]
    low, high = float(np.nanmin(grids)), float(np.nanmax(grids))
    high = high if high > low else low + 1.0  # a constant code would otherwise collapse the colour scale
    code_style = {"cmap": CODE_CMAP, "vmin": low, "vmax": high}
    return _image_rows(
        [
            ("original", originals, {}),
            ("noisy", noisy, {}),
            (f"encoded\n({d}-D,\n{rows}x{cols})", grids.reshape(n, rows, cols), code_style),
            ("decoded", decoded, {}),
        ],
        title,
        n,
    )


def _series(history: list[dict], split: str, key: str) -> tuple[list[float], list[float]]:
    """Epochs and values of history[*][split][key], skipping epochs where it is missing."""
    points = [
        (entry.get("epoch", i + 1), entry[split][key])
        for i, entry in enumerate(history)
        if isinstance(entry.get(split), dict) and entry[split].get(key) is not None
    ]
    return [p[0] for p in points], [float(p[1]) for p in points]


def training_curves_figure(history: list[dict], title: str = "Training curves") -> Figure:
    """Loss per epoch, train and validation; VAEs (a "kl" entry) get reconstruction and KL panels too.

    `history` holds one dict per epoch: {"epoch", "train": {"loss", "recon", "kl"?}, "val": {...} or None,
    "samples_per_s", "time_s"}. Validation points are drawn wherever they exist.
    """
    if not history:
        raise ValueError("history is empty: train for at least one epoch before plotting curves")
    is_vae = any(isinstance(e.get("train"), dict) and "kl" in e["train"] for e in history)
    panels = [("loss", "total loss")]
    if is_vae:
        panels += [("recon", "reconstruction term"), ("kl", "KL term")]
    fig = new_figure(4.2 * len(panels) + 0.6, 3.8)
    marker = "o" if len(history) <= 30 else None  # one epoch must still show up as a point
    for ax, (key, label) in zip(fig.subplots(1, len(panels), squeeze=False)[0], panels, strict=True):
        for split, style in (("train", "-"), ("val", "--")):
            epochs, values = _series(history, split, key)
            if values:
                ax.plot(epochs, values, style, marker=marker, markersize=4, label=split)
        ax.set_title(label, fontsize=LABEL_SIZE + 1)
        ax.set_xlabel("epoch", fontsize=LABEL_SIZE)
        ax.set_ylabel(label, fontsize=LABEL_SIZE)
        _integer_epochs(ax, history)
        ax.grid(True, linewidth=0.4, alpha=0.5)
        ax.legend(fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=TITLE_SIZE)
    _footnote_speed(fig, history)
    return fig


def _integer_epochs(ax: Axes, history: list[dict]) -> None:
    epochs = [int(e.get("epoch", i + 1)) for i, e in enumerate(history)]
    if max(epochs) - min(epochs) < 2:  # the integer locator gives up on a range this short
        ax.set_xticks(range(min(epochs), max(epochs) + 1))
        ax.set_xlim(min(epochs) - 0.5, max(epochs) + 0.5)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _footnote_speed(fig: Figure, history: list[dict]) -> None:
    last = history[-1]
    if "samples_per_s" in last or "time_s" in last:
        total = sum(float(e.get("time_s", 0.0)) for e in history)
        epochs = f"{len(history)} epoch" + ("s" if len(history) > 1 else "")
        fig.supxlabel(
            f"last epoch: {float(last.get('samples_per_s', 0.0)):,.0f} samples/s, "
            f"{float(last.get('time_s', 0.0)):.1f} s; {epochs} in all: {total:.1f} s",
            fontsize=8,
            color="0.4",
        )


def _mosaic(images: np.ndarray, nrows: int, ncols: int, pad: int) -> np.ndarray:
    """Tile (k, h, w) images row by row into one array; gaps and unused cells are NaN (drawn blank)."""
    h, w = images.shape[1:]
    out = np.full((nrows * (h + pad) - pad, ncols * (w + pad) - pad), np.nan)
    for k, image in enumerate(images[: nrows * ncols]):
        r, c = divmod(k, ncols)
        out[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = image
    return out


def samples_figure(images: np.ndarray, title: str = "Samples from the prior", ncols: int = 8) -> Figure:
    """Images tiled `ncols` to a row (e.g. decoded draws from the prior)."""
    images = as_images(images)
    ncols = max(1, min(ncols, len(images)))
    nrows = math.ceil(len(images) / ncols)
    fig = new_figure(0.8 * ncols + 0.4, 0.8 * nrows + 0.7)
    ax = fig.add_subplot()
    _show_image(ax, _mosaic(images, nrows, ncols, pad=2))
    ax.axis("off")  # a frame would also box in the blank cells of a short last row
    fig.suptitle(title, fontsize=TITLE_SIZE)
    return fig


def _sparse_ticks(axis: Axis, values: np.ndarray, cell: int) -> None:
    """Label at most ~9 cell centres with their latent value so the axis stays legible."""
    step = max(1, math.ceil(len(values) / 9))
    idx = np.arange(0, len(values), step)
    spacing = np.min(np.abs(np.diff(values[idx]))) if len(idx) > 1 else 1.0
    decimals = 1 if spacing >= 0.1 else 3  # one format for the whole axis, fine enough to tell ticks apart
    axis.set_ticks(idx * cell + (cell - 1) / 2, [f"{v:.{decimals}f}" for v in values[idx]], fontsize=8)


def manifold_figure(
    images: np.ndarray, grid_x: np.ndarray, grid_y: np.ndarray, title: str = "Generated from a latent grid"
) -> Figure:
    """One mosaic of images decoded on a 2-D latent grid, with ticks in latent coordinates.

    Convention: images[i, j] was decoded at (grid_x[j], grid_y[i]). Any order of grid_x / grid_y is
    accepted: both are sorted here (x ascending left to right, y ascending bottom to top) and the images
    reordered with them, so larger y is always drawn higher. `latent_grid` already returns that order.
    """
    arr = np.asarray(images)
    grid_x, grid_y = np.asarray(grid_x, dtype=np.float64), np.asarray(grid_y, dtype=np.float64)
    if arr.ndim != 4 or arr.shape[:2] != (len(grid_y), len(grid_x)):
        raise ValueError(
            f"images must have shape (len(grid_y), len(grid_x), h, w) = "
            f"({len(grid_y)}, {len(grid_x)}, h, w), got {arr.shape}"
        )
    rows, cols = np.argsort(-grid_y, kind="stable"), np.argsort(grid_x, kind="stable")
    ordered = arr[rows][:, cols]
    grid_x, grid_y = grid_x[cols], grid_y[rows]
    cells = as_images(ordered.reshape(-1, *arr.shape[2:]))
    side = float(np.clip(0.4 * max(len(grid_x), len(grid_y)) + 1.5, 4.0, 10.0))
    fig = new_figure(side, side + 0.4)
    ax = fig.add_subplot()
    _show_image(ax, _mosaic(cells, len(grid_y), len(grid_x), pad=0))
    _sparse_ticks(ax.xaxis, grid_x, arr.shape[3])
    _sparse_ticks(ax.yaxis, grid_y, arr.shape[2])
    ax.set_xlabel("z[0]", fontsize=LABEL_SIZE)
    ax.set_ylabel("z[1]", fontsize=LABEL_SIZE)
    ax.set_title(title, fontsize=TITLE_SIZE)
    return fig


def decoded_point_figure(
    image: np.ndarray,
    point: tuple[float, float],
    codes: np.ndarray,
    labels: np.ndarray | None,
    class_names: Sequence[str] | None,
    title: str | None = None,
) -> Figure:
    """The latent scatter with `point` starred, next to the image decoded there; codes must be 2-D."""
    picture = as_images(np.asarray(image)[None] if np.ndim(image) <= 2 else image, "image")[0]
    fig = new_figure(10.5 if labels is not None else 9.0, 4.8)
    scatter_ax, image_ax = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2.2, 1]})
    latent_scatter_figure(codes, labels, class_names, mark=point, ax=scatter_ax)
    _show_image(image_ax, picture)
    image_ax.set_title(f"decoded at ({float(point[0]):.2f}, {float(point[1]):.2f})", fontsize=LABEL_SIZE + 1)
    if title:
        fig.suptitle(title, fontsize=TITLE_SIZE)
    return fig


def save_figure(fig: Figure, path: str | Path, dpi: int = 200) -> Path:
    """Write `fig` as a PNG at `dpi` (200 = 2x for sharp screens) via a temp file and rename.

    The rename means a reader (a web page, a report) never sees a half-written file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A unique hidden name next to the target (same file system, so the rename is atomic); opened with
    # the process umask rather than mkstemp's 0600, so a web server can still read the result.
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "xb") as handle:
            fig.savefig(handle, format="png", dpi=dpi, facecolor=fig.get_facecolor())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
