"""The one convention for image arrays, converted here and nowhere else.

Stored images (data sets, uploads, figures' inputs) are uint8 (N, H, W) grey or (N, H, W, 3) colour, channels last;
a model takes float32 (N, C, H, W) in [0, 1], channels first. Floats become uint8 by one rule, `to_uint8`: clipped
to [0, 1], times 255, rounded half to even (np.rint, NumPy's and torch's own rounding).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from latentlab.errors import ImageError

if TYPE_CHECKING:
    from torch import Tensor


def to_uint8(x: np.ndarray) -> np.ndarray:
    """Floats in [0, 1] (any shape; values outside are clipped) -> uint8 0..255, rounded half to even."""
    return np.rint(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)


def to_float(x: np.ndarray | Tensor, shape: tuple[int, ...] | None = None) -> Tensor:
    """Images -> float32 (N, C, H, W) in [0, 1] on the CPU (or the tensor's own device): uint8 or float (taken to be
    in [0, 1] already), stored (N, H, W), (N, H, W, 3) or already (N, C, H, W). With `shape` (the model's
    (C, H, W)) anything else is an `ImageError` (a ValueError) that names both."""
    import torch

    # Read-only arrays (an upload's np.frombuffer, memory maps) are copied: torch warns on non-writable memory.
    t = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.require(x, requirements=["C", "W"]))
    if t.ndim == 3:
        t = t.unsqueeze(1)
    elif t.ndim == 4 and t.shape[3] == 3 and t.shape[1] not in (1, 3):
        t = t.permute(0, 3, 1, 2)  # channels last as stored; sides are >= 8, so (N, 3, H, 3) cannot occur
    if t.ndim != 4 or t.shape[1] not in (1, 3) or (shape is not None and tuple(t.shape[1:]) != tuple(shape)):
        want = "(N, H, W) or (N, H, W, 3)" if shape is None else stored_layout(shape)
        raise ImageError(f"images must have shape {want}, got {tuple(x.shape)}", field="images", value=tuple(x.shape))
    if t.dtype == torch.uint8:
        return t.to(torch.float32).div_(255.0)
    if not t.is_floating_point():
        raise ImageError(f"images must be uint8 (0..255) or float (0..1), got {t.dtype}",
                         field="images", value=str(t.dtype))
    return t.to(torch.float32)


def stored_shape(x: np.ndarray) -> tuple[int, ...]:
    """(channels, height, width) of images stored (N, H, W) or (N, H, W, 3); () for anything else."""
    if x.ndim == 3:
        return 1, *x.shape[1:]
    return (3, *x.shape[1:3]) if x.ndim == 4 and x.shape[3] == 3 else ()


def stored_layout(shape: tuple[int, ...]) -> str:
    """How images of a model's (C, H, W) are stored, in words: "(N, H, W)" or "(N, H, W, 3)"."""
    c, h, w = shape
    return f"(N, {h}, {w})" if c == 1 else f"(N, {h}, {w}, 3)"


def to_images(t: Tensor) -> np.ndarray:
    """float (N, C, H, W) -> NumPy float32 as images are stored: (N, H, W) for one channel, (N, H, W, 3) for three."""
    t = t.float()
    return (t[:, 0] if t.shape[1] == 1 else t.permute(0, 2, 3, 1)).contiguous().cpu().numpy()


def to_uint8_images(t: Tensor) -> np.ndarray:
    """float (N, C, H, W) in [0, 1] -> uint8 images as stored, by `to_uint8`'s rule."""
    return to_uint8(to_images(t))


def as_uint8_images(x: np.ndarray, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """uint8 images as stored, (N, H, W) grey or (N, H, W, 3) colour, from uint8 or [0, 1] float images in that
    layout, channels first (N, 1 or 3, H, W), or grey and flat (N, H*W) (28x28 unless `shape` says otherwise; a
    flat colour image has no one channel order, so it is refused). With `shape` (channels, height, width), a
    model's image shape, the images must have it. Raises `ImageError` naming the shape expected."""
    a = np.asarray(x)
    c, h, w = shape if shape is not None else (1, 28, 28)
    if a.ndim == 2 and c == 1 and a.shape[1] == h * w:
        a = a.reshape(-1, h, w)
    if a.ndim == 4 and a.shape[1] in (1, 3) and a.shape[3] not in (1, 3):
        a = a[:, 0] if a.shape[1] == 1 else a.transpose(0, 2, 3, 1)
    elif a.ndim == 4 and a.shape[3] == 1:
        a = a[..., 0]
    layout = "(N, H, W) grey or (N, H, W, 3) colour"
    if not (a.ndim == 3 or a.ndim == 4 and a.shape[3] == 3):
        raise ImageError(f"images must be {layout} (channels first or flat also taken), got shape {np.shape(x)}",
                         field="images", value=np.shape(x))
    if shape is not None and a.shape[1:] != ((h, w) if c == 1 else (h, w, 3)):
        raise ImageError(f"the model takes images of shape {stored_layout(shape)}, got {np.shape(x)}; bring them to "
                         "the run's size and colour first (latentlab.images.conform does it for one image)",
                         field="images", value=np.shape(x))
    if a.dtype == np.uint8:
        # Read-only arrays (np.frombuffer, memory maps) are copied once, here: torch warns on non-writable memory.
        return np.require(a, np.uint8, ["C", "W"])
    if not np.issubdtype(a.dtype, np.floating):
        raise ImageError(f"images must be uint8 (0..255) or float (0..1), got {a.dtype}",
                         field="images", value=str(a.dtype))
    if a.size and (np.nanmin(a) < 0 or np.nanmax(a) > 1 or np.isnan(a).any()):
        raise ImageError("float images must lie in [0, 1]; scale them (x / 255) or pass uint8", field="images")
    return to_uint8(a)
