"""Out-of-distribution test sets and the membership table (AUROC, AUPR, FPR at 95% TPR) of novelty scores.

Convention: in-distribution images are the positive class and a score is higher for more normal images, as
`NoveltyDetector.score_samples` returns. "aupr_in" is the average precision with in-distribution positive;
"aupr_out" takes the out-of-distribution images as positive (and the negated score).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

MAX_BLOBS = 4
BLOCK = 500  # images of Gaussian blobs made at once


class Scorer(Protocol):
    def score_samples(self, x: np.ndarray) -> np.ndarray: ...


def uniform_noise(n: int, rng: np.random.Generator, shape: tuple[int, ...] = (28, 28)) -> np.ndarray:
    """`n` images of uniform noise, stored `shape`: (H, W) grey or (H, W, 3) colour."""
    return rng.integers(0, 256, (n, *shape), dtype=np.uint8)


def gaussian_blobs(n: int, rng: np.random.Generator, shape: tuple[int, ...] = (28, 28)) -> np.ndarray:
    """Smooth images: one to four Gaussian bumps of random place, width and height on a black background (in one
    random colour per image for colour `shape` (H, W, 3)); place and width scale with the image's size."""
    h, w = shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    size = (n, MAX_BLOBS, 1, 1)
    cy, cx = rng.uniform(4 * h / 28, 24 * h / 28, size), rng.uniform(4 * w / 28, 24 * w / 28, size)
    sigma = rng.uniform(1.5, 6.0, size) * (min(h, w) / 28)
    height = rng.uniform(0.3, 1.0, size) * (np.arange(MAX_BLOBS)[None, :, None, None] < rng.integers(
        1, MAX_BLOBS + 1, (n, 1, 1, 1)))
    peak = rng.uniform(0.5, 1.0, (n, 1, 1)) * 255
    tint = rng.uniform(0.0, 1.0, (n, 1, 1, 3)) if len(shape) == 3 else None
    out = np.empty((n, *shape), np.uint8)
    # In blocks: the (n, 4, H, W) float64 bumps of 10,000 images at once peaked at 852 MB (measured, Fashion-MNIST).
    for i in range(0, n, BLOCK):
        j = slice(i, i + BLOCK)
        img = (height[j] * np.exp(-((yy - cy[j]) ** 2 + (xx - cx[j]) ** 2) / (2 * sigma[j] ** 2))).sum(1)
        grey = img / img.max(axis=(1, 2), keepdims=True) * peak[j]
        out[j] = np.round(grey if tint is None else grey[..., None] * tint[j])
    return out


def ood_sets(x_test: np.ndarray, other: Mapping[str, np.ndarray] | None = None,
             seed: int = 0) -> dict[str, np.ndarray]:
    """Out-of-distribution uint8 image sets of the test images' shape, each as large as `x_test`: uniform noise,
    Gaussian blobs, the test images inverted (255 - x) and rotated by 90 degrees (by 180 when they are not square,
    so the shape stays), then the sets in `other` (e.g. another dataset)."""
    x = np.asarray(x_test)
    if x.dtype != np.uint8 or not (x.ndim == 3 or (x.ndim == 4 and x.shape[3] == 3)):
        raise ValueError(f"x_test must be uint8 images (N, H, W) or (N, H, W, 3), got {x.dtype} {x.shape}")
    rng = np.random.default_rng(seed)
    square = x.shape[1] == x.shape[2]
    sets = {
        "uniform-noise": uniform_noise(len(x), rng, x.shape[1:]),
        "gaussian-blobs": gaussian_blobs(len(x), rng, x.shape[1:]),
        "inverted": 255 - x,
        f"rotated-{90 if square else 180}": np.ascontiguousarray(np.rot90(x, 1 if square else 2, axes=(1, 2))),
    }
    sets.update(other or {})
    return sets


def detector_unsupported(image_shape: tuple[int, ...]) -> str:
    """Why the novelty detector cannot score images of `image_shape` (channels, height, width), or "" when it can.
    Asked of the detector's own input check, so the answer follows the detector as it grows."""
    from latentlab.analysis.statistics import as_uint8_images

    c, h, w = image_shape
    try:
        as_uint8_images(np.zeros((1, h, w) if c == 1 else (1, h, w, 3), np.uint8))
    except ValueError as exc:  # ImageError is a ValueError
        return f"the novelty detector does not take images of shape {tuple(image_shape)} yet ({exc})"
    return ""


def fpr_at_tpr(y_true: np.ndarray, score: np.ndarray, tpr: float = 0.95) -> float:
    """False-positive rate at the first threshold that accepts at least `tpr` of the positives."""
    fpr, tprs, _ = roc_curve(y_true, score)
    return float(fpr[np.searchsorted(tprs, tpr, side="left")])


def separation(score_in: np.ndarray, score_out: np.ndarray) -> dict[str, float]:
    """AUROC, AUPR-in, AUPR-out and FPR at 95% TPR of scores that are higher for in-distribution images."""
    y = np.r_[np.ones(len(score_in)), np.zeros(len(score_out))]
    s = np.r_[score_in, score_out].astype(np.float64)
    # A score can be -inf (e.g. zero density); the ranking is what counts, so clip to finite numbers.
    s = np.nan_to_num(s, nan=-np.inf)
    s = np.clip(s, np.finfo(np.float64).min, np.finfo(np.float64).max)
    return {
        "auroc": float(roc_auc_score(y, s)),
        "aupr_in": float(average_precision_score(y, s)),
        "aupr_out": float(average_precision_score(1 - y, -s)),
        "fpr_at_95_tpr": fpr_at_tpr(y, s, 0.95),
    }


def membership_table(detectors_or_scores: Mapping[str, Scorer | Callable[[np.ndarray], np.ndarray]],
                     x_in_test: np.ndarray, sets: Mapping[str, np.ndarray]) -> list[dict[str, Any]]:
    """One row per (score, OOD set): the separation of in-distribution test images from that set.

    Values of `detectors_or_scores` are fitted detectors (anything with `score_samples`) or plain functions
    from images to scores. Detectors with a threshold (`predict`) also report the fraction of each side that
    their threshold rejects: "rejected_in" (false rejections) and "rejected_out" (detections).
    """
    rows = []
    for name, det in detectors_or_scores.items():
        score = det.score_samples if hasattr(det, "score_samples") else det
        s_in = np.asarray(score(x_in_test), np.float64)
        offset = getattr(det, "offset_", None)
        for set_name, x_out in sets.items():
            s_out = np.asarray(score(x_out), np.float64)
            row: dict[str, Any] = {"score": name, "ood": set_name, "n_in": len(s_in), "n_out": len(s_out)}
            row.update(separation(s_in, s_out))
            if offset is not None:
                row["rejected_in"] = float(np.mean(s_in < offset))
                row["rejected_out"] = float(np.mean(s_out < offset))
            rows.append(row)
    return rows
