"""Untrusted bytes or a path -> decoded pixels, judged by content, never by name.

Only the decoders in ``FORMATS`` are tried, the byte count is capped (``MAX_UPLOAD_BYTES`` for bytes, which come from
the web; ``MAX_FILE_BYTES`` for a path, a local file being trusted more), and the pixel count is read from the header
and refused (`ImageTooLargeError`) before any pixel is decoded, whatever ``PIL.Image.MAX_IMAGE_PIXELS`` says, so a
small file that expands to gigabytes never gets that far. Sides under ``MIN_DECODE_SIDE`` (8) are refused: MNIST's
digits are ~20 px tall, and below 8 px strokes cannot be told apart.
"""

from __future__ import annotations

import io
import os
import struct

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from latentlab.errors import ImageError, ImageFormatError, ImageTooLargeError
from latentlab.images._layout import MAX_DECODE_SIDE, MIN_DECODE_SIDE
from latentlab.images._pixels import colour_pixels, gray_pixels

MAX_UPLOAD_BYTES = 2 * 1024 * 1024
_LIMIT = f"{MAX_DECODE_SIDE}x{MAX_DECODE_SIDE}"
MAX_FILE_BYTES = 64 * 1024 * 1024
FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP")
# What Pillow's decoders raise on damaged data (IndexError: a GIF cut inside a frame header, found by fuzzing).
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, IndexError, KeyError, TypeError, ZeroDivisionError,
                  struct.error, Image.DecompressionBombError)


def _source(source: str | os.PathLike[str] | bytes, max_bytes: int | None) -> tuple[bytes, str, int]:
    """(the bytes, what messages call them, the cap they were read under)."""
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source), "the upload", MAX_UPLOAD_BYTES if max_bytes is None else max_bytes
    name = os.fspath(source)
    cap = MAX_FILE_BYTES if max_bytes is None else max_bytes
    try:
        with open(name, "rb") as f:
            return f.read(cap + 1), name, cap  # one byte over the cap is enough to know it is too big
    except OSError as exc:
        raise ImageError(f"{name} cannot be read ({exc.strerror or exc}); check the path and its permissions",
                         field="images", value=name) from None


def decode(data: bytes, *, name: str = "the upload", max_bytes: int = MAX_UPLOAD_BYTES) -> np.ndarray:
    """Grayscale float32 (H, W) in [0, 1] of an encoded image: first frame, EXIF orientation applied, deep pixels
    scaled, transparency composited. `name` is what error messages call it. Raises `ImageError` as `read_image`."""
    return _decode(data, name, max_bytes)[0]


def _decode(data: bytes, name: str, max_bytes: int, colour: bool = False) -> tuple[np.ndarray, list[str]]:
    """Float32 pixels in [0, 1] and the steps: grey (H, W), or with `colour` as `colour_pixels` gives them."""
    if not data:
        raise ImageError(f"{name} is empty; send a PNG, JPEG, GIF, BMP or WebP image", field="images", value=name)
    if len(data) > max_bytes:
        raise ImageTooLargeError(f"{name} is over {max_bytes:,} bytes, the limit ({max_bytes / 2**20:g} MB); "
                                 "send a smaller file", field="images", value=name)
    declared = _declared_size(data)
    if declared is not None:  # refuse before Pillow sees it: its WebP decoder allocates the canvas on opening
        _check_size(*declared, name)
    try:
        im = Image.open(io.BytesIO(data), formats=FORMATS)
    except UnidentifiedImageError:
        raise ImageFormatError(f"{name} is not an image in a supported format ({', '.join(FORMATS)}); its content "
                               "was checked, not its name; send a PNG or JPEG image",
                               field="images", value=name) from None
    except Image.DecompressionBombError:
        raise ImageTooLargeError(f"{name} declares too many pixels; the limit is {_LIMIT}; scale it down",
                                 field="images", value=name) from None
    except _DECODE_ERRORS as exc:
        raise ImageError(f"{name} could not be read as an image ({exc}); re-save it as PNG or JPEG",
                         field="images", value=name) from None
    with im:
        _check_size(*im.size, name)  # only the header has been read so far
        fmt = im.format or ""  # before exif_transpose, whose copy has none
        try:
            steps = ["first frame of an animation"] if getattr(im, "is_animated", False) else []
            orientation = im.getexif().get(0x0112, 1)  # the EXIF Orientation tag
            im.load()
            if orientation in range(2, 9):
                im = ImageOps.exif_transpose(im)
                steps.append(f"turned upright (EXIF orientation {orientation})")
            pixels, more = (colour_pixels if colour else gray_pixels)(im, fmt)
        except _DECODE_ERRORS as exc:
            raise ImageError(f"{name} could not be decoded as {fmt} ({exc}); it may be truncated or damaged; "
                             "send the whole file or re-save it", field="images", value=name) from None
    return pixels, steps + more


def _check_size(w: int, h: int, name: str) -> None:
    if w > MAX_DECODE_SIDE or h > MAX_DECODE_SIDE:
        raise ImageTooLargeError(f"{name} is {h}x{w} pixels (height x width); the limit is {_LIMIT}; scale it "
                                 "down", field="images", value=name)
    if min(w, h) < MIN_DECODE_SIDE:
        raise ImageError(f"{name} is {h}x{w} pixels (height x width), too small to hold a digit or object; send "
                         f"at least {MIN_DECODE_SIDE}x{MIN_DECODE_SIDE}", field="images", value=name)


def _declared_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG, GIF, BMP, JPEG or WebP header; None for other content or a header too short."""
    try:
        if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
            return struct.unpack(">II", data[16:24])
        if data[:6] in (b"GIF87a", b"GIF89a"):
            return struct.unpack("<HH", data[6:10])
        if data[:2] == b"BM":
            if data[14:18] == b"\x0c\x00\x00\x00":  # OS/2 header: 16-bit sides
                return struct.unpack("<HH", data[18:22])
            w, h = struct.unpack("<ii", data[18:26])
            return abs(w), abs(h)  # a negative height means top-down rows
        if data[:2] == b"\xff\xd8":  # JPEG: walk the segments to the frame header (SOFn)
            i = 2
            while i + 9 <= len(data) and data[i] == 0xFF:
                marker = data[i + 1]
                if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                    h, w = struct.unpack(">HH", data[i + 5:i + 9])
                    return w, h
                i += 1 if marker == 0xFF else 2 + struct.unpack(">H", data[i + 2:i + 4])[0]
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            chunk = data[12:16]
            if chunk == b"VP8X":
                return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
            if chunk == b"VP8L":
                bits = struct.unpack("<I", data[21:25])[0]
                return 1 + (bits & 0x3FFF), 1 + (bits >> 14 & 0x3FFF)
            if chunk == b"VP8 ":
                w, h = struct.unpack("<HH", data[26:30])
                return w & 0x3FFF, h & 0x3FFF
    except struct.error:
        pass
    return None
