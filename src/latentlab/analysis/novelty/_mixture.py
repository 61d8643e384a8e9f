"""The "density" novelty score: per-image statistics as features, and full-covariance Gaussian mixtures over them
(fit, log density, cross-fitted density)."""

from __future__ import annotations

import numpy as np
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_limits
from torch import nn

from latentlab.models import has_prior

CV_FOLDS = 5
MAX_COMPONENTS = 4
HOLDOUT_PER_COMPONENT = 400  # a full-covariance component needs a few hundred points to be estimated well


def feature_names(model: nn.Module) -> tuple[str, ...]:
    """Columns of the "density" score. Logs tame the long right tails of the distances and the KL; the NLL stays
    linear, as its far tail is where noise lies (log NLL let 0.6% of noise pairs through on Fashion-MNIST)."""
    names = ("nll", "complexity_bits", "log_knn_distance", "code_norm")
    return (*names, "log_kl") if has_prior(model) else names


def density_features(model: nn.Module, s: dict[str, np.ndarray]) -> np.ndarray:
    """The (N, F) feature matrix of `feature_names(model)` from a detector's per-image statistics `s`."""
    tiny = 1e-6  # keeps log() finite for a code on top of a reference code, or a KL of zero
    cols = {
        "nll": lambda: s["nll"],
        "complexity_bits": lambda: s["complexity_bits"],
        "log_knn_distance": lambda: np.log(s["knn_distance"] + tiny),
        "code_norm": lambda: np.linalg.norm(s["code"].astype(np.float64), axis=1),
        "log_kl": lambda: np.log(s["kl"] + tiny),
    }
    return np.stack([cols[name]() for name in feature_names(model)], axis=1)


def n_components(n: int) -> int:
    """Mixture components for `n` points: one per HOLDOUT_PER_COMPONENT, 1 to MAX_COMPONENTS."""
    return int(np.clip(n // HOLDOUT_PER_COMPONENT, 1, MAX_COMPONENTS))


def fit_density(features: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """Standardise `features` and fit the mixture; the fitted arrays, named as the detector stores them."""
    mean, std = features.mean(0), features.std(0)
    # A constant feature (e.g. every code norm 0 for a dead encoder) must not divide by zero.
    scale = np.where(std > 1e-9, std, 1.0)
    gmm = fit_mixture((features - mean) / scale, n_components(len(features)), seed)
    return {"feature_mean_": mean, "feature_scale_": scale, "weights_": gmm.weights_, "means_": gmm.means_,
            "precisions_cholesky_": gmm.precisions_cholesky_}


def fit_mixture(z: np.ndarray, n_components: int, seed: int) -> GaussianMixture:
    gmm = GaussianMixture(n_components, covariance_type="full", reg_covar=1e-4, n_init=2, random_state=seed)
    # The matrices are at most 5 x 5: threaded BLAS only adds overhead (8x slower on a busy 2-core machine).
    with threadpool_limits(limits=1):
        return gmm.fit(z)


def log_density(z: np.ndarray, weights: np.ndarray, means: np.ndarray, prec_chol: np.ndarray) -> np.ndarray:
    """Log density of a full-covariance Gaussian mixture, from the Cholesky factors of the precisions."""
    d = z.shape[1]
    y = np.einsum("nd,kde->nke", z, prec_chol) - np.einsum("kd,kde->ke", means, prec_chol)[None]
    log_det = np.log(np.diagonal(prec_chol, axis1=1, axis2=2)).sum(1)
    comp = -0.5 * (y**2).sum(2) + log_det - 0.5 * d * np.log(2 * np.pi) + np.log(weights)
    top = comp.max(1, keepdims=True)
    return (top + np.log(np.exp(comp - top).sum(1, keepdims=True)))[:, 0]


def cross_fitted_log_density(z: np.ndarray, n_components: int, seed: int) -> np.ndarray:
    """Each point's log density under a mixture fitted without it (CV_FOLDS folds)."""
    folds = np.array_split(np.random.default_rng(seed + 1).permutation(len(z)), CV_FOLDS)
    out = np.empty(len(z))
    for i, fold in enumerate(folds):
        rest = np.concatenate([f for j, f in enumerate(folds) if j != i])
        g = fit_mixture(z[rest], n_components, seed)
        out[fold] = log_density(z[fold], g.weights_, g.means_, g.precisions_cholesky_)
    return out
