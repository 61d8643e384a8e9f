"""How many separate objects an image holds: a row of digits, a digit with a caption, a screenshot are not one digit.

Counted on the model's input, where the training images can be counted the same way, on its ink (`ink_of`): the
model input itself for data of light objects on black (after the paper is taken out and the ink framed), and for
data kept as drawn (dark strokes on light paper, or any other polarity, at any size) what stands out from the paper
fitted to the image's border (`_paper.fit_paper`). Objects are the 8-connected components of the clearly lit
pixels (above CORE x the brightest, as `images._layout.core` crops by) that hold at least MIN_PART of the lit
pixels' ink. How many parts is still one object comes from the training images (`Layout.of`: the count that
OBJECTS_QUANTILE of them do not exceed), never from test labels: on MNIST that is one part, so the 0.5% of its
digits drawn in two disconnected parts are said to be several objects too (the price of catching a digit with a
caption). An image whose ink stands out less than BLANK from its background holds nothing (`is_blank`), at any size
and polarity.
A helper of `latentlab.images`; numpy and scipy only.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from latentlab.images._paper import GRAIN, fit_paper

BLANK = 0.02  # ~5/255: an image whose ink stands out less than this from its background holds nothing
CORE = 0.15  # as `images._layout.CORE`
MIN_PART = 0.04  # a part with less of the ink than this is a speck or a serif, not an object
# Measured: 99.5% of mnist-sample's training digits are one part, 96.6% of Fashion-MNIST's items.
OBJECTS_QUANTILE = 0.99
# Data not on black count as drawings (blank pages and separate objects mean something) when this share of them are
# drawings on plain paper: all of a folder of scanned shapes, not the grey tiles of photographs (sky is blank).
DRAWN = 0.95
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


def ink_of(g: np.ndarray, on_black: bool = True) -> np.ndarray | None:
    """The ink of a grey image (H, W), uint8 or float in [0, 1], as float64 light strokes on black: the image itself
    when the data's objects are light on black (`on_black`, as the framed model input is); otherwise what stands
    out from the paper fitted to its border, whichever way (dark strokes on light paper, or light on dark), less
    GRAIN times the paper's grain (`Paper.noise`). None
    when the border is not plain paper: a picture, whose parts are no objects to count."""
    g = np.asarray(g)
    g = g / 255.0 if g.dtype == np.uint8 else g.astype(np.float64)
    if on_black:
        return g
    paper = fit_paper(g)
    if not paper.is_plain:
        return None
    ink = g - paper.surface
    ink = -ink if float(-ink.min()) > float(ink.max()) else ink
    return np.clip(ink - GRAIN * paper.noise, 0.0, 1.0)  # the paper's grain is not ink


def is_blank(ink: np.ndarray | None) -> bool:
    """Whether ink of `ink_of` holds nothing: none stands out BLANK or more (False for a picture, None)."""
    return ink is not None and float(ink.max(initial=0.0)) < BLANK


def drawn_share(x: np.ndarray) -> float:
    """The share of uint8 images (N, H, W) that are drawings on plain paper with something on it (their `ink_of`
    off black is neither None nor blank): 1.0 for scans of drawings, far less for tiles of photographs."""
    inks = [ink_of(img, on_black=False) for img in x]
    return float(np.mean([ink is not None and not is_blank(ink) for ink in inks])) if inks else 0.0


def objects_allowed(x: np.ndarray, on_black: bool = True) -> int:
    """How many parts one object of uint8 training images (N, H, W) may have: the OBJECTS_QUANTILE quantile of
    their counts (of their `ink_of`, so images on paper count as drawn), at least 1."""
    inks = (ink_of(img, on_black) for img in x)
    counts = [count_objects(ink) for ink in inks if ink is not None and not is_blank(ink)]
    return max(1, int(np.quantile(counts, OBJECTS_QUANTILE, method="higher"))) if counts else 1


def separate_objects(pixels: np.ndarray, allowed: int) -> tuple[int, tuple[str, ...]]:
    """(the objects counted in grey model input `pixels`, the step that says so when they are more than `allowed`,
    the parts one object of the training data may show; else ())."""
    n = count_objects(pixels)
    if n <= allowed:
        return n, ()
    return n, (f"{n} separate objects; crop to one (an object of the training data shows at most {allowed} separate "
               f"part{'s' if allowed > 1 else ''})",)
