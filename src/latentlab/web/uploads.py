"""Untrusted image bytes -> a 28x28 uint8 image as the models see it; arrays -> PNG.

An upload is checked by its content, never by its file name: Pillow may only try the decoders listed in
``FORMATS``, the byte count is capped, and the pixel count is read from the header and refused before any
pixel is decoded, so a small file that expands to gigabytes (a decompression bomb) never gets that far.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

MAX_UPLOAD_BYTES = 2 * 1024 * 1024
MAX_SIDE = 4096
MAX_PIXELS = MAX_SIDE * MAX_SIDE
FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP")
SIDE = 28
CORE = 0.15  # share of the brightest value that counts as part of the object


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


@dataclass(frozen=True)
class Layout:
    """How the data set frames its objects: the longest side of an object's bounding box (`frame`, ~20 px for
    MNIST, 28 for Fashion-MNIST) and the point its centre of mass (MNIST) or its box (Fashion-MNIST) sits on.
    Drawn and uploaded images are laid out the same way, so they look like the data the model knows."""

    frame: int = 20
    by: str = "mass"  # "mass" or "box"
    centre: tuple[float, float] = (14.0, 14.0)  # (row, column)

    @classmethod
    def of(cls, x: np.ndarray, n: int = 1000) -> Layout:
        """The layout of uint8 images (N, 28, 28), from up to `n` of them."""
        stats = [s for s in (_measure(img / 255.0) for img in x[:n]) if s is not None]
        if not stats:
            return cls()
        side, mass, box = (np.array(v, np.float64) for v in zip(*stats, strict=True))
        # Whichever centre the data set pins down more tightly is the one its images were aligned on.
        by, centres = ("mass", mass) if mass.std(0).sum() <= box.std(0).sum() else ("box", box)
        c = centres.mean(0)
        return cls(int(np.clip(np.median(side), 8, SIDE)), by, (float(c[0]), float(c[1])))


def _core(g: np.ndarray) -> tuple[slice, slice] | None:
    # The bounding box of the clearly lit pixels: faint edges and background noise do not stretch it.
    rows, cols = np.nonzero(g > CORE * g.max()) if g.max() > 0 else ((), ())
    if not len(rows):
        return None
    return slice(rows.min(), rows.max() + 1), slice(cols.min(), cols.max() + 1)


def _centre_of_mass(g: np.ndarray) -> tuple[float, float]:
    total = float(g.sum())
    return (float(g.sum(1) @ np.arange(g.shape[0])) / total, float(g.sum(0) @ np.arange(g.shape[1])) / total)


def _measure(g: np.ndarray) -> tuple[int, tuple[float, float], tuple[float, float]] | None:
    box = _core(g)
    if box is None:
        return None
    rows, cols = box
    side = max(rows.stop - rows.start, cols.stop - cols.start)
    return side, _centre_of_mass(g), ((rows.start + rows.stop - 1) / 2, (cols.start + cols.stop - 1) / 2)


def to_model_input(gray: np.ndarray, layout: Layout | None = None) -> np.ndarray:
    """MNIST-style preprocessing into a 28x28 uint8 image: light strokes on black (a light background is
    inverted); a 28x28 image is then taken as it is, a larger one is cropped to the object, scaled to the
    data set's frame and centred as the data set centres its images (see `Layout`)."""
    layout = layout or Layout()
    g = np.asarray(gray, np.float32)
    border = np.concatenate([g[0], g[-1], g[:, 0], g[:, -1]])
    if np.median(border) > 0.5:  # dark ink on light paper: invert, since the data sets are white on black
        g, border = 1.0 - g, 1.0 - border
    if g.shape == (SIDE, SIDE):  # already the data's format (a test image, an exported sample): keep it
        return (np.clip(g, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    background = float(np.median(border))
    top = float(g.max())
    out = np.zeros((SIDE, SIDE), np.uint8)
    if top - background < 1e-3:
        return out  # a blank image stays blank
    g = np.clip((g - background) / (top - background), 0.0, 1.0)
    rows, cols = _core(g)
    scale = layout.frame / max(rows.stop - rows.start, cols.stop - cols.start)
    # Crop a margin around the core, so the strokes' soft edges survive the resize.
    margin = int(np.ceil(2 / scale))
    rows = slice(max(0, rows.start - margin), min(g.shape[0], rows.stop + margin))
    cols = slice(max(0, cols.start - margin), min(g.shape[1], cols.stop + margin))
    g = g[rows, cols]
    size = (max(1, round(g.shape[1] * scale)), max(1, round(g.shape[0] * scale)))
    patch = np.asarray(Image.fromarray((g * 255).astype(np.uint8)).resize(size, Image.Resampling.LANCZOS))
    measured = _measure(patch / 255.0)
    if measured is None:
        return out
    cy, cx = measured[1] if layout.by == "mass" else measured[2]
    # Put the patch's centre on the data set's; whatever falls outside the 28x28 frame is cut off.
    top_row, left = round(layout.centre[0] - cy), round(layout.centre[1] - cx)
    r0, c0 = max(0, top_row), max(0, left)
    r1, c1 = min(SIDE, top_row + patch.shape[0]), min(SIDE, left + patch.shape[1])
    if r1 > r0 and c1 > c0:
        out[r0:r1, c0:c1] = patch[r0 - top_row:r1 - top_row, c0 - left:c1 - left]
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
