"""What a novelty score is: one `Score` entry says what it needs of the images, how it fits and how it scores.

The detector (`_detector`) reads only these entries: it computes what `needs` names, calls `fit` on the calibration
statistics, and sets the threshold from `calibrate` (or `score`) in one place. Adding a score is adding one entry
to `_scores.REGISTRY`; it then shows in `SCORES`, `valid_scores`, the command line's and the web page's choices,
and metrics.json's membership rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from torch import nn

Stats = dict[str, np.ndarray]
Detector = Any  # the fitted NoveltyDetector, whose attributes ending in "_" a score reads (not imported: a cycle)

# What a score may need of a set of images (each made once per content, see `_needs`):
NEEDS = {
    "model": "the model's pass: 'code' (the posterior mean or encoder output), 'nll' (plus a VAE's KL), "
             "'recon_nll', 'mse', 'kl' (VAEs)",
    "neighbours": "'knn_distance', the mean distance of the code to the k nearest reference codes (saved as "
                  "reference_codes_)",
    "pixels": "'pixel_knn' and, for colour, 'palette': the pixel views' distances to the reference images, which "
              "are all the training images (saved as reference_images_), calibrated leave-one-out",
    "hull": "'hull', view B's distance to the local hyperplane of the reference images (with 'pixels')",
    "zlib": "'complexity_bits', the zlib-compressed size of each image",
}


@dataclass(frozen=True)
class FitInput:
    """What a score's `fit` and `calibrate` get: the model, the calibration statistics (held-out images, or the
    left-out references of pixel scores), the reference split's uint8 images (empty for pixel scores) and the
    detector's seed."""

    model: nn.Module
    stats: Stats
    reference: np.ndarray
    random_state: int


def _nothing(inp: FitInput) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Score:
    """One novelty score. `score(detector, stats)` gives float64 (N,), higher = more normal; `fit(FitInput)` returns
    the fitted arrays (attribute names ending in "_", saved with the detector and required when it is loaded,
    listed in `arrays`); `calibrate(detector, FitInput)`, where given, gives the calibration scores the threshold is
    the `target_fpr` quantile of (else `score` of the calibration statistics); `prior`: only for models with a
    prior (VAEs); `columns(model)`: feature names recorded in the saved JSON."""

    needs: frozenset[str]
    score: Callable[[Detector, Stats], np.ndarray]
    fit: Callable[[FitInput], dict[str, Any]] = _nothing
    arrays: tuple[str, ...] = ()
    calibrate: Callable[[Detector, FitInput], np.ndarray] | None = None
    prior: bool = False
    columns: Callable[[nn.Module], tuple[str, ...]] = field(default=lambda model: ())

    def __post_init__(self) -> None:
        unknown = set(self.needs) - set(NEEDS)
        if unknown:
            raise ValueError(f"unknown needs {sorted(unknown)}; a score may need {', '.join(NEEDS)}")
        if "neighbours" in self.needs and "model" not in self.needs:
            raise ValueError("a score that needs 'neighbours' needs 'model' too (the codes come from its pass)")
        if "hull" in self.needs and "pixels" not in self.needs:
            raise ValueError("a score that needs 'hull' needs 'pixels' too (the hull's neighbours are found there)")

    @property
    def pixel_references(self) -> bool:
        """Fitted on all the training images kept as pixel references, rather than on a held-out split."""
        return "pixels" in self.needs

    def saved_arrays(self) -> tuple[str, ...]:
        """Every array a saved detector of this score must hold."""
        kept = (("reference_images_",) if "pixels" in self.needs else ()) + (
            ("reference_codes_",) if "neighbours" in self.needs else ())
        return kept + self.arrays
