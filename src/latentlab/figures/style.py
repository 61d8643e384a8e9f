"""What every figure shares: the figure factory (object API, never pyplot), sizes, colour maps, pixel scaling and
the atomic PNG writer. Figures take NumPy arrays, never models or tensors."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from latentlab.errors import ConfigError
from latentlab.files import atomic_write_bytes

TITLE_SIZE = 13
LABEL_SIZE = 10
CELL_INCHES = 1.0  # one image per inch in the row figures; a 28x28 one at dpi=200 is ~7 screen px per pixel
IMAGE_CMAP = colormaps["gray"].with_extremes(bad="white")  # NaN (padding, empty cells) shows blank
CODE_CMAP = colormaps["viridis"].with_extremes(bad="white")  # codes are not images: a colour map says so


def new_figure(width: float, height: float) -> Figure:
    """A figure built through the object API (no pyplot state, so safe in a web server's threads).

    Parameters
    ----------
    width, height : float
        Size in inches.

    Returns
    -------
    matplotlib.figure.Figure
        Empty, with the house style's facecolour.
    """
    return Figure(figsize=(width, height), layout="constrained", facecolor="white")


def as_unit_images(images: np.ndarray, name: str = "images") -> np.ndarray:
    """Images in any of the usual layouts, as floats in [0, 1] ready to draw.

    uint8, and whole numbers above 1 in any dtype, are taken as 0..255; other values are clipped to [0, 1] (a
    decoder without a sigmoid can overshoot a little).

    Parameters
    ----------
    images : numpy.ndarray
        Grey (n, h, w), (n, 1, h, w) or square (n, h*h) pixels; colour (n, h, w, 3) or (n, 3, h, w).
    name : str, default "images"
        The argument's name, for the error message.

    Returns
    -------
    numpy.ndarray
        float (n, h, w) grey or (n, h, w, 3) colour, in [0, 1].

    Raises
    ------
    ValueError
        An empty array or another shape.
    """
    arr = np.asarray(images)
    floats = arr.astype(np.float64)
    whole_255 = floats.size > 0 and floats.max() > 1.0 and np.array_equal(floats, np.round(floats))
    if arr.dtype == np.uint8 or whole_255:
        floats = floats / 255.0
    if floats.ndim == 4 and floats.shape[1] == 1:
        floats = floats[:, 0]
    elif floats.ndim == 4 and floats.shape[1] == 3 and floats.shape[3] != 3:
        floats = floats.transpose(0, 2, 3, 1)  # channels first -> last, as matplotlib shows RGB
    if floats.ndim == 2 and math.isqrt(floats.shape[1]) ** 2 == floats.shape[1]:
        side = math.isqrt(floats.shape[1])
        floats = floats.reshape(len(floats), side, side)
    if not (floats.ndim == 3 or (floats.ndim == 4 and floats.shape[3] == 3)) or len(floats) == 0:
        raise ValueError(f"{name} must be a non-empty (n, h, w) grey or (n, h, w, 3) colour array, got shape "
                         f"{arr.shape}")
    return np.clip(floats, 0.0, 1.0)


def show_image(ax: Axes, image: np.ndarray, cmap=IMAGE_CMAP, vmin: float = 0.0, vmax: float = 1.0) -> None:
    """A grey (h, w) image through `cmap`, or a colour (h, w, 3) one as RGB, where NaN (padding) shows white."""
    if image.ndim == 3:
        rgba = np.concatenate([np.nan_to_num(image, nan=1.0), np.ones((*image.shape[:2], 1))], axis=2)
        ax.imshow(np.clip(rgba, 0.0, 1.0), interpolation="nearest")
    else:
        ax.imshow(image, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_linewidth(0.4)
        spine.set_color("0.6")


# File suffix -> the format matplotlib writes; a file is written in the format its name says.
FIGURE_FORMATS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".pdf": "pdf", ".svg": "svg"}


def save_figure(fig: Figure, path: str | Path, dpi: int = 200) -> Path:
    """Write a figure atomically: a reader (a web page, a report) never sees a half-written file.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.
    path : str or Path
        Its suffix names the format: .png, .jpg/.jpeg, .pdf or .svg.
    dpi : int, default 200
        Dots per inch (200 = 2x for sharp screens).

    Returns
    -------
    Path
        `path`.

    Raises
    ------
    ConfigError
        A suffix of no supported format.
    """
    fmt = FIGURE_FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise ConfigError(f"cannot write a figure to {str(path)!r}: name the file with one of the suffixes "
                          f"{', '.join(FIGURE_FORMATS)} (it sets the format)",
                          field="path", value=str(path), allowed=tuple(FIGURE_FORMATS))
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi, facecolor=fig.get_facecolor())
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)
