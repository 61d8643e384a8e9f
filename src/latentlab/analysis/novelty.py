"""Is an image like the data a model was trained on? `NoveltyDetector` follows scikit-learn's outlier contract.

Every single score fails in one direction. A model's likelihood (ELBO, reconstruction) rates simple images
as more normal, so a Fashion-MNIST model finds MNIST digits *more* typical than its own test set; the
complexity-corrected likelihood of Serra et al. (2020) fixes that and breaks the opposite direction. The
default "combined" score therefore measures how typical the *joint* statistics of an image are (DoSE, Morningstar
et al. 2021): negative log-likelihood, compressed size, distance to the training codes, the code norm and, for
VAEs, the KL term, standardised and modelled by a Gaussian mixture fitted on held-out training images.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Self

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.numpy import load_file
from safetensors.numpy import save as save_tensors
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.neighbors import NearestNeighbors
from sklearn.utils.validation import check_is_fitted
from torch import nn

from latentlab.analysis.inference import embed
from latentlab.analysis.mixture import CV_FOLDS, cross_fitted_log_density, fit_mixture, log_density
from latentlab.analysis.statistics import LN2, as_uint8_images, complexity_bits, model_statistics
from latentlab.errors import ConfigError
from latentlab.files import atomic_write_bytes, atomic_write_text
from latentlab.models import has_prior
from latentlab.runs import Run, load_run

SCORES = ("combined", "recon", "latent", "elbo", "complexity")
VAE_ONLY = ("elbo",)
FORMAT = 2  # bumped whenever a feature changes meaning: older files are refitted, not misread
MAX_COMPONENTS = 4
HOLDOUT_PER_COMPONENT = 400  # a full-covariance component needs a few hundred points to be estimated well
_ARRAYS = ("reference_codes_", "feature_mean_", "feature_scale_", "weights_", "means_", "precisions_cholesky_")


def valid_scores(model: nn.Module) -> tuple[str, ...]:
    """The scores that apply to `model` (all of them for VAEs, all but "elbo" for plain autoencoders)."""
    return SCORES if has_prior(model) else tuple(s for s in SCORES if s not in VAE_ONLY)


def feature_names(model: nn.Module) -> tuple[str, ...]:
    """Columns of the "combined" score. Logs tame the long right tails of the distances and the KL; the NLL stays
    linear, as its far tail is where noise lies (log NLL let 0.6% of noise pairs through on Fashion-MNIST)."""
    names = ("nll", "complexity_bits", "log_knn_distance", "code_norm")
    return (*names, "log_kl") if has_prior(model) else names


def model_fingerprint(model: nn.Module) -> str:
    """SHA-256 over the model's parameters and buffers: a saved detector is only reused for the same weights."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()


def data_fingerprint(x: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(x).tobytes()).hexdigest()


def file_stem(score: str) -> str:
    """The default detector is saved as detector.json / detector.safetensors, others as detector-SCORE.*."""
    return "detector" if score == "combined" else f"detector-{score}"


class NoveltyDetector(OutlierMixin, BaseEstimator):
    """Novelty detection with a trained autoencoder or VAE (the model of a `Run`, or a bare model).

    `fit` takes uint8 training images (N, 28, 28) and sets `holdout` of them aside (a fixed permutation
    seeded by `random_state`); the rest are the reference codes of the "latent" score, and the held-out
    images fit the density of "combined" and the threshold `offset_`, the `target_fpr` quantile of their
    scores, so about `target_fpr` of in-distribution images are rejected. `score_samples` is higher for
    more normal images, `predict` gives +1 (in) or -1 (out).

    Scores: "combined" (default, see the module docstring); "recon", minus the reconstruction loss (nats);
    "latent", minus the mean distance to the `k` nearest reference codes; "elbo" (VAEs), the ELBO at the
    posterior mean (deterministic: -(reconstruction of the decoded mean + KL)); "complexity", minus the
    complexity-corrected NLL, -(NLL in bits - L(x)) with L(x) the zlib size of the image in bits.
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
        """Fit on uint8 in-distribution images (N, 28, 28); returns self."""
        model = self._checked_model()
        x = as_uint8_images(x_train)
        n_hold = int(round(self.holdout * len(x)))
        if n_hold < 20 or len(x) - n_hold < self.k:
            raise ConfigError(f"fit needs at least 20 held-out images and {self.k} reference images; got {len(x)} "
                             f"images with holdout={self.holdout}: pass more images or a larger holdout")
        perm = np.random.default_rng(self.random_state).permutation(len(x))
        held, reference = x[np.sort(perm[:n_hold])], x[np.sort(perm[n_hold:])]
        self.model_sha256_ = model_fingerprint(model)
        self.data_sha256_ = data_fingerprint(x)
        self.n_reference_, self.n_holdout_ = len(reference), len(held)
        if self._needs_codes():
            self.reference_codes_ = embed(model, reference)
            self.neighbors_ = NearestNeighbors(n_neighbors=self.k).fit(self.reference_codes_)
        stats = self._statistics(model, held)
        if self.score == "combined":
            self._fit_density(self._features(model, stats))
        self.offset_ = float(np.quantile(self._score(model, stats, held_out=True), self.target_fpr))
        return self

    def score_samples(self, x: np.ndarray) -> np.ndarray:
        """Normality of each image (higher = more like the training data), float64 (N,)."""
        check_is_fitted(self, "offset_")
        model = self._checked_model()
        return self._score(model, self._statistics(model, as_uint8_images(x)))

    def decision_function(self, x: np.ndarray) -> np.ndarray:
        """`score_samples - offset_`: negative for images the detector rejects."""
        return self.score_samples(x) - self.offset_

    def predict(self, x: np.ndarray) -> np.ndarray:
        """+1 for in-distribution images, -1 for novel ones."""
        return np.where(self.decision_function(x) >= 0, 1, -1)

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
        return self.score in ("combined", "latent")

    def _statistics(self, model: nn.Module, x: np.ndarray) -> dict[str, np.ndarray]:
        stats = model_statistics(model, x)
        stats["nll"] = stats["bce"] + stats.get("kl", 0.0)
        if self.score in ("combined", "complexity"):
            stats["complexity_bits"] = complexity_bits(x)
        if self._needs_codes():
            dist = self.neighbors_.kneighbors(stats["code"], self.k, return_distance=True)[0] if len(x) else (
                np.zeros((0, self.k)))
            stats["knn_distance"] = dist.mean(1)
        return stats

    def _score(self, model: nn.Module, s: dict[str, np.ndarray], held_out: bool = False) -> np.ndarray:
        if self.score == "recon":
            return -s["bce"]
        if self.score == "latent":
            return -s["knn_distance"]
        if self.score == "elbo":
            return -s["nll"]
        if self.score == "complexity":
            return -(s["nll"] / LN2 - s["complexity_bits"])
        z = (self._features(model, s) - self.feature_mean_) / self.feature_scale_
        if held_out:
            # The threshold is a quantile of held-out scores; scoring the points the mixture was fitted on
            # would make them look more typical than new images (measured: 6.7% instead of 5% rejected on
            # MNIST), so each held-out image is scored by a mixture fitted on the other folds.
            n_fit = len(z) - len(z) // CV_FOLDS
            return cross_fitted_log_density(z, self._n_components(n_fit), self.random_state)
        return log_density(z, self.weights_, self.means_, self.precisions_cholesky_)

    def _features(self, model: nn.Module, s: dict[str, np.ndarray]) -> np.ndarray:
        tiny = 1e-6  # keeps log() finite for a code on top of a reference code, or a KL of zero
        cols = {
            "nll": s["nll"],
            "complexity_bits": s["complexity_bits"],
            "log_knn_distance": np.log(s["knn_distance"] + tiny),
            "code_norm": np.linalg.norm(s["code"].astype(np.float64), axis=1),
            "log_kl": np.log(s["kl"] + tiny) if "kl" in s else None,
        }
        return np.stack([cols[name] for name in feature_names(model)], axis=1)

    def _n_components(self, n: int) -> int:
        return int(np.clip(n // HOLDOUT_PER_COMPONENT, 1, MAX_COMPONENTS))

    def _fit_density(self, features: np.ndarray) -> None:
        self.feature_mean_ = features.mean(0)
        # A constant feature (e.g. every code norm 0 for a dead encoder) must not divide by zero.
        self.feature_scale_ = np.where(features.std(0) > 1e-9, features.std(0), 1.0)
        z = (features - self.feature_mean_) / self.feature_scale_
        gmm = fit_mixture(z, self._n_components(len(z)), self.random_state)
        self.weights_, self.means_, self.precisions_cholesky_ = gmm.weights_, gmm.means_, gmm.precisions_cholesky_

    # ---- persistence: JSON + safetensors, never pickle --------------------------------------------------

    def save(self, run_dir: str | Path) -> Path:
        """Write detector[-SCORE].json and .safetensors into `run_dir`; returns the JSON path."""
        check_is_fitted(self, "offset_")
        run_dir = Path(run_dir)
        stem = file_stem(self.score)
        arrays = {k: np.ascontiguousarray(getattr(self, k)) for k in _ARRAYS if hasattr(self, k)}
        atomic_write_bytes(run_dir / f"{stem}.safetensors", save_tensors(arrays))
        info = {"format": FORMAT, "class": type(self).__name__,
                "params": {k: getattr(self, k) for k in ("score", "k", "target_fpr", "holdout", "random_state")},
                "offset_": self.offset_, "model_sha256_": self.model_sha256_, "data_sha256_": self.data_sha256_,
                "n_reference_": self.n_reference_, "n_holdout_": self.n_holdout_,
                "features": list(feature_names(self._checked_model())) if self.score == "combined" else []}
        atomic_write_text(run_dir / f"{stem}.json", json.dumps(info, indent=2) + "\n")
        return run_dir / f"{stem}.json"

    @classmethod
    def load(cls, run_dir: str | Path, model: nn.Module | Run, score: str = "combined") -> NoveltyDetector:
        """Read a detector saved by `save` for `model`; ValueError when it was fitted for other weights."""
        run_dir = Path(run_dir)
        stem = file_stem(score)
        path = run_dir / f"{stem}.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist; fit one with NoveltyDetector(...).fit(x).save(run_dir)")
        try:
            info = json.loads(path.read_text())
            arrays = load_file(str(run_dir / f"{stem}.safetensors"))
        except (json.JSONDecodeError, SafetensorError, OSError) as exc:
            raise ValueError(f"{path} or its .safetensors is damaged ({exc}); delete both and refit") from None
        if info.get("class") != cls.__name__ or info.get("format", 0) != FORMAT:
            raise ValueError(f"{path} is not a NoveltyDetector this latentlab can read; delete it and refit")
        det = cls(model, **info["params"])
        if model_fingerprint(det._checked_model()) != info["model_sha256_"]:
            raise ValueError(f"{path} was fitted for other model weights; delete it and refit")
        for key in ("offset_", "model_sha256_", "data_sha256_", "n_reference_", "n_holdout_"):
            setattr(det, key, info[key])
        needed = set(_ARRAYS) if det.score == "combined" else {"reference_codes_"} if det._needs_codes() else set()
        if not needed <= set(arrays):
            raise ValueError(f"{path}: its .safetensors lacks {sorted(needed - set(arrays))}; delete both and refit")
        for key in needed:
            setattr(det, key, arrays[key])
        if det._needs_codes():
            det.neighbors_ = NearestNeighbors(n_neighbors=det.k).fit(det.reference_codes_)
        return det
