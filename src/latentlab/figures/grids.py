"""Images on grids: samples tiled in rows, the manifold decoded on a latent grid, and the grid itself."""

from __future__ import annotations

import math

import numpy as np
from matplotlib.axis import Axis
from matplotlib.figure import Figure

from latentlab.figures.style import LABEL_SIZE, TITLE_SIZE, as_unit_images, new_figure, show_image


def _mosaic(images: np.ndarray, nrows: int, ncols: int, pad: int) -> np.ndarray:
    """Tile (k, h, w) or (k, h, w, 3) images row by row into one array; gaps and unused cells are NaN (blank)."""
    h, w = images.shape[1:3]
    out = np.full((nrows * (h + pad) - pad, ncols * (w + pad) - pad, *images.shape[3:]), np.nan)
    for k, image in enumerate(images[: nrows * ncols]):
        r, c = divmod(k, ncols)
        out[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = image
    return out


def samples_figure(images: np.ndarray, title: str = "Samples from the prior", ncols: int = 8) -> Figure:
    """Images tiled `ncols` to a row (e.g. decoded draws from the prior).

    Parameters
    ----------
    images : numpy.ndarray
        (N, H, W) or (N, H, W, 3), uint8 or floats in [0, 1].
    title : str, default "Samples from the prior"
        The figure's title.
    ncols : int, default 8
        Images per row.

    Returns
    -------
    matplotlib.figure.Figure
        One mosaic.
    """
    images = as_unit_images(images)
    ncols = max(1, min(ncols, len(images)))
    nrows = math.ceil(len(images) / ncols)
    fig = new_figure(0.8 * ncols + 0.4, 0.8 * nrows + 0.7)
    ax = fig.add_subplot()
    show_image(ax, _mosaic(images, nrows, ncols, pad=2))
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

    Convention: images[i, j] was decoded at (grid_x[j], grid_y[i]). Any order of grid_x / grid_y is accepted:
    both are sorted here (x ascending left to right, y ascending bottom to top) and the images reordered with them,
    so larger y is always drawn higher. `latent_grid` already returns that order.

    Parameters
    ----------
    images : numpy.ndarray
        Grey (rows, cols, h, w) or colour (rows, cols, h, w, 3), floats in [0, 1] or uint8.
    grid_x : numpy.ndarray
        float (cols,) latent x of each column.
    grid_y : numpy.ndarray
        float (rows,) latent y of each row.
    title : str, default "Generated from a latent grid"
        The figure's title.

    Returns
    -------
    matplotlib.figure.Figure
        The mosaic.

    Raises
    ------
    ValueError
        The grid's sizes do not match the images'.
    """
    arr = np.asarray(images)
    grid_x, grid_y = np.asarray(grid_x, dtype=np.float64), np.asarray(grid_y, dtype=np.float64)
    if arr.ndim not in (4, 5) or arr.shape[:2] != (len(grid_y), len(grid_x)):
        raise ValueError(
            f"images must have shape (len(grid_y), len(grid_x), h, w[, 3]) = "
            f"({len(grid_y)}, {len(grid_x)}, h, w[, 3]), got {arr.shape}"
        )
    rows, cols = np.argsort(-grid_y, kind="stable"), np.argsort(grid_x, kind="stable")
    ordered = arr[rows][:, cols]
    grid_x, grid_y = grid_x[cols], grid_y[rows]
    cells = as_unit_images(ordered.reshape(-1, *arr.shape[2:]))
    side = float(np.clip(0.4 * max(len(grid_x), len(grid_y)) + 1.5, 4.0, 10.0))
    fig = new_figure(side, side + 0.4)
    ax = fig.add_subplot()
    show_image(ax, _mosaic(cells, len(grid_y), len(grid_x), pad=0))
    _sparse_ticks(ax.xaxis, grid_x, arr.shape[3])
    _sparse_ticks(ax.yaxis, grid_y, arr.shape[2])
    ax.set_xlabel("z[0]", fontsize=LABEL_SIZE)
    ax.set_ylabel("z[1]", fontsize=LABEL_SIZE)
    ax.set_title(title, fontsize=TITLE_SIZE)
    return fig


def latent_grid(
    n: int,
    extent: float | tuple[float, float, float, float] = 3.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Evenly spaced latent coordinates per axis for `manifold_figure`.

    Parameters
    ----------
    n : int
        Points per axis, at least 1.
    extent : float or tuple of float, default 3.0
        A half-width (3.0 -> [-3, 3]^2) or (xmin, xmax, ymin, ymax).

    Returns
    -------
    grid_x, grid_y : numpy.ndarray
        float (n,) each: grid_x ascending, grid_y descending, so grid_y[0] is the top row of the mosaic.

    Raises
    ------
    ValueError
        n < 1, or an empty extent.
    """
    if n < 1:
        raise ValueError(f"n={n} is invalid: the grid needs at least 1 point per axis")
    xmin, xmax, ymin, ymax = (-extent, extent, -extent, extent) if np.isscalar(extent) else extent
    if not (xmin < xmax and ymin < ymax):
        raise ValueError(f"extent={extent!r} is invalid: give a half-width > 0 or xmin < xmax, ymin < ymax")
    if n == 1:  # a single point belongs in the middle, not at a corner
        return np.array([(xmin + xmax) / 2]), np.array([(ymin + ymax) / 2])
    return np.linspace(xmin, xmax, n), np.linspace(ymax, ymin, n)
