"""The pixels of a decoded image: grey (what the digit pipeline of `latentlab.images` reads), colour kept (native
reads), and `conform`, which brings uint8 pixels to a model's (channels, height, width).

A helper of `latentlab.images`; numpy and Pillow only.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

# An RGB file whose channels differ by at most this many levels (of 255) everywhere is grey: JPEG's chroma rounding
# leaves a level or two on a grey picture saved as RGB, and a real colour image differs by far more somewhere.
GREY_TOLERANCE = 3
_GREY_MODES = ("1", "L", "LA", "La", "I", "F")


def gray_pixels(im: Image.Image, fmt: str) -> tuple[np.ndarray, list[str]]:
    """Grayscale float32 (H, W) in [0, 1] of a loaded image, and the steps that took."""
    if im.mode.startswith("I;16"):
        return np.asarray(im, np.float32) / 65535.0, ["16-bit pixels scaled to [0, 1]"]
    if im.mode in ("I", "F"):
        a = np.nan_to_num(np.asarray(im, np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        lo, hi = float(a.min()), float(a.max())
        if im.mode == "F" and lo >= 0.0 and hi <= 1.0:
            return a.astype(np.float32), []
        # Integer pixels say nothing of their depth: take the smallest usual one that holds them (a PNG's I is 16-bit).
        depth = next((d for d in (8, 16, 32) if hi < 2**d), None)
        if fmt == "PNG" and depth is not None:
            depth = max(depth, 16)
        if lo < 0 or depth is None:
            return ((a - lo) / (hi - lo or 1.0)).astype(np.float32), [f"pixels stretched from [{lo:g}, {hi:g}]"]
        return (a / (2**depth - 1)).astype(np.float32), [f"{depth}-bit {im.mode} pixels scaled to [0, 1]"]
    if "A" in im.getbands() or "transparency" in im.info:
        rgba = im.convert("RGBA")
        alpha = np.asarray(rgba.getchannel("A"), np.float32) / 255.0
        if alpha.max() == 0.0:
            return alpha, ["fully transparent"]
        if alpha.min() < 1.0:
            lum = np.asarray(rgba.convert("L"), np.float32) / 255.0  # the colour under the alpha, whatever it is
            paper, where = _paper(lum, alpha)
            return lum * alpha + paper * (1.0 - alpha), [f"alpha composited on {where}"]
        im = rgba
    return np.asarray(im.convert("L"), np.float32) / 255.0, []


def _paper(lum: np.ndarray, alpha: np.ndarray) -> tuple[float, str]:
    # The background is whichever of black and white the visible ink stands out from: the colour of fully
    # transparent pixels is arbitrary (black, white, a palette entry) and must not count.
    ink = float((lum * alpha).sum() / max(float(alpha.sum()), 1e-6))
    return (1.0, "white (dark ink)") if ink < 0.5 else (0.0, "black (light ink)")


def colour_pixels(im: Image.Image, fmt: str) -> tuple[np.ndarray, list[str]]:
    """Float32 in [0, 1] of a loaded image with its colour kept: (H, W, 3) for colour content, (H, W) for grey
    (grey modes, and RGB whose channels agree within `GREY_TOLERANCE`); transparency composited as `gray_pixels`
    does, on white or black."""
    if im.mode in _GREY_MODES or im.mode.startswith("I;16"):
        return gray_pixels(im, fmt)
    steps: list[str] = []
    if "A" in im.getbands() or "transparency" in im.info:
        rgba = np.asarray(im.convert("RGBA"), np.float32) / 255.0
        rgb, alpha = rgba[..., :3], rgba[..., 3:]
        if alpha.max() == 0.0:
            return alpha[..., 0], ["fully transparent"]
        if alpha.min() < 1.0:
            paper, where = _paper(_luma(rgb), alpha[..., 0])
            rgb = rgb * alpha + paper * (1.0 - alpha)
            steps.append(f"alpha composited on {where}")
    else:
        rgb = np.asarray(im.convert("RGB"), np.float32) / 255.0
    if float(np.ptp(rgb, axis=2).max(initial=0.0)) * 255.0 <= GREY_TOLERANCE + 0.5:
        return _luma(rgb), steps
    return rgb, steps


def _luma(rgb: np.ndarray) -> np.ndarray:
    # ITU-R 601-2, the weights of Pillow's convert("L").
    return rgb @ np.array([0.299, 0.587, 0.114], np.float32)


def conform(pixels: np.ndarray, shape: tuple[int, ...]) -> tuple[np.ndarray, tuple[str, ...]]:
    """uint8 (H, W) or (H, W, 3) -> uint8 of `shape` (channels, height, width), channels last: (height, width) for
    one channel, (height, width, 3) for three; and the steps, in words. Colour becomes grey by luminance (Pillow's
    "L"), grey becomes colour by copying it to the three channels, and any other size is resized (Lanczos)."""
    c, h, w = shape
    a = np.asarray(pixels, np.uint8)
    steps = []
    if c == 1 and a.ndim == 3:
        a = np.asarray(Image.fromarray(a, "RGB").convert("L"))
        steps.append("converted to grey (luminance)")
    if a.shape[:2] != (h, w):
        steps.append(f"resized {a.shape[0]}x{a.shape[1]} -> {h}x{w} (height x width, as --image-size)")
        a = np.asarray(Image.fromarray(a).resize((w, h), Image.Resampling.LANCZOS))
    if c == 3 and a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
        steps.append("grey copied to the 3 colour channels")
    return np.require(a, np.uint8, ["C", "W"]), tuple(steps)  # Pillow's arrays are read-only; torch warns on those
