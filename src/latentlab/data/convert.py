"""Images brought to another size or to grey on purpose (`load_dataset(..., image_size=, grayscale=)`, on the
command line `--image-size HxW` and `--grayscale`), and the sides a model's images must keep (config.MIN_MODEL_SIDE to
config.MAX_MODEL_SIDE). Every conversion is said on the data set's source line."""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np

from latentlab.config import MAX_MODEL_SIDE, MIN_MODEL_SIDE
from latentlab.data.base import ImageData, image_shape_of
from latentlab.errors import ConfigError, DatasetError
from latentlab.images import conform

_SIZE = re.compile(r"\s*(\d+)\s*(?:[xX×,]\s*(\d+))?\s*")


def parse_size(value: str | int | tuple[int, int] | list[int] | None) -> tuple[int, int] | None:
    """(height, width) of "32x32" / "64x48" (height x width), "32", 32 or (32, 32); None stays None. ConfigError
    for anything else or a side outside MIN_MODEL_SIDE..MAX_MODEL_SIDE."""
    if value is None:
        return None
    if isinstance(value, str):
        m = _SIZE.fullmatch(value)
        if m is None:
            raise ConfigError(f"image_size={value!r} is invalid: HEIGHTxWIDTH in pixels, e.g. 32x32 or 64x48",
                              field="image_size", value=value)
        size = (int(m[1]), int(m[2] or m[1]))
    elif isinstance(value, int):
        size = (value, value)
    else:
        size = tuple(int(v) for v in value)  # type: ignore[assignment]
    if len(size) != 2 or not all(MIN_MODEL_SIDE <= v <= MAX_MODEL_SIDE for v in size):
        raise ConfigError(f"image_size={value!r} is invalid: (height, width) with sides in [{MIN_MODEL_SIDE}, "
                          f"{MAX_MODEL_SIDE}]", field="image_size", value=value)
    return size  # type: ignore[return-value]


def suggest_size(h: int, w: int, longest: int = 64) -> tuple[int, int]:
    """A size with the aspect of (h, w) and the longer side `longest`, for error messages."""
    scale = longest / max(h, w)
    return max(MIN_MODEL_SIDE, round(h * scale)), max(MIN_MODEL_SIDE, round(w * scale))


def check_sides(shape: tuple[int, ...], where: str) -> None:
    """DatasetError naming `where` if the images (channels, height, width) are outside what a model takes."""
    _, h, w = shape
    if max(h, w) > MAX_MODEL_SIDE:
        sh, sw = suggest_size(h, w)
        raise DatasetError(f"{where}: the images are {h}x{w} (height x width), over the {MAX_MODEL_SIDE}x"
                           f"{MAX_MODEL_SIDE} limit of a model; resize them on purpose with image_size=({sh}, {sw}) "
                           f"(on the command line --image-size {sh}x{sw})", field="image_size", value=(h, w))
    if min(h, w) < MIN_MODEL_SIDE:
        raise DatasetError(f"{where}: the images are {h}x{w} (height x width), under the {MIN_MODEL_SIDE}x"
                           f"{MIN_MODEL_SIDE} a model needs; resize them with image_size=(28, 28) (--image-size 28x28)",
                           field="image_size", value=(h, w))


def to_grey(x: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W, 3) -> (N, H, W) by luminance, bit for bit as Pillow's convert("L") (ITU-R 601-2 in 16.16
    fixed point), so an array set and an image folder converted on purpose agree."""
    rgb = x.astype(np.uint32)
    return ((rgb[..., 0] * 19595 + rgb[..., 1] * 38470 + rgb[..., 2] * 7471 + 0x8000) >> 16).astype(np.uint8)


def resize(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 images (N, H, W) or (N, H, W, 3) resized to `size` (height, width), one at a time as `conform` does."""
    c = image_shape_of(x)[0]
    out = np.empty((len(x), *size, *((3,) if c == 3 else ())), np.uint8)
    for i, image in enumerate(x):
        out[i] = conform(image, (c, *size))[0]
    return out


def convert(data: ImageData, image_size: tuple[int, int] | None = None, grayscale: bool = False) -> ImageData:
    """`data` in grey (`grayscale`) and at `image_size` (height, width), with what was done appended to its source
    line; `data` itself when nothing needs doing (an image folder read with these options already is)."""
    c, h, w = data.image_shape
    notes = []
    x_train, x_test = data.x_train, data.x_test
    if grayscale and c == 3:
        x_train, x_test = to_grey(x_train), to_grey(x_test)
        notes.append("converted to grey on purpose (grayscale)")
    if image_size is not None and tuple(image_size) != (h, w):
        x_train, x_test = resize(x_train, image_size), resize(x_test, image_size)
        notes.append(f"resized from {h}x{w} to {image_size[0]}x{image_size[1]} (height x width) on purpose "
                     "(image_size)")
    if not notes:
        return data
    # Converted images are no longer framed as `data.layout` says: files are then framed as these images frame theirs.
    return replace(data, x_train=x_train, x_test=x_test, source=f"{data.source}; {'; '.join(notes)}", layout=None)
