"""Full-covariance Gaussian mixtures for the "combined" novelty score: fit, log density, cross-fitted density."""

from __future__ import annotations

import numpy as np
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_limits

CV_FOLDS = 5


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
