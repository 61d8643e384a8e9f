"""Untrusted image bytes -> a 28x28 uint8 image as the models see it; arrays -> PNG.

An upload is checked by its content, never by its file name: Pillow may only try the decoders listed in
``FORMATS``, the byte count is capped, and the pixel count is read from the header and refused before any
pixel is decoded, so a small file that expands to gigabytes (a decompression bomb) never gets that far.
"""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image, UnidentifiedImageError

MAX_UPLOAD_BYTES = 2 * 1024 * 1024
MAX_SIDE = 4096
MAX_PIXELS = MAX_SIDE * MAX_SIDE
FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP")
SIDE = 28


class UploadError(ValueError):
    """An upload that cannot be used; `status` is the HTTP status that says why (400, 413 or 415)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def open_image(data: bytes) -> np.ndarray:
    """Grayscale pixels in [0, 1], shape (H, W), of an uploaded image; raises `UploadError`."""
    if not data:
        raise UploadError(400, "the upload is empty; send a PNG or JPEG image")
    if len(data) > MAX_UPLOAD_BYTES:
        raise UploadError(413, f"the upload is {len(data):,} bytes; the limit is {MAX_UPLOAD_BYTES:,} bytes (2 MB)")
    try:
        im = Image.open(io.BytesIO(data), formats=FORMATS)
    except UnidentifiedImageError:
        raise UploadError(415, f"the upload is not an image in a supported format ({', '.join(FORMATS)}); "
                               "its content was checked, not its name") from None
    except Image.DecompressionBombError:
        raise UploadError(413, f"the image declares too many pixels; the limit is {MAX_SIDE}x{MAX_SIDE}") from None
    w, h = im.size
    # The header is all Pillow has read so far: refuse big images before their pixels are decoded.
    if w > MAX_SIDE or h > MAX_SIDE or w * h > MAX_PIXELS:
        raise UploadError(413, f"the image is {w}x{h} pixels; the limit is {MAX_SIDE}x{MAX_SIDE}")
    if w == 0 or h == 0:
        raise UploadError(400, "the image has no pixels")
    try:
        im.load()
        return _gray(im)
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as exc:
        raise UploadError(400, f"the {im.format} image could not be decoded ({exc}); it may be truncated") from None


def _gray(im: Image.Image) -> np.ndarray:
    if im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info:
        rgba = np.asarray(im.convert("RGBA"), np.float32) / 255.0
        lum = rgba[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32)
        alpha = rgba[..., 3]
        # Put the strokes on a background they stand out from: dark ink on white, light ink on black.
        ink = float((lum * alpha).sum() / max(float(alpha.sum()), 1e-6))
        background = 1.0 if ink < 0.5 else 0.0
        return lum * alpha + background * (1.0 - alpha)
    return np.asarray(im.convert("L"), np.float32) / 255.0


def typical_frame(x: np.ndarray, n: int = 500) -> int:
    """Median longest side of the objects' bounding boxes in uint8 images (N, 28, 28): ~20 for MNIST, 28 for
    Fashion-MNIST. Drawn and uploaded images are scaled to it, so they look like the data the model knows."""
    sides = []
    for img in x[:n]:
        rows, cols = np.nonzero(img > 25)
        if len(rows):
            sides.append(max(rows.max() - rows.min(), cols.max() - cols.min()) + 1)
    return int(np.clip(np.median(sides), 8, SIDE)) if sides else 20


def to_model_input(gray: np.ndarray, frame: int = 20) -> np.ndarray:
    """MNIST-style preprocessing: light strokes on black, the object scaled so its longest side is `frame`
    pixels and its centre of mass placed at the centre of a 28x28 uint8 image."""
    g = np.asarray(gray, np.float32)
    border = np.concatenate([g[0], g[-1], g[:, 0], g[:, -1]])
    if np.median(border) > 0.5:  # dark ink on light paper: invert, since the data sets are white on black
        g, border = 1.0 - g, 1.0 - border
    background = float(np.median(border))
    top = float(g.max())
    out = np.zeros((SIDE, SIDE), np.uint8)
    if top - background < 1e-3:
        return out  # a blank image stays blank
    g = np.clip((g - background) / (top - background), 0.0, 1.0)
    rows, cols = np.nonzero(g > 0.1)
    g = g[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    h, w = g.shape
    scale = frame / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    patch = np.asarray(Image.fromarray((g * 255).astype(np.uint8)).resize(size, Image.Resampling.LANCZOS))
    ph, pw = patch.shape
    mass = patch.astype(np.float64)
    total = mass.sum()
    cy = (mass.sum(1) @ np.arange(ph)) / total if total else ph / 2
    cx = (mass.sum(0) @ np.arange(pw)) / total if total else pw / 2
    top_row = int(np.clip(round(SIDE / 2 - 0.5 - cy), 0, SIDE - ph))
    left = int(np.clip(round(SIDE / 2 - 0.5 - cx), 0, SIDE - pw))
    out[top_row:top_row + ph, left:left + pw] = patch
    return out


def png(image: np.ndarray) -> bytes:
    """PNG bytes of a grayscale image: uint8, or float in [0, 1]."""
    a = np.asarray(image)
    if a.dtype != np.uint8:
        a = (np.clip(a, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


def data_url(image: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(png(image)).decode("ascii")
