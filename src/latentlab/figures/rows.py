"""Rows of images: originals over reconstructions, and the denoising figure (original, noisy, code, decoded)."""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure

from latentlab.figures.style import (
    CELL_INCHES,
    CODE_CMAP,
    LABEL_SIZE,
    TITLE_SIZE,
    as_unit_images,
    new_figure,
    show_image,
)


def _image_rows(rows: list[tuple[str, np.ndarray, dict]], title: str, n: int) -> Figure:
    """One row of n image axes per (label, images, imshow style); the label is the row's y-axis label."""
    fig = new_figure(CELL_INCHES * n + 1.2, CELL_INCHES * len(rows) + 0.6)
    axes = fig.subplots(len(rows), n, squeeze=False, gridspec_kw={"wspace": 0.02, "hspace": 0.02})
    for r, (label, images, style) in enumerate(rows):
        for j in range(n):
            show_image(axes[r, j], images[j], **style)
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
    """The first `n` originals in the top row, their reconstructions underneath.

    Parameters
    ----------
    originals, reconstructions : numpy.ndarray
        Images, (N, H, W) or (N, H, W, 3) (or any layout `as_unit_images` takes), uint8 or floats in [0, 1].
    title : str, default "Reconstructions"
        The figure's title.
    n : int, default 10
        Columns.

    Returns
    -------
    matplotlib.figure.Figure
        Two rows of images.
    """
    originals = as_unit_images(originals, "originals")
    reconstructions = as_unit_images(reconstructions, "reconstructions")
    n = _first_n(n, originals=originals, reconstructions=reconstructions)
    return _image_rows([("original", originals, {}), ("reconstructed", reconstructions, {})], title, n)


def code_grid_shape(d: int) -> tuple[int, int]:
    """A near-square grid for drawing a code as a small image.

    Parameters
    ----------
    d : int
        Length of the code.

    Returns
    -------
    tuple of int
        (rows, cols): an exact factorisation unless it is too thin (32 -> (4, 8)); cells beyond d stay blank.
    """
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

    A d-long code is laid out on a near-square grid (32 -> 4x8; blank cells pad awkward sizes), coloured with
    viridis on one scale shared by the whole row so codes can be compared with each other.

    Parameters
    ----------
    originals, noisy, decoded : numpy.ndarray
        Images, (N, H, W) or (N, H, W, 3), uint8 or floats in [0, 1].
    codes : numpy.ndarray
        float (N, d) codes of the noisy images.
    title : str, default "Denoising"
        The figure's title.
    n : int, default 10
        Columns.

    Returns
    -------
    matplotlib.figure.Figure
        Four rows of images.
    """
    originals, noisy = as_unit_images(originals, "originals"), as_unit_images(noisy, "noisy")
    decoded = as_unit_images(decoded, "decoded")
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


def image_row_figure(images: np.ndarray, title: str = "Interpolation", label: str = "") -> Figure:
    """One row of images (N, H, W) or (N, H, W, 3) in [0, 1], e.g. a path between two codes."""
    images = as_unit_images(images)
    return _image_rows([(label, images, {})], title, len(images))


def class_rows_figure(images: np.ndarray, row_labels: list[str], title: str = "The same codes, class by class"
                      ) -> Figure:
    """A grid (C, N, H, W[, 3]) in [0, 1]: row c holds class c's images, column j the same code in every row."""
    if len(images) != len(row_labels):
        raise ValueError(f"{len(images)} rows of images but {len(row_labels)} row labels")
    return _image_rows([(label, as_unit_images(row), {}) for label, row in zip(row_labels, images, strict=True)],
                       title, images.shape[1])
