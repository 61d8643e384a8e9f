"""Is an image like the data a model was trained on? `NoveltyDetector` follows scikit-learn's outlier contract.

A model's own evidence answers far questions (digits against garments) but loses near ones (a shirt against a
T-shirt) to a plain nearest-neighbour search in pixels (one-class Fashion-MNIST: a deep autoencoder's detector 90.7
mean AUROC, raw-pixel 5-NN 92.3). The default "combined" score therefore sums the pixel views of `pixel_views`, each
standardised by its leave-one-out median and MAD on the training images, with the model as a veto: an image it
reconstructs far worse than any training image (robust z of its squared error above VETO_Z) loses what it exceeds
by. Single scores stay available: "density" (the joint density of NLL, compressed size, code distance, code norm
and KL, DoSE-style, Morningstar et al. 2021), "pixel-knn", "hyperplane", "recon", "latent", "elbo", "complexity".
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Self

import numpy as np
import torch
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.neighbors import NearestNeighbors
from sklearn.utils.validation import check_is_fitted
from torch import nn

from latentlab.analysis.detector_files import read_detector, write_detector
from latentlab.analysis.inference import embed
from latentlab.analysis.memo import memoised, once, recall, remember
from latentlab.analysis.mixture import (
    CV_FOLDS,
    cross_fitted_log_density,
    density_features,
    feature_names,
    fit_density,
    log_density,
    n_components,
)
from latentlab.analysis.pixel_views import robust_scale, view_distances, views
from latentlab.analysis.statistics import (
    LN2,
    as_uint8_images,
    complexity_bits,
    data_fingerprint,
    model_fingerprint,
    model_statistics,
)
from latentlab.errors import ConfigError
from latentlab.models import has_prior
from latentlab.runs import Run, load_run

SCORES = ("combined", "density", "pixel-knn", "hyperplane", "recon", "latent", "elbo", "complexity")
VAE_ONLY = ("elbo",)
PIXEL_SCORES = ("combined", "pixel-knn", "hyperplane")
FORMAT = 3  # bumped whenever a feature changes meaning: older files are refitted, not misread
MAX_REFERENCE = 10_000  # reference images kept by the pixel views (memory: two float32 copies, 63 MB at 28x28)
MAX_REFERENCE_VALUES = 32_000_000  # and at most this many values per view (128 MB): 3,472 images at 64x48 RGB
MAX_LOO = 5_000  # reference images scored leave-one-out to standardise the pixel views
# How far (robust z, MADs) the model's squared error may exceed the training images' before it counts against an
# image. Fixed once: beyond 5 MADs no training image of any class measured here lies, uniform noise lies at ~100.
VETO_Z = 5.0
ROBUST = ("pixel_knn", "hull", "mse", "palette")  # rows of `robust_`: (median, scale) of each, "palette" for colour
_ARRAYS = ("reference_codes_", "feature_mean_", "feature_scale_", "weights_", "means_", "precisions_cholesky_",
           "reference_images_", "robust_")


def valid_scores(model: nn.Module) -> tuple[str, ...]:
    """The scores that apply to `model` (all of them for VAEs, all but "elbo" for plain autoencoders)."""
    return SCORES if has_prior(model) else tuple(s for s in SCORES if s not in VAE_ONLY)


class NoveltyDetector(OutlierMixin, BaseEstimator):
    """Novelty detection with a trained autoencoder or VAE (the model of a `Run`, a run directory, or a model).

    `fit` takes in-distribution images of the model's shape. Pixel scores ("combined", "pixel-knn", "hyperplane")
    keep them as references and standardise on leave-one-out scores; model scores set `holdout` of them aside (seeded by
    `random_state`): the rest are the reference codes of "latent", the held-out ones fit the mixture of "density".
    `offset_` is the `target_fpr` quantile of those held-out or left-out scores, so about `target_fpr` of
    in-distribution images are rejected. `score_samples` is higher for more normal images; `predict` gives +1 (in)
    or -1 (out). "recon" is minus the reconstruction loss (nats), "latent" minus the mean distance to the `k`
    nearest reference codes, "elbo" (VAEs) the ELBO at the posterior mean, "complexity" minus the
    complexity-corrected NLL of Serra et al. (2020), -(NLL in bits - zlib bits of the image). What depends on the
    images alone (pixel-view distances, zlib sizes) is kept for the process by content (`memo`): detectors of
    other models on the same images reuse it.
    """

    def __init__(self, model_or_run: nn.Module | Run | str | Path, score: str = "combined", k: int = 5,
                 target_fpr: float = 0.05, holdout: float = 0.2, random_state: int = 0) -> None:
        self.model_or_run = model_or_run
        self.score = score
        self.k = k
        self.target_fpr = target_fpr
        self.holdout = holdout
        self.random_state = random_state

    # ---- the estimator contract -------------------------------------------------------------------------

    def fit(self, x_train: np.ndarray, y: None = None) -> Self:
        """Fit on in-distribution images of the model's shape ((N, H, W) grey or (N, H, W, 3) colour, uint8 or
        [0, 1] floats); returns self."""
        model = self._checked_model()
        x = as_uint8_images(x_train, model.image_shape)
        n_hold = int(round(self.holdout * len(x)))
        if n_hold < 20 or len(x) - n_hold < self.k:
            raise ConfigError(f"fit needs at least 20 held-out images and {self.k} reference images; got {len(x)} "
                             f"images with holdout={self.holdout}: pass more images or a larger holdout")
        self.model_sha256_ = model_fingerprint(model)
        self.data_sha256_ = data_fingerprint(x)
        if self.score in PIXEL_SCORES:  # before the split: its copies are 45 MiB of 60,000 images, unused here
            return self._fit_pixels(model, x)
        perm = np.random.default_rng(self.random_state).permutation(len(x))
        held, reference = x[np.sort(perm[:n_hold])], x[np.sort(perm[n_hold:])]
        self.n_reference_, self.n_holdout_ = len(reference), len(held)
        if self._needs_codes():
            self.reference_codes_ = embed(model, reference)
            self.neighbors_ = NearestNeighbors(n_neighbors=self.k).fit(self.reference_codes_)
        stats = self._statistics(model, held)
        if self.score == "density":
            fitted = fit_density(density_features(model, stats), self.random_state)
            for key, value in fitted.items():
                setattr(self, key, value)
        self.offset_ = float(np.quantile(self._score(model, stats, held_out=True), self.target_fpr))
        return self

    def _fit_pixels(self, model: nn.Module, x: np.ndarray) -> Self:
        """The pixel views keep (up to MAX_REFERENCE of) all the images as references; MAX_LOO of them, each scored
        against the others, standardise the views and set the threshold."""
        rng = np.random.default_rng(self.random_state)
        keep = np.sort(rng.permutation(len(x))[:min(MAX_REFERENCE, MAX_REFERENCE_VALUES // x[0].size)])
        self.reference_images_ = np.ascontiguousarray(x[keep]).reshape(len(keep), -1)
        self.n_reference_, self.n_holdout_ = len(keep), 0
        self._views = self._reference_key = None
        loo = torch.from_numpy(np.sort(rng.permutation(len(keep))[:MAX_LOO]))
        stats = model_statistics(model, x[keep][loo.numpy()])
        stats.update(self._pixel_distances(
            ("leave-one-out", data_fingerprint(loo.numpy())), self.score != "pixel-knn",
            lambda: {k: v[loo] for k, v in self._reference_views().items()}, skip=loo))
        # Rows keep their places; "pixel-knn" has no hull row to measure (the costliest view), so it holds (0, 1).
        self.robust_ = np.array([robust_scale(stats[k]) if k in stats else (0.0, 1.0) for k in ROBUST
                                 if k != "palette" or k in stats])
        self.offset_ = float(np.quantile(self._score(model, stats), self.target_fpr))
        return self

    def _reference_views(self) -> dict[str, torch.Tensor]:
        """The pixel views of the references, made when first needed (a detector whose distances are all known
        by content never makes them)."""
        if getattr(self, "_views", None) is None:
            self._views = views(self.reference_images_.reshape(len(self.reference_images_), *self._image_shape()))
        return self._views

    def _pixel_distances(self, query: tuple, hull: bool, query_views: Callable[[], dict[str, torch.Tensor]],
                         skip: torch.Tensor | None = None) -> dict[str, np.ndarray]:
        """`view_distances` of the images named by `query` (a content key) against the references, looked up by
        content first (`memo`); a result with the hull also answers a request without it (results are non-empty)."""
        if getattr(self, "_reference_key", None) is None:
            self._reference_key = (data_fingerprint(self.reference_images_), self._image_shape())
        key = ("pixel views", self._reference_key, *query)
        found = recall((*key, True)) or (None if hull else recall((*key, False)))
        return found or remember((*key, hull), view_distances(query_views(), self._reference_views(), skip, hull))

    def _image_shape(self) -> tuple[int, ...]:
        c, h, w = self._model().image_shape
        return (h, w) if c == 1 else (h, w, c)

    def score_samples(self, x: np.ndarray, shared: dict | None = None) -> np.ndarray:
        """Normality of each image (higher = more like the training data), float64 (N,). Detectors of one run
        scoring the same `x` may pass one dict as `shared` to compute what they have in common once."""
        check_is_fitted(self, "offset_")
        model = self._checked_model()
        return self._score(model, self._statistics(model, as_uint8_images(x, model.image_shape), shared))

    def decision_function(self, x: np.ndarray) -> np.ndarray:
        """`score_samples - offset_`: negative for images the detector rejects."""
        return self.score_samples(x) - self.offset_

    def predict(self, x: np.ndarray) -> np.ndarray:
        """+1 for in-distribution images, -1 for novel ones."""
        return np.where(self.decision_function(x) >= 0, 1, -1)

    def explain(self, x: np.ndarray, labels: np.ndarray | None = None) -> list:
        """Why each image scored as it did: one `analysis.explain.Explanation` per image (its nearest training images
        in each pixel view, each view's share of the score and the model's veto, the anomaly maps in the image's
        layout). `labels`: those of the images `fit` was given, in order, to name the neighbours' classes."""
        from latentlab.analysis.explain import explain

        check_is_fitted(self, "offset_")
        return explain(self, x, labels)

    # ---- scores -----------------------------------------------------------------------------------------

    def _checked_model(self) -> nn.Module:
        model = self._model()
        allowed = ", ".join(valid_scores(model))
        if self.score not in SCORES:
            raise ConfigError(f"score={self.score!r} is invalid: choose one of {allowed}")
        if self.score not in valid_scores(model):
            raise ConfigError(f"score={self.score!r} needs a VAE, and this model is a plain autoencoder; choose one "
                              f"of {allowed}")
        if not (isinstance(self.k, int) and self.k >= 1):
            raise ConfigError(f"k={self.k!r} is invalid: the number of neighbours must be an integer >= 1")
        if not 0.0 < self.target_fpr < 1.0:
            raise ConfigError(f"target_fpr={self.target_fpr!r} is invalid: a rate in (0, 1), e.g. 0.05")
        if not 0.0 < self.holdout < 1.0:
            raise ConfigError(f"holdout={self.holdout!r} is invalid: a fraction in (0, 1), e.g. 0.2")
        return model

    def _model(self) -> nn.Module:
        """The model behind `model_or_run`: a model, a `Run`, or a run directory (loaded once and kept)."""
        if isinstance(self.model_or_run, str | Path):
            if getattr(self, "_loaded", (None,))[0] != self.model_or_run:
                self._loaded = (self.model_or_run, load_run(self.model_or_run))
            return self._loaded[1].model
        model = self.model_or_run.model if isinstance(self.model_or_run, Run) else self.model_or_run
        if not isinstance(model, nn.Module) or not hasattr(model, "per_image"):
            raise TypeError(f"model_or_run must be a latentlab model, a Run or a run directory, got "
                            f"{type(self.model_or_run).__name__}")
        return model

    def _needs_codes(self) -> bool:
        return self.score in ("density", "latent")

    def _statistics(self, model: nn.Module, x: np.ndarray, shared: dict | None = None) -> dict[str, np.ndarray]:
        """The statistics this score needs of images `x`. Detectors of one run scoring the same images may share a
        `shared` dict: the model's pass, the pixel views (for the same references) and zlib sizes are made once."""
        own, shared = shared is None, {} if shared is None else shared
        stats = dict(once(shared, "model", lambda: model_statistics(model, x)))
        # "nll" of the model's likelihood (Bernoulli: the BCE; Gaussian: squared error in nats), plus a VAE's KL.
        stats["recon_nll"] = stats["nll"]
        stats["nll"] = stats["nll"] + stats.get("kl", 0.0)
        content = once(shared, "content", lambda: (data_fingerprint(x), x.shape))
        if self.score in ("density", "complexity"):
            stats["complexity_bits"] = memoised(("complexity bits", *content), lambda: complexity_bits(x))
        if self.score in PIXEL_SCORES:
            # Alone, "pixel-knn" skips the hull (the costliest view); shared, the others need it.
            hull = not own or self.score != "pixel-knn"
            stats.update(self._pixel_distances(("images", *content), hull, lambda: views(x)))
        if self._needs_codes():
            dist = self.neighbors_.kneighbors(stats["code"], self.k, return_distance=True)[0] if len(x) else (
                np.zeros((0, self.k)))
            stats["knn_distance"] = dist.mean(1)
        return stats

    def _score(self, model: nn.Module, s: dict[str, np.ndarray], held_out: bool = False) -> np.ndarray:
        if self.score == "density":
            return self._density(model, s, held_out)
        return _SCORE_FUNCTIONS[self.score](self, s)

    def _z(self, s: dict[str, np.ndarray], key: str, row: int) -> np.ndarray:
        centre, scale = self.robust_[row]
        return (s[key] - centre) / scale

    def _combined(self, s: dict[str, np.ndarray]) -> np.ndarray:
        veto = np.maximum(0.0, self._z(s, "mse", 2) - VETO_Z)
        colour = self._z(s, "palette", 3) if len(self.robust_) > 3 else 0.0  # view C: colour runs only
        return -(self._z(s, "pixel_knn", 0) + self._z(s, "hull", 1) + colour) - veto

    def _density(self, model: nn.Module, s: dict[str, np.ndarray], held_out: bool) -> np.ndarray:
        z = (density_features(model, s) - self.feature_mean_) / self.feature_scale_
        if held_out:
            # The threshold is a quantile of held-out scores; scoring the points the mixture was fitted on
            # would make them look more typical than new images (measured: 6.7% instead of 5% rejected on
            # MNIST), so each held-out image is scored by a mixture fitted on the other folds.
            return cross_fitted_log_density(z, n_components(len(z) - len(z) // CV_FOLDS), self.random_state)
        return log_density(z, self.weights_, self.means_, self.precisions_cholesky_)

    # ---- persistence: JSON + safetensors, never pickle --------------------------------------------------

    def save(self, run_dir: str | Path) -> Path:
        """Write detector[-SCORE].json and .safetensors into `run_dir`; returns the JSON path."""
        check_is_fitted(self, "offset_")
        arrays = {k: np.ascontiguousarray(getattr(self, k)) for k in _ARRAYS if hasattr(self, k)}
        info = {"format": FORMAT, "class": type(self).__name__,
                "params": {k: getattr(self, k) for k in ("score", "k", "target_fpr", "holdout", "random_state")},
                "offset_": self.offset_, "model_sha256_": self.model_sha256_, "data_sha256_": self.data_sha256_,
                "n_reference_": self.n_reference_, "n_holdout_": self.n_holdout_,
                "features": list(feature_names(self._checked_model())) if self.score == "density" else []}
        return write_detector(run_dir, self.score, info, arrays)

    @classmethod
    def load(cls, run_dir: str | Path, model: nn.Module | Run, score: str = "combined") -> NoveltyDetector:
        """Read a detector saved by `save` for `model`; ValueError when it was fitted for other weights."""
        path, info, arrays = read_detector(run_dir, score, cls.__name__, FORMAT)
        det = cls(model, **info["params"])
        if model_fingerprint(det._checked_model()) != info["model_sha256_"]:
            raise ValueError(f"{path} was fitted for other model weights; delete it and refit")
        for key in ("offset_", "model_sha256_", "data_sha256_", "n_reference_", "n_holdout_"):
            setattr(det, key, info[key])
        needed = ({"reference_images_", "robust_"} if det.score in PIXEL_SCORES else
                  set(_ARRAYS[:6]) if det.score == "density" else {"reference_codes_"} if det._needs_codes() else set())
        if not needed <= set(arrays):
            raise ValueError(f"{path}: its .safetensors lacks {sorted(needed - set(arrays))}; delete both and refit")
        for key in needed:
            setattr(det, key, arrays[key])
        if det._needs_codes():
            det.neighbors_ = NearestNeighbors(n_neighbors=det.k).fit(det.reference_codes_)
        return det


# The scores computed from per-image statistics (all but "density", which needs the fitted mixture): higher is
# more normal. One entry per score; `SCORES` lists them all.
_SCORE_FUNCTIONS = {
    "combined": NoveltyDetector._combined,
    "pixel-knn": lambda det, s: -det._z(s, "pixel_knn", 0),
    "hyperplane": lambda det, s: -det._z(s, "hull", 1),
    "recon": lambda det, s: -s["recon_nll"],
    "latent": lambda det, s: -s["knn_distance"],
    "elbo": lambda det, s: -s["nll"],
    "complexity": lambda det, s: -(s["nll"] / LN2 - s["complexity_bits"]),
}
