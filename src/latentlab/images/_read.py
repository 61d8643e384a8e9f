"""Decoded pixels -> the uint8 image a model sees (28x28 grey by default, or any (channels, height, width) a run was
trained on). The one image reader of latentlab.

Decoding (`_decode`) gives grayscale float32 in [0, 1]: first frame of an animation, EXIF orientation applied,
16/32-bit and float pixels scaled by their depth, transparency composited on the background the ink stands out from.
With ``auto`` on, `to_model_input` then makes it look like the data: light strokes on black (a light background is
inverted), cropped to the object, fitted to the data set's frame and centred as the data set centres (`Layout`).
Those steps are for grey digit-like data only. Colour, and images kept at their own size, are only decoded (colour
kept by `read_native`: transparency composited, EXIF orientation, deep pixels) and brought to a model's shape by
`conform` (grey <-> colour, a resize). Every change is named in `Prepared.steps`; every refusal is an `ImageError`
(or one of its kinds).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from PIL import Image

from latentlab.errors import ConfigError, ImageError
from latentlab.images._arrays import to_uint8 as _u8
from latentlab.images._decode import _decode, _source
from latentlab.images._layout import Layout, fit, ink_level
from latentlab.images._objects import BLANK, ink_of, is_blank, separate_objects
from latentlab.images._paper import EDGE_PLAIN, GRAIN, fit_paper
from latentlab.images._pixels import conform

_EMPTY = "blank image: nothing stands out from the background"


@dataclass(frozen=True, eq=False)  # eq=False: arrays have no single truth value to compare by
class Prepared:
    """A model input: `pixels` uint8, (height, width) for grey (light strokes on black after the automatic steps)
    or (height, width, 3) for colour; `steps` says in words what was done to the file (empty when nothing was);
    `source_size` is (height, width) of the decoded, upright image, as --image-size and the steps give sizes.
    `objects` is how many separate objects the automatic steps found in it (1 when not counted: colour, auto off,
    a picture without plain paper); `several` says they are more than one object of the training data shows
    (`Layout.objects`): the image is not one digit or one garment, and a detector's verdict on it means nothing
    until it is cropped to one. `blank` says nothing stands out from its background (an empty page, at any size and
    polarity): there is nothing to judge, whatever a detector scores it."""

    pixels: np.ndarray
    steps: tuple[str, ...]
    source_size: tuple[int, int]
    objects: int = 1
    several: bool = False
    blank: bool = False


def read_image(source: str | os.PathLike[str] | bytes, *, layout: Layout | None = None, auto: bool = True,
               max_bytes: int | None = None, shape: tuple[int, ...] | None = None) -> Prepared:
    """Bytes (an upload) or a path (a local file) -> `Prepared` of `shape` (channels, height, width); None: the grey
    side x side input of `layout` (28x28 by default). The automatic steps (`to_model_input`) are for grey digit-like
    data: they run for one channel and a square shape, with `auto` on. Otherwise, and for colour, the file is only
    decoded and brought to `shape` by `conform` (grey or colour conversion, a resize), exactly as `read_native` then
    `conform` do. `max_bytes` None caps bytes at `MAX_UPLOAD_BYTES` and a file at `MAX_FILE_BYTES`.
    Raises `ImageError` (unreadable, empty, truncated or too small), `ImageTooLargeError`, `ImageFormatError`."""
    if shape is not None and (len(shape) != 3 or not all(isinstance(v, int | np.integer) and v > 0 for v in shape)):
        raise ConfigError(f"shape={tuple(shape)!r} is invalid: give (channels, height, width), e.g. (1, 28, 28) for "
                          "a grey 28x28 run (a run's own is run.model.image_shape)", field="shape", value=shape)
    data, name, cap = _source(source, max_bytes)
    side = (layout or Layout()).side
    c, h, w = shape if shape is not None else (1, side, side)
    if c == 1 and h == w:
        if layout is not None and layout.side != h:
            raise ImageError(f"layout.side={layout.side} does not fit shape={tuple(shape or ())}; pass a Layout of "
                             f"side {h}", field="layout", value=layout.side)
        gray, steps = _decode(data, name, cap)
        layout = layout or Layout.for_side(h)
        pixels, more = to_model_input(gray, layout, auto)
        size = (gray.shape[0], gray.shape[1])
        # Counted on the model input as the training images were (`Layout.of`): framed ink on black, or, for data
        # kept as drawn, what stands out from the paper; a picture without plain paper, or data of pictures (photo
        # tiles: `Layout.drawn`), is not counted.
        ink = ink_of(pixels, layout.on_black) if auto and (layout.on_black or layout.drawn) else None
        if ink is None:
            return Prepared(pixels, (*steps, *more), size)
        if is_blank(ink):
            said = any(step.startswith("blank image") for step in more)
            return Prepared(pixels, (*steps, *more, *(() if said else (_EMPTY,))), size, 0, blank=True)
        n, found = separate_objects(pixels if layout.on_black else ink, layout.objects)
        return Prepared(pixels, (*steps, *more, *found), size, max(n, 1), bool(found))
    native = _native(data, name, cap, grayscale=c == 1)
    pixels, more = conform(native.pixels, (c, h, w))
    return Prepared(pixels, (*native.steps, *more), native.source_size)


def layout_for(shape: tuple[int, ...], x_train: np.ndarray | None = None,
               framed: Layout | None = None) -> Layout | None:
    """How uploads for a run of `shape` are framed: for grey square runs exactly as its training images were framed
    when the data set framed them itself (`framed`: an image folder read through the digit pipeline, whose
    `ImageData.layout` says how), else as its training images `x_train` frame their objects (`Layout.of`; MNIST's
    framing at that size without them); None for colour and other shapes, which are only resized. `latentlab
    detect`, `latentlab interpolate` and the web page all ask this, so a file gives the same input in each, and a
    training file the input it was trained as."""
    c, h, w = shape
    if c != 1 or h != w:
        return None
    if framed is not None:
        return framed
    return Layout.of(x_train) if x_train is not None else Layout.for_side(h)


def read_native(source: str | os.PathLike[str] | bytes, *, grayscale: bool = False,
                max_bytes: int | None = None) -> Prepared:
    """The file at its own size with its colour kept: `pixels` uint8 (H, W) for grey content, (H, W, 3) for colour.
    Only decoding is done (first frame, EXIF orientation, deep pixels scaled, transparency composited); with
    `grayscale`, colour is read as grey exactly as `read_image` reads it for one channel. Raises as `read_image`."""
    return _native(*_source(source, max_bytes), grayscale=grayscale)


def _native(data: bytes, name: str, cap: int, grayscale: bool) -> Prepared:
    pixels, steps = _decode(data, name, cap, colour=not grayscale)
    return Prepared(_u8(pixels), tuple(steps), (pixels.shape[0], pixels.shape[1]))


def to_model_input(gray: np.ndarray, layout: Layout | None = None,
                   auto: bool = True) -> tuple[np.ndarray, tuple[str, ...]]:
    """Grayscale float (H, W) in [0, 1] -> (uint8 (side, side), steps). With `auto`: a side x side image is kept as
    it is (a light background inverted). Any other is a drawing on paper when its border is plain (`fit_paper`:
    even, or lit unevenly but smoothly, or mostly so with ink touching it): the paper is taken out, dark ink on
    light paper inverted, the object cropped, fitted to ``layout.frame`` keeping its aspect, centred as ``layout``
    says and brought to ``layout.ink``; a blank one gives zeros. A picture without a plain border, and every image
    without `auto`, is only resized to side x side. Raises `ImageError` if `gray` is not a 2-D array."""
    layout = layout or Layout()
    s = layout.side
    g = np.clip(np.nan_to_num(np.asarray(gray, np.float32)), 0.0, 1.0)
    if g.ndim != 2 or g.size == 0:
        raise ImageError(f"expected a grayscale image (H, W); got an array of shape {g.shape}",
                         field="images", value=g.shape)
    h, w = g.shape
    if not auto or not layout.on_black:
        if g.shape == (s, s):
            return _u8(g), ()
        why = "auto off" if not auto else "the run's images are not objects on black: no digit steps"
        return _resize(g, (s, s)), (f"resized {h}x{w} -> {s}x{s} (height x width; {why})",)
    steps: list[str] = []
    if g.shape == (s, s):  # already the data's format (a test image, an exported sample): at most inverted
        border = np.concatenate([g[0], g[-1], g[:, 0], g[:, -1]])
        background = float(np.median(border))
        if background - float(g.min()) > float(g.max()) - background:
            g, background = 1.0 - g, 1.0 - background
            steps.append("inverted: light background")
        spread = float(g.max()) - background
        # Nothing stands out more than the paper's grain does (fitted only for faint images: most are clear).
        if spread < BLANK or (spread < 8 * BLANK and spread < GRAIN * fit_paper(g).noise):
            return np.zeros((s, s), np.uint8), (*steps, _EMPTY)
        return _u8(g), tuple(steps)
    paper = fit_paper(g)
    if not paper.is_plain:
        # Cropping and centring assume an object on plain paper; a photograph framed like a digit became a grey
        # smudge that the pixel views found digit-like (scikit-learn's china.jpg was accepted by an MNIST run).
        both = " and the rest departs both lighter and darker" if paper.plain >= EDGE_PLAIN else ""
        return _resize(g, (s, s)), (f"no plain background ({paper.plain:.0%} of the border is even{both}): a "
                                    f"picture, not a drawing on paper; only resized {h}x{w} -> {s}x{s} (height x "
                                    "width), as with auto off",)
    # The ink is whatever differs most from the paper: darker than it means dark ink on light paper.
    ink = g - paper.surface
    if float(-ink.min()) > float(ink.max()):
        ink = -ink
        steps.append("inverted: light background")
    top = float(ink.max())
    if top < max(BLANK, GRAIN * paper.noise):  # nothing stands out from the paper more than its grain does
        return np.zeros((s, s), np.uint8), (*steps, _EMPTY)
    out, (bw, bh) = fit(np.clip(ink / top, 0.0, 1.0), layout)
    # Then as bright as the data's objects: resampling to ~20 px dims thin strokes, and a faint pencil line or a
    # photo's greys would otherwise be judged against MNIST's saturated ink by brightness, not shape.
    level = ink_level(out)
    gain = layout.ink / level if level > 0 else 1.0
    out = np.clip(out * gain, 0.0, 1.0)
    level_steps = []
    if paper.spread >= 4 / 255:
        level_steps.append(f"uneven background {paper.surface.min() * 255:.0f}-{paper.surface.max() * 255:.0f} -> 0")
    elif paper.level > 2 / 255:
        level_steps.append(f"background {paper.level * 255:.0f} -> 0")
    if abs(layout.ink - top * level) > 2 / 255:
        level_steps.append(f"ink {top * level * 255:.0f} -> {layout.ink * 255:.0f} like the data's")
    if level_steps:
        steps.append("levels stretched: " + ", ".join(level_steps))
    steps.append(f"cropped and centred ({h}x{w} -> {s}x{s}, height x width): the {bh}x{bw} object fitted to "
                 f"{layout.frame} px, its {'centre of mass' if layout.by == 'mass' else 'box'} on "
                 f"({layout.centre[0]:.1f}, {layout.centre[1]:.1f})")
    return _u8(out), tuple(steps)


def _resize(g: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    # In 8 bits, as the old readers did: an opaque 8-bit file gives exactly the pixels it gave before.
    return np.asarray(Image.fromarray(_u8(g)).resize(size, Image.Resampling.LANCZOS))


