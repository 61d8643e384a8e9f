"""How many separate objects an image holds: a row of digits, a digit with a caption, a screenshot are not one digit.

Counted on the model's input (side x side, after the paper is taken out and the ink framed), where the training
images can be counted the same way: the 8-connected components of the clearly lit pixels (above CORE x the
brightest, as `images._layout.core` crops by) that hold at least MIN_PART of the lit pixels' ink. How many parts is
still one object comes from the training images (`Layout.of`: the count that OBJECTS_QUANTILE of them do not
exceed), never from test labels: on MNIST that is one part, so the 0.5% of its digits drawn in two
disconnected parts are said to be several objects too (the price of catching a digit with a caption).
A helper of `latentlab.images`; numpy and scipy only.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

CORE = 0.15  # as `images._layout.CORE`
MIN_PART = 0.04  # a part with less of the ink than this is a speck or a serif, not an object
# Measured: 99.5% of mnist-sample's training digits are one part, 96.6% of Fashion-MNIST's items.
OBJECTS_QUANTILE = 0.99
_EIGHT = np.ones((3, 3), bool)


def count_objects(g: np.ndarray) -> int:
    """The separate objects of a grey image (H, W), uint8 or float: 0 for an all-dark one."""
    g = np.asarray(g, np.float64)
    top = float(g.max()) if g.size else 0.0
    if top <= 0:
        return 0
    lit = g > CORE * top
    labels, n = ndimage.label(lit, structure=_EIGHT)
    if n <= 1:
        return n
    mass = ndimage.sum_labels(g, labels, index=np.arange(1, n + 1))
    return int((mass >= MIN_PART * mass.sum()).sum())


def objects_allowed(x: np.ndarray) -> int:
    """How many parts one object of uint8 training images (N, H, W) may have: the OBJECTS_QUANTILE quantile of
    their counts, at least 1."""
    counts = [count_objects(img) for img in x if img.any()]
    return max(1, int(np.quantile(counts, OBJECTS_QUANTILE, method="higher"))) if counts else 1


def separate_objects(pixels: np.ndarray, allowed: int) -> tuple[int, tuple[str, ...]]:
    """(the objects counted in grey model input `pixels`, the step that says so when they are more than `allowed`,
    the parts one object of the training data may show; else ())."""
    n = count_objects(pixels)
    if n <= allowed:
        return n, ()
    return n, (f"{n} separate objects; crop to one (an object of the training data shows at most {allowed} separate "
               f"part{'s' if allowed > 1 else ''})",)
