"""Why a detector judged images as it did: `explain(detector, x)` -> one `Explanation` per image.

An explanation holds what the score was made of: the nearest training images of each pixel view (indices into the
images the detector was fitted on, their labels where given, and the view's distances), each view's share of the
score and the model's veto, and the anomaly maps of `_maps` (in the image's own layout) with the reconstruction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from latentlab.analysis.inference import reconstruct
from latentlab.analysis.novelty._maps import (
    DEFAULT_MAP,
    combined_map,
    explain_pixels,
    object_mask,
    per_pixel,
    reconstruction_map,
    summary,
)
from latentlab.analysis.novelty._scores import VETO_Z, robust_z
from latentlab.analysis.statistics import as_uint8_images
from latentlab.data.base import class_name

VIEWS = {"pixel-knn": "pixel_knn", "hyperplane": "hull", "palette": "palette"}


@dataclass(frozen=True, eq=False)
class Explanation:
    """One image's explanation. `score`, `threshold` and `member` as `score_samples`, `offset_` and `predict` give
    them; `contributions` the terms that add up to the score ("pixel-knn", "hyperplane", colour runs' "palette":
    minus each view's robust z; "model veto": minus what the reconstruction error exceeds VETO_Z by; a single
    score: its own value); `neighbours` view -> {"index": rows of the images the detector was fitted on (nearest
    first), "distance": the view's distances, "label": their labels or None, "label_name": their class names or
    None}; `maps` name -> float32 (H, W) or
    (H, W, C) (see `_maps`); `reconstruction` float32 in [0, 1], the image's layout; `object` bool (H, W);
    `nearest_images` uint8 (K_NEAREST, H, W[, C]): view A's nearest training images, nearest first; `image` the
    uint8 input itself."""

    score: float
    threshold: float
    member: bool
    contributions: dict[str, float]
    neighbours: dict[str, dict[str, list]]
    maps: dict[str, np.ndarray]
    reconstruction: np.ndarray
    object: np.ndarray
    nearest_images: np.ndarray
    image: np.ndarray

    @property
    def default_map(self) -> str:
        """The map to show: "combined" where the detector has pixel references, else "reconstruction"."""
        return DEFAULT_MAP if DEFAULT_MAP in self.maps else "reconstruction"

    def map2d(self, name: str | None = None) -> np.ndarray:
        """Map `name` (default: `default_map`) as (H, W): a colour map's channels joined by their root sum of
        squares."""
        m = self.maps[name or self.default_map]
        return per_pixel(m, m.ndim == 3)

    def summary(self) -> dict[str, Any]:
        """Plain data for JSON: all but the arrays; per map its `summary` (peak (row, column), peak value, mass, share
        of the mass on the object)."""
        return {"score": self.score, "threshold": self.threshold, "member": self.member,
                "contributions": self.contributions, "neighbours": self.neighbours,
                "maps": {k: summary(self.map2d(k), self.object) for k in self.maps},
                "default_map": self.default_map}


def explain(det: Any, x: np.ndarray, labels: np.ndarray | None = None,
            classes: Sequence[str] | None = None) -> list[Explanation]:
    """Explanations of images `x` (as `score_samples` takes them) by fitted detector `det`; `labels` (optional) are
    the labels of the images it was fitted on, in their order, and `classes` (optional) the names of those labels."""
    model = det._checked_model()
    x = as_uint8_images(x, model.image_shape)
    if not len(x):  # nothing to explain (every file of a CLI call unreadable, say): no neighbour search to run
        return []
    scores = det.score_samples(x)
    stats = det._statistics(model, x)  # by content: made once, by score_samples
    recon = reconstruct(model, x)
    maps = {"reconstruction": reconstruction_map(x, recon)}
    found: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    nearest = np.zeros((len(x), 0, *x.shape[1:]), np.uint8)
    if hasattr(det, "reference_images_"):
        pix = explain_pixels(x, det._references().views())
        rows = reference_rows(det, None if labels is None else len(labels))
        remap = (lambda i: i) if rows is None else (lambda i: rows[i])
        found = {"pixel-knn": (remap(pix.neighbour_index), pix.neighbour_distance),
                 "hyperplane": (remap(pix.hull_index), pix.hull_distance)}
        nearest = det.reference_images_[pix.neighbour_index].reshape(len(x), -1, *x.shape[1:])
        maps = {DEFAULT_MAP: combined_map(pix.maps["neighbour"], pix.maps["hyperplane"]), **pix.maps, **maps}
    parts = _contributions(det, stats, scores)
    out = []
    for i in range(len(x)):
        nb = {view: {"index": idx[i].tolist(), "distance": [round(float(d), 6) for d in dist[i]],
                     "label": None if labels is None else [int(labels[j]) for j in idx[i]],
                     "label_name": None if labels is None or not classes else
                     [class_name(classes, int(labels[j])) or str(int(labels[j])) for j in idx[i]]}
              for view, (idx, dist) in found.items()}
        out.append(Explanation(float(scores[i]), float(det.offset_), bool(scores[i] >= det.offset_),
                               {k: float(v[i]) for k, v in parts.items()}, nb, {k: v[i] for k, v in maps.items()},
                               recon[i], object_mask(x[i]), nearest[i], x[i]))
    return out


def reference_rows(det: Any, n_fit: int | None) -> np.ndarray | None:
    """The rows of the `n_fit` images `det` was fitted on that it kept as pixel references (None when unknown):
    `fit` keeps a seeded choice of them, repeated here."""
    if n_fit is None:
        return None
    rows = np.sort(np.random.default_rng(det.random_state).permutation(n_fit)[:det.n_reference_])
    if len(rows) != det.n_reference_:
        raise ValueError(f"labels has {n_fit} entries but the detector keeps {det.n_reference_} references of the "
                         "images it was fitted on: pass the labels of exactly those images")
    return rows


def _contributions(det: Any, stats: dict[str, np.ndarray], scores: np.ndarray) -> dict[str, np.ndarray]:
    """The terms of each image's score: per view and the veto for "combined", the score itself otherwise."""
    if det.score != "combined":
        return {det.score: scores}
    z = robust_z(det, stats)
    parts = {view: -z[key] for view, key in VIEWS.items() if key in z}
    parts["model veto"] = -np.maximum(0.0, z["mse"] - VETO_Z)
    return parts
