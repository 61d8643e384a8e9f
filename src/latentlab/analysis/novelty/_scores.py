"""The registered novelty scores, one entry each (see `_score.Score`); higher is more normal everywhere.

- "combined" (the default): the pixel views of `_pixel_views`, each standardised by its leave-one-out median and
  MAD on the training images, with the model as a veto: an image it reconstructs far worse than any training image
  (robust z of its squared error above VETO_Z) loses what it exceeds by.
- "density": the joint density of NLL, compressed size, code distance, code norm and KL (DoSE-style, Morningstar
  et al. 2021), a Gaussian mixture of `_mixture`.
- "pixel-knn", "hyperplane": views A and B alone.
- "recon": minus the reconstruction loss (nats); "elbo" (VAEs): the ELBO at the posterior mean; "latent": minus
  the mean distance to the `k` nearest reference codes; "complexity": minus the complexity-corrected NLL of Serra
  et al. (2020), -(NLL in bits - zlib bits of the image).
- "mahalanobis": minus the squared Mahalanobis distance of the code to the reference codes' mean (the classic
  baseline, Lee et al. 2018, one class), under their empirical covariance plus a ridge (see `_fit_gaussian`).
"""

from __future__ import annotations

import numpy as np
from sklearn.covariance import EmpiricalCovariance
from sklearn.utils.validation import check_is_fitted

from latentlab.analysis.inference import embed
from latentlab.analysis.novelty._mixture import (
    CV_FOLDS,
    cross_fitted_log_density,
    density_features,
    feature_names,
    fit_density,
    log_density,
    n_components,
)
from latentlab.analysis.novelty._pixel_views import robust_scale
from latentlab.analysis.novelty._score import FitInput, Score, Stats
from latentlab.analysis.statistics import LN2, as_uint8_images

# How far (robust z, MADs) the model's squared error may exceed the training images' before it counts against an
# image. Fixed once: beyond 5 MADs no training image of any class measured here lies, uniform noise lies at ~100.
VETO_Z = 5.0
# The robust statistics (median, 1.4826 MAD) of the pixel scores, named; saved as the rows of `robust_` in this
# order ("palette" for colour runs only; a statistic a score does not compute holds (0, 1)).
ROBUST = ("pixel_knn", "hull", "mse", "palette")
# The ridge added to the codes' covariance, relative to its mean variance: a VAE's collapsed dimensions have
# posterior means of (nearly) no variance, which would make the covariance singular.
RIDGE = 1e-3


def _fit_robust(inp: FitInput) -> dict[str, np.ndarray]:
    s = inp.stats
    rows = [robust_scale(s[name]) if name in s else (0.0, 1.0) for name in ROBUST if name != "palette" or name in s]
    return {"robust_": np.array(rows)}


def robust_z(det, s: Stats) -> dict[str, np.ndarray]:
    """Each statistic of `s` that has a robust scale, as a robust z: (value - median) / scale."""
    return {name: (s[name] - centre) / scale for name, (centre, scale) in zip(ROBUST, det.robust_, strict=False)
            if name in s}


def _pixel_sum(det, s: Stats) -> np.ndarray:
    z = robust_z(det, s)
    return -(z["pixel_knn"] + z["hull"] + z.get("palette", 0.0))


def _combined(det, s: Stats) -> np.ndarray:
    veto = np.maximum(0.0, robust_z(det, s)["mse"] - VETO_Z)
    return _pixel_sum(det, s) - veto


def pixel_evidence(det, x: np.ndarray) -> np.ndarray:
    """The "combined" score of images `x` without its model veto: minus the sum of the pixel views' robust z.

    The one-class benchmark validates on images its model was trained on, where the veto cannot be judged.

    Parameters
    ----------
    det : NoveltyDetector
        Fitted with score="combined".
    x : numpy.ndarray
        Images of the model's shape, (N, H, W) or (N, H, W, 3), uint8 0..255 or float in [0, 1].

    Returns
    -------
    numpy.ndarray
        float64 (N,): higher for more normal images; `score_samples(x)` plus the veto.

    Raises
    ------
    ValueError
        `det` is not a "combined" detector.
    sklearn.exceptions.NotFittedError
        Before `fit`.
    """
    if det.score != "combined":
        raise ValueError(f"pixel_evidence needs a detector with score='combined', got score={det.score!r}")
    check_is_fitted(det, "offset_")
    model = det._checked_model()
    return _pixel_sum(det, det._statistics(model, as_uint8_images(x, model.image_shape)))


def _fit_density(inp: FitInput) -> dict[str, np.ndarray]:
    return fit_density(density_features(inp.model, inp.stats), inp.random_state)


def _density(det, s: Stats) -> np.ndarray:
    z = (density_features(det._model(), s) - det.feature_mean_) / det.feature_scale_
    return log_density(z, det.weights_, det.means_, det.precisions_cholesky_)


def _cross_fitted_density(det, inp: FitInput) -> np.ndarray:
    # Scoring the points the mixture was fitted on would make them look more typical than new images (measured:
    # 6.7% instead of 5% rejected on MNIST), so each held-out image is scored by a mixture fitted on the other folds.
    z = (density_features(inp.model, inp.stats) - det.feature_mean_) / det.feature_scale_
    return cross_fitted_log_density(z, n_components(len(z) - len(z) // CV_FOLDS), inp.random_state)


def _fit_gaussian(inp: FitInput) -> dict[str, np.ndarray]:
    """Mean and precision of the reference codes. The empirical covariance rather than MinCovDet: the references are
    in-distribution by construction, so there are no outliers to resist, and it is deterministic, one pass, and
    never drops dimensions; MinCovDet's random subsets and C-steps cost more, and it fails on the (near-)singular
    covariance of collapsed VAE dimensions, which the ridge here keeps invertible instead."""
    codes = embed(inp.model, inp.reference).astype(np.float64)
    cov = EmpiricalCovariance().fit(codes)
    ridge = RIDGE * max(float(np.trace(cov.covariance_)) / codes.shape[1], 1e-12)
    precision = np.linalg.inv(cov.covariance_ + ridge * np.eye(codes.shape[1]))
    return {"location_": cov.location_, "precision_": (precision + precision.T) / 2}


def _mahalanobis(det, s: Stats) -> np.ndarray:
    d = s["code"].astype(np.float64) - det.location_
    return -np.einsum("nd,de,ne->n", d, det.precision_, d)


REGISTRY: dict[str, Score] = {
    "combined": Score(frozenset({"model", "pixels", "hull"}), _combined, _fit_robust, ("robust_",)),
    "density": Score(frozenset({"model", "neighbours", "zlib"}), _density, _fit_density,
                     ("feature_mean_", "feature_scale_", "weights_", "means_", "precisions_cholesky_"),
                     calibrate=_cross_fitted_density, columns=feature_names),
    "pixel-knn": Score(frozenset({"pixels"}), lambda det, s: -robust_z(det, s)["pixel_knn"], _fit_robust,
                       ("robust_",)),
    "hyperplane": Score(frozenset({"pixels", "hull"}), lambda det, s: -robust_z(det, s)["hull"], _fit_robust,
                        ("robust_",)),
    "recon": Score(frozenset({"model"}), lambda det, s: -s["recon_nll"]),
    "latent": Score(frozenset({"model", "neighbours"}), lambda det, s: -s["knn_distance"]),
    "elbo": Score(frozenset({"model"}), lambda det, s: -s["nll"], prior=True),
    "complexity": Score(frozenset({"model", "zlib"}), lambda det, s: -(s["nll"] / LN2 - s["complexity_bits"])),
    "mahalanobis": Score(frozenset({"model"}), _mahalanobis, _fit_gaussian, ("location_", "precision_")),
}
