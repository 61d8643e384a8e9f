"""Synthetic defects with ground-truth masks, made on test images of any data set (grey or colour, any size).

Four kinds, each one entry of `KINDS` (a function image, size, rng, donor -> defective image):
- "patch": a square from another image (of another class where labels are known) pasted over the object;
- "stroke": an extra straight stroke in the image's own ink, starting on the object;
- "erase": a disc of the object painted over with the image's background (its border's median);
- "noise": a disc of uniform noise over the object.
`SIZES` gives each size as a share of the image's side (a square's side, a disc's diameter, a stroke's length / 1.5).
The mask is what the defect changed: the pixels where any channel moved by more than `CHANGED` grey levels (a patch
of black pasted on black background changes nothing and is no defect there). Everything is seeded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

SIZES = {"small": 0.15, "medium": 0.25, "large": 0.35}
CHANGED = 25  # grey levels (of 255)
MIN_PIXELS = 3  # a defect must change at least this many pixels, else it is placed again
TRIES = 20


@dataclass(frozen=True, eq=False)
class Defects:
    """`images` uint8 (M, H, W[, C]) defective test images, `masks` bool (M, H, W), and per image: `kind`, `size`
    (names), `source` (its row of the test split), `object_share` (mask pixels / the clean object's pixels)."""

    images: np.ndarray
    masks: np.ndarray
    kind: np.ndarray
    size: np.ndarray
    source: np.ndarray
    object_share: np.ndarray


def lit(image: np.ndarray) -> np.ndarray:
    """The object's pixels of uint8 (H, W[, C]): those further than a fifth of the range from the border's median
    (bool (H, W)); all pixels when none are."""
    g = image.astype(np.float32).mean(-1) if image.ndim == 3 else image.astype(np.float32)
    back = background(image).mean()
    far = np.abs(g - back)
    on = far > 0.2 * max(float(far.max()), 1.0)
    return on if on.any() else np.ones(g.shape, bool)


def background(image: np.ndarray) -> np.ndarray:
    """The median of the border pixels, per channel: float32 (C,) or ()."""
    b = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]], axis=0)
    return np.median(b.astype(np.float32), axis=0)


def _centre(image: np.ndarray, rng: np.random.Generator) -> tuple[int, int]:
    rows, cols = np.nonzero(lit(image))
    i = int(rng.integers(len(rows)))
    return int(rows[i]), int(cols[i])


def _disc(shape: tuple[int, int], centre: tuple[int, int], radius: float) -> np.ndarray:
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    return (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius ** 2


def _as_float(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float32)


def patch(image: np.ndarray, side: int, rng: np.random.Generator, donor: np.ndarray) -> np.ndarray:
    """A side x side square of `donor`, taken around a point of its object, pasted around a point of `image`'s."""
    h, w = image.shape[:2]
    side = min(side, h, w)
    (r, c), (dr, dc) = _centre(image, rng), _centre(donor, rng)
    r0, c0 = int(np.clip(r - side // 2, 0, h - side)), int(np.clip(c - side // 2, 0, w - side))
    d0, e0 = int(np.clip(dr - side // 2, 0, h - side)), int(np.clip(dc - side // 2, 0, w - side))
    out = image.copy()
    out[r0:r0 + side, c0:c0 + side] = donor[d0:d0 + side, e0:e0 + side]
    return out


def stroke(image: np.ndarray, side: int, rng: np.random.Generator, donor: np.ndarray) -> np.ndarray:
    """A straight stroke 1.5 x `side` long, 1/14 of the image's side wide (2 px at 28), in the brightest ink of the
    object, from a point of the object in a random direction; anti-aliased."""
    h, w = image.shape[:2]
    r, c = _centre(image, rng)
    angle = rng.uniform(0, np.pi)
    length = 1.5 * side
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    dy, dx = np.sin(angle), np.cos(angle)
    t = np.clip((yy - r) * dy + (xx - c) * dx, 0, length)
    dist = np.hypot(yy - (r + t * dy), xx - (c + t * dx))
    alpha = np.clip(max(h, w) / 28 + 0.5 - dist, 0, 1)
    obj = lit(image)
    g = _as_float(image)
    ink = g[obj].max(0) if image.ndim == 2 else g[obj][np.argmax(g[obj].sum(1))]
    a = alpha if image.ndim == 2 else alpha[..., None]
    return np.clip(g * (1 - a) + ink * a, 0, 255).round().astype(np.uint8)


def erase(image: np.ndarray, side: int, rng: np.random.Generator, donor: np.ndarray) -> np.ndarray:
    """A disc of diameter `side` around a point of the object, painted the border's median."""
    out = image.copy()
    out[_disc(image.shape[:2], _centre(image, rng), side / 2)] = background(image).round().astype(np.uint8)
    return out


def noise(image: np.ndarray, side: int, rng: np.random.Generator, donor: np.ndarray) -> np.ndarray:
    """A disc of diameter `side` around a point of the object, each value uniform in 0..255."""
    out = image.copy()
    disc = _disc(image.shape[:2], _centre(image, rng), side / 2)
    out[disc] = rng.integers(0, 256, out[disc].shape, dtype=np.uint8)
    return out


KINDS: dict[str, Callable[..., np.ndarray]] = {"patch": patch, "stroke": stroke, "erase": erase, "noise": noise}


def changed(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """bool (H, W): where any channel moved by more than CHANGED grey levels."""
    d = np.abs(after.astype(np.int16) - before.astype(np.int16))
    return (d.max(-1) if d.ndim == 3 else d) > CHANGED


def make_defects(x: np.ndarray, y: np.ndarray | None, kinds: tuple[str, ...] = tuple(KINDS),
                 sizes: tuple[str, ...] = tuple(SIZES), per_cell: int = 50, seed: int = 0,
                 exclude: np.ndarray | None = None) -> Defects:
    """`per_cell` defective images for each kind and size, from distinct rows of test images `x` (labels `y`, or
    None) not in `exclude` (rows kept clean); the donor of a patch is of another class when labels are known.
    Raises ValueError for an unknown kind or size, or when `x` has too few rows."""
    for name, chosen, valid in (("kind", kinds, KINDS), ("size", sizes, SIZES)):
        bad = [k for k in chosen if k not in valid]
        if bad or not chosen:
            raise ValueError(f"{name}s={list(chosen)} is invalid: choose among {', '.join(valid)}")
    rng = np.random.default_rng(seed)
    pool = np.setdiff1d(np.arange(len(x)), np.asarray(exclude if exclude is not None else [], np.int64))
    need = len(kinds) * len(sizes) * per_cell
    if len(pool) < need:
        raise ValueError(f"{need} defective images need {need} test images besides the clean ones; there are "
                         f"{len(pool)}: lower per_cell")
    rows = rng.permutation(pool)[:need]
    side = max(x.shape[1:3])
    images, masks, kind, size, source, share = [], [], [], [], [], []
    i = 0
    for k in kinds:
        for s in sizes:
            for _ in range(per_cell):
                row = int(rows[i])
                i += 1
                img = x[row]
                for _try in range(TRIES):
                    others = np.nonzero(y != y[row])[0] if y is not None else np.delete(np.arange(len(x)), row)
                    donor = x[int(others[rng.integers(len(others))])] if len(others) else img
                    out = KINDS[k](img, max(2, round(SIZES[s] * side)), rng, donor)
                    mask = changed(img, out)
                    if mask.sum() >= MIN_PIXELS:
                        break
                else:
                    continue  # this image takes no visible defect of this kind: left out, the count says so
                images.append(out)
                masks.append(mask)
                kind.append(k)
                size.append(s)
                source.append(row)
                share.append(mask.sum() / max(int(lit(img).sum()), 1))
    return Defects(np.array(images, np.uint8).reshape(-1, *x.shape[1:]), np.array(masks, bool).reshape(
        -1, *x.shape[1:3]), np.array(kind), np.array(size), np.array(source, np.int64), np.array(share, np.float64))
