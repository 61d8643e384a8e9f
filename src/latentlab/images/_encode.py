"""Arrays -> PNG bytes and data URLs (what the web page and the figures' files show)."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

from latentlab.images._arrays import to_uint8


def png(image: np.ndarray) -> bytes:
    """PNG bytes of a grey (H, W) or colour (H, W, 3) image: uint8, or float in [0, 1]."""
    a = np.asarray(image)
    buf = io.BytesIO()
    Image.fromarray(a if a.dtype == np.uint8 else to_uint8(a)).save(buf, format="PNG")
    return buf.getvalue()


def data_url(image: np.ndarray) -> str:
    """A ``data:image/png;base64,...`` URL of a grey (H, W) or colour (H, W, 3) image: uint8, or float in [0, 1]."""
    return "data:image/png;base64," + base64.b64encode(png(image)).decode("ascii")
