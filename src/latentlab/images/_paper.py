"""The paper behind a drawing: a smooth background surface fitted to an image's border, so that uneven light (a phone
photo of a sheet) is taken out before the ink is measured, and so that a picture with no plain background (a
photograph) is told apart from a drawing. A helper of `latentlab.images`; numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BAND = 2  # border pixels per side that the surface is fitted to
# A border pixel within TOLERANCE (~20 grey levels) of the surface counts as paper. An image is a drawing on plain
# paper when at least PLAIN of its border is paper. Measured: scikit-learn's two photographs 0.12 and 0.75, crops of
# them 0.19-0.58 (and 0.91-1.00 for crops of the flower's dark leaves); MNIST digits drawn on white, on paper lit
# unevenly (35% darker on one side, JPEG) or cropped so tightly that strokes touch the border: 0.96-1.00.
TOLERANCE = 0.08
PLAIN = 0.8
# Ink that touches the border (a drawing cropped tightly, a shape cut by the frame) takes border pixels off the paper:
# 15 of a new user's 80 drawings (3-px outlines on 40x40) measured 0.57-0.80, MNIST digits cropped to their box 0.60
# (5%) to 0.85 (95%). Such an image is still a drawing when its border is at least EDGE_PLAIN paper and all but
# 1 - ONE_SIDED of the pixels off the paper, over the whole image, lie on the ink's side of it (`one_sided`): ink
# only adds to paper, while a photograph's scene departs both ways. Measured by `python bench/paper_rule.py`: 99% of
# tight MNIST crops (dark, pencil, PNG or JPEG; 19-39% before) and every cut outline taken for drawings; no whole
# photograph; random crops of scikit-learn's photographs 22% (16% before), the added ones a single object on an even
# background cut by the frame (a flower on dark leaves, a roof against the sky). The border alone (0.99 of its off
# pixels one-sided) took 32% of the crops.
EDGE_PLAIN = 0.5
ONE_SIDED = 0.999
ROUNDS = 4
# Ink must stand out from the paper by this many of its grain's standard deviations: a blank sheet's grain peaks at
# ~4 of them over a model input's pixels, and is neither ink nor an object.
GRAIN = 5.0


@dataclass(frozen=True, eq=False)
class Paper:
    """`surface` float32 (H, W): the background fitted to the border (a quadratic in x and y); `level` its median;
    `spread` its range (max - min) over the image; `plain` the share of border pixels within TOLERANCE of it;
    `noise` the paper's grain: the robust standard deviation (1.4826 MAD) of those border pixels about it;
    `one_sided` the share of the image's pixels off the paper that lie on the ink's side of it (the side of the
    larger departure; measured only when the border is between EDGE_PLAIN and PLAIN plain, else 1.0)."""

    surface: np.ndarray
    level: float
    spread: float
    plain: float
    noise: float = 0.0
    one_sided: float = 1.0

    @property
    def is_plain(self) -> bool:
        """Whether the image is a drawing on paper: its border is plain, or mostly plain with ink touching it."""
        return self.plain >= PLAIN or (self.plain >= EDGE_PLAIN and self.one_sided >= ONE_SIDED)


def fit_paper(g: np.ndarray) -> Paper:
    """The paper of grey float (H, W) in [0, 1]: least squares on the border pixels, refitted on those within
    TOLERANCE of the previous fit (ink touching the border does not bend the surface), starting from the median."""
    h, w = g.shape
    band = np.zeros((h, w), bool)
    band[:BAND] = band[-BAND:] = True
    band[:, :BAND] = band[:, -BAND:] = True
    rows, cols = np.nonzero(band)
    basis = _basis(rows / max(h - 1, 1) * 2 - 1, cols / max(w - 1, 1) * 2 - 1)
    values = g[rows, cols].astype(np.float64)
    coef = np.zeros(basis.shape[1])
    coef[0] = np.median(values)
    for _ in range(ROUNDS):
        keep = np.abs(values - basis @ coef) <= TOLERANCE
        if keep.sum() < 2 * basis.shape[1]:
            break
        coef = np.linalg.lstsq(basis[keep], values[keep], rcond=None)[0]
    residual = values - basis @ coef
    near = residual[np.abs(residual) <= TOLERANCE]
    plain = float(len(near) / len(residual))
    noise = 1.4826 * float(np.median(np.abs(near - np.median(near)))) if len(near) else 0.0
    # Evaluated by broadcasting, in float32: a 4096 x 4096 upload costs a few 64 MB arrays, not a (H*W, 6) basis.
    y = (np.arange(h, dtype=np.float32) / max(h - 1, 1) * 2 - 1)[:, None]
    x = (np.arange(w, dtype=np.float32) / max(w - 1, 1) * 2 - 1)[None, :]
    c = coef.astype(np.float32)
    surface = np.clip(c[0] + c[1] * x + c[2] * y + c[3] * x * x + c[4] * x * y + c[5] * y * y, 0.0, 1.0)
    one_sided = 1.0
    if EDGE_PLAIN <= plain < PLAIN:  # only then does it decide anything; it costs a pass over the whole image
        ink = g - surface
        off = ink[np.abs(ink) > TOLERANCE]
        one_sided = float(((off < 0) if float(-ink.min()) > float(ink.max()) else (off > 0)).mean())
    return Paper(surface, float(np.median(surface)), float(surface.max() - surface.min()), plain, noise, one_sided)


def _basis(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    return np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], 1).astype(np.float64)
