"""How a data set frames its objects (`Layout`) and how an image's object is put into that frame (`fit`).

A helper of `latentlab.images`, which re-exports `Layout`; numpy and Pillow only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image

from latentlab.errors import ConfigError
from latentlab.images._objects import DRAWN, drawn_share, objects_allowed

SIDE = 28
MIN_DECODE_SIDE = 8  # the smallest side of an image file read (config's MIN_MODEL_SIDE is a model's)
MAX_DECODE_SIDE = 4096  # the largest side decoded: an upload's pixel budget (config's MAX_MODEL_SIDE: 256)
CORE = 0.15  # share of the brightest value that counts as part of the object
DARK = 25  # grey level (of 255) under which a training image's border counts as a black background


@dataclass(frozen=True)
class Layout:
    """How a data set frames its objects in its ``side`` x ``side`` images: the longest side of an object's bounding
    box (`frame`, ~20 px for MNIST, 28 for Fashion-MNIST) and the point (row, column) its centre of mass
    (``by="mass"``, MNIST) or box centre (``by="box"``, Fashion-MNIST) sits on; `ink` how bright its objects are:
    the median over images of the 90th percentile of their lit pixels, in (0, 1] (0.99 for MNIST's saturated
    strokes; 1.0 when unknown); `on_black` whether they are objects on a black background at all (the border of most
    images dark), which the automatic steps for uploads assume; `objects` how many separate parts one object of
    the data may show (`images._objects`; 1 by default, MNIST's count, measured on its training images, on black or
on paper); `drawn` whether images not on black are drawings on plain paper (`images._objects.DRAWN` of them
    are), for which a blank page or separate objects mean something, unlike grey tiles of photographs. Raises
    `ConfigError` if impossible."""

    frame: int = 20
    by: str = "mass"
    centre: tuple[float, float] = (14.0, 14.0)
    side: int = SIDE
    ink: float = 1.0
    on_black: bool = True
    objects: int = 1
    drawn: bool = True

    def __post_init__(self) -> None:
        if self.by not in ("mass", "box"):
            raise ConfigError(f"Layout.by is {self.by!r}; use 'mass' or 'box'",
                              field="layout.by", value=self.by, allowed=("mass", "box"))
        lo, hi = MIN_DECODE_SIDE, MAX_DECODE_SIDE
        if not lo <= self.side <= hi or not 1 <= self.frame <= self.side or not 0 < self.ink <= 1:
            raise ConfigError(f"Layout(frame={self.frame}, side={self.side}, ink={self.ink}): need {lo} <= side <= "
                              f"{hi}, 1 <= frame <= side and 0 < ink <= 1", field="layout", value=self)
        if not (isinstance(self.objects, int) and self.objects >= 1):
            raise ConfigError(f"Layout(objects={self.objects!r}) is invalid: the parts one object may show, >= 1",
                              field="layout.objects", value=self.objects)

    @classmethod
    def for_side(cls, side: int) -> Layout:
        """MNIST's framing scaled to `side`: an object ~20/28 of the side, its centre of mass in the middle.
        `Layout.for_side(28)` is `Layout()`."""
        return cls(max(1, round(side * 20 / SIDE)), "mass", (side / 2, side / 2), side)

    def counted_on(self, x: np.ndarray) -> Layout:
        """This layout with `objects` measured on uint8 images (N, side, side) it framed (light objects on black):
        how a data set read through this framing records itself, so files framed later match it exactly."""
        return replace(self, objects=objects_allowed(np.asarray(x)[:1000]))

    @classmethod
    def of(cls, x: np.ndarray, n: int = 1000) -> Layout:
        """The layout of uint8 images (N, side, side), from up to `n` of them; raises `ConfigError` on another shape."""
        x = np.asarray(x)
        if x.ndim != 3 or x.shape[1] != x.shape[2]:
            raise ConfigError(f"Layout.of needs images shaped (N, side, side); got {x.shape}",
                              field="images", value=x.shape)
        side = x.shape[1]
        sample = x[:n]
        borders = np.concatenate([sample[:, 0], sample[:, -1], sample[:, :, 0], sample[:, :, -1]], axis=1)
        if len(sample) and np.median(np.median(borders, axis=1)) > DARK:
            drawn = drawn_share(sample) >= DRAWN
            return cls(side, "box", ((side - 1) / 2, (side - 1) / 2), side, 1.0, on_black=False,
                       objects=objects_allowed(sample, on_black=False) if drawn else 1, drawn=drawn)
        stats = [s for s in (measure(img / 255.0) for img in x[:n]) if s is not None]
        if not stats:
            return cls.for_side(side)
        sides, mass, box = (np.array(v, np.float64) for v in zip(*stats, strict=True))
        # Whichever centre the data set pins down more tightly is the one its images were aligned on.
        by, centres = ("mass", mass) if mass.std(0).sum() <= box.std(0).sum() else ("box", box)
        c = centres.mean(0)
        ink = round(float(np.median([ink_level(img / 255.0) for img in x[:n] if img.any()])), 2)
        return cls(int(np.clip(np.median(sides), 1, side)), by, (float(c[0]), float(c[1])), side, max(ink, 0.01),
                   objects=objects_allowed(x[:n]))


def fit(g: np.ndarray, layout: Layout) -> tuple[np.ndarray, tuple[int, int]]:
    """Float (H, W) in [0, 1], lit object on a black background -> (float32 (side, side), (width, height) of the
    object's core box in `g`): the object cropped, scaled so its longer side is ``layout.frame`` (aspect kept)
    and centred as ``layout`` says."""
    s = layout.side
    box = core(g)
    if box is None:
        return np.zeros((s, s), np.float32), (0, 0)
    (r0, r1), (c0, c1) = box
    h, w = g.shape
    scale = layout.frame / max(r1 - r0, c1 - c0)
    m = math.ceil(2 / scale)  # keep ~2 output pixels of the strokes' soft edges; anything further away is dropped
    a, c = max(0, r0 - m), max(0, c0 - m)
    crop = g[a:min(h, r1 + m), c:min(w, c1 + m)]
    if layout.by == "box":
        return place(crop, ((r0 + r1 - 1) / 2 - a, (c0 + c1 - 1) / 2 - c), scale, layout), (c1 - c0, r1 - r0)
    centre = centre_of_mass(crop)
    out = place(crop, centre, scale, layout)
    # Resampling and the frame's edges move the centre a little: measure where it landed and correct once.
    if out.sum() > 0:
        got = centre_of_mass(out)
        out = place(crop, (centre[0] - (layout.centre[0] - got[0]) / scale,
                           centre[1] - (layout.centre[1] - got[1]) / scale), scale, layout)
    return out, (c1 - c0, r1 - r0)


def place(crop: np.ndarray, centre: tuple[float, float], scale: float, layout: Layout) -> np.ndarray:
    """`crop` scaled by `scale` onto a black side x side float32 frame, its point `centre` (row, column) landing
    on ``layout.centre`` to a fraction of a pixel: the sub-pixel shift is done by the resampling itself."""
    s, pad = layout.side, math.ceil(1 / scale) + 1
    out = np.zeros((s, s), np.float32)
    spans, box = [], []
    for axis in (0, 1):
        n = crop.shape[axis]
        # Source coordinate of the frame's edge (pixel i covers [i, i + 1)); output pixel k starts at y0 + k / scale.
        y0 = centre[axis] + 0.5 - (layout.centre[axis] + 0.5) / scale
        k0, k1 = max(0, math.floor(-y0 * scale)), min(s, math.ceil((n - y0) * scale))
        if k1 <= k0:
            return out  # the object lies wholly outside the frame
        spans.append((k0, k1))
        box.append((y0 + k0 / scale + pad, y0 + k1 / scale + pad))
    (k0, k1), (j0, j1) = spans
    # Zeros around the crop: the resampling box may reach a little past it, and the filter reads past the box.
    padded = Image.fromarray(np.pad(crop, pad).astype(np.float32))
    (x0, x1), (y0, y1) = box[1], box[0]
    # A triangle filter: its weights are never negative, so no ringing shows on the black background the data has.
    patch = padded.resize((j1 - j0, k1 - k0), Image.Resampling.BILINEAR, box=(x0, y0, x1, y1))
    out[k0:k1, j0:j1] = np.asarray(patch)
    return np.clip(out, 0.0, 1.0)


def core(g: np.ndarray) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """((top, bottom), (left, right)), ends exclusive, of the clearly lit pixels of float (H, W); None if none."""
    if g.max() <= 0:
        return None
    lit = g > CORE * g.max()
    # A lit pixel with no lit neighbour is a speck of noise, not part of the object: it must not stretch the box.
    p = np.pad(lit, 1).astype(np.uint8)  # uint8 sums: a 4096x4096 image costs 16 MB per array, not 128
    h, w = lit.shape
    neighbours = sum(p[1 + dr:1 + dr + h, 1 + dc:1 + dc + w] for dr in (-1, 0, 1) for dc in (-1, 0, 1) if dr or dc)
    kept = lit & (neighbours > 0)
    rows, cols = np.nonzero(kept if kept.any() else lit)
    return (int(rows.min()), int(rows.max()) + 1), (int(cols.min()), int(cols.max()) + 1)


def ink_level(g: np.ndarray) -> float:
    """The 90th percentile of the lit pixels (above CORE x the brightest) of float (H, W); 0 for an all-dark one."""
    top = float(g.max())
    return float(np.percentile(g[g > CORE * top], 90)) if top > 0 else 0.0


def centre_of_mass(g: np.ndarray) -> tuple[float, float]:
    """(row, column) of the centre of mass of float (H, W), in pixel indices; `g` must not be all zero."""
    total = float(g.sum())
    return (float(g.sum(1) @ np.arange(g.shape[0])) / total, float(g.sum(0) @ np.arange(g.shape[1])) / total)


def measure(g: np.ndarray) -> tuple[int, tuple[float, float], tuple[float, float]] | None:
    """(longest side of the core box, centre of mass, box centre) of float (H, W), or None if it is all dark."""
    box = core(g)
    if box is None:
        return None
    (r0, r1), (c0, c1) = box
    return max(r1 - r0, c1 - c0), centre_of_mass(g), ((r0 + r1 - 1) / 2, (c0 + c1 - 1) / 2)
