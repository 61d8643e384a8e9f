"""Pixel-level measures of an anomaly map against ground-truth masks: AUROC over all pixels and AUPRO, the
per-region overlap of Bergmann et al., "The MVTec Anomaly Detection Dataset" (IJCV 2021), integrated up to a
false-positive rate of 0.3 and divided by 0.3, as anomalib reports it.

Both pool every pixel of every image (clean images included: all their pixels are negatives), so a map must be
comparable across images. Regions are the 8-connected components of each image's mask.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from sklearn.metrics import roc_auc_score

FPR_LIMIT = 0.3
_EIGHT = np.ones((3, 3), bool)


def pixel_auroc(maps: np.ndarray, masks: np.ndarray) -> float:
    """AUROC of float maps (N, H, W) against bool masks (N, H, W), every pixel one sample; NaN if one class lacks."""
    y = np.asarray(masks, bool).ravel()
    if y.all() or not y.any():
        return float("nan")
    return float(roc_auc_score(y, np.asarray(maps, np.float64).ravel()))


def regions(masks: np.ndarray) -> np.ndarray:
    """int64 (N, H, W): 0 for negatives, 1..R numbering the 8-connected regions of all the masks (no region spans
    two images)."""
    out = np.zeros(np.shape(masks), np.int64)
    count = 0
    for i, m in enumerate(np.asarray(masks, bool)):
        labelled, n = ndimage.label(m, structure=_EIGHT)
        out[i] = np.where(labelled > 0, labelled + count, 0)
        count += n
    return out


def pro_curve(maps: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(false-positive rate, per-region overlap) at every distinct threshold, from (0, 0) up to (1, 1): at threshold t
    the FPR is the share of negative pixels with a value >= t, the PRO the mean over regions of the share of each
    region's pixels with a value >= t. Raises ValueError without regions or without negatives."""
    label = regions(masks).ravel()
    values = np.asarray(maps, np.float64).ravel()
    n_regions = int(label.max())
    negative = label == 0
    if n_regions == 0 or not negative.any():
        raise ValueError("the PRO curve needs at least one region and one negative pixel")
    sizes = np.bincount(label, minlength=n_regions + 1).astype(np.float64)
    # Each pixel of region r adds 1 / (R |r|) to the PRO once the threshold reaches it; each negative 1 / N_neg.
    pro_step = np.where(negative, 0.0, 1.0 / (n_regions * sizes[label]))
    fpr_step = negative / float(negative.sum())
    order = np.argsort(-values, kind="stable")
    v = values[order]
    last = np.r_[np.nonzero(np.diff(v))[0], len(v) - 1]  # the last pixel of each group of equal values
    fpr = np.cumsum(fpr_step[order])[last]
    pro = np.cumsum(pro_step[order])[last]
    return np.r_[0.0, fpr], np.r_[0.0, pro]


def aupro(maps: np.ndarray, masks: np.ndarray, fpr_limit: float = FPR_LIMIT) -> float:
    """The area under the PRO curve from FPR 0 to `fpr_limit`, divided by `fpr_limit` (1.0 is perfect; a map of
    random values gives about fpr_limit / 2); the curve is interpolated linearly at `fpr_limit`."""
    fpr, pro = pro_curve(maps, masks)
    keep = fpr <= fpr_limit
    x, y = fpr[keep], pro[keep]
    if x[-1] < fpr_limit:
        j = int(np.searchsorted(fpr, fpr_limit))  # the first point past the limit
        t = (fpr_limit - fpr[j - 1]) / (fpr[j] - fpr[j - 1])
        x, y = np.r_[x, fpr_limit], np.r_[y, pro[j - 1] + t * (pro[j] - pro[j - 1])]
    return float(np.trapezoid(y, x) / fpr_limit)
