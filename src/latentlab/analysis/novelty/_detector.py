"""Is an image like the data a model was trained on? `NoveltyDetector` follows scikit-learn's outlier contract.

A model's own evidence answers far questions (digits against garments) but loses near ones (a shirt against a
T-shirt) to a plain nearest-neighbour search in pixels (one-class Fashion-MNIST: a deep autoencoder's detector 90.7
mean AUROC, raw-pixel 5-NN 92.3). The default "combined" score therefore leans on the pixel views, with the model
as a veto; the scores themselves are the entries of `_scores.REGISTRY`. This module is the part they share: the
split into references and calibration images, the threshold (in one place, `fit`), and the files.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Self

import numpy as np
import torch
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.neighbors import NearestNeighbors
from sklearn.utils.validation import check_is_fitted
from torch import nn

from latentlab.analysis.inference import embed
from latentlab.analysis.novelty._files import read_detector, write_detector
from latentlab.analysis.novelty._needs import PixelReferences, knn_distance, model_terms, zlib_bits
from latentlab.analysis.novelty._score import FitInput, Score, Stats
from latentlab.analysis.novelty._scores import REGISTRY
from latentlab.analysis.statistics import as_uint8_images, data_fingerprint, model_fingerprint
from latentlab.errors import ConfigError, DetectorFileError, choose
from latentlab.models import has_prior
from latentlab.runs import Run, load_run

SCORES = tuple(REGISTRY)
FORMAT = 3  # bumped whenever a feature changes meaning: older files are refitted, not misread
MAX_REFERENCE = 10_000  # reference images kept by the pixel views (memory: two float32 copies, 63 MB at 28x28)
MAX_REFERENCE_VALUES = 32_000_000  # and at most this many values per view (128 MB): 3,472 images at 64x48 RGB
MAX_LOO = 5_000  # reference images scored leave-one-out to standardise the pixel views
MIN_CALIBRATION = 20  # scores the threshold is a quantile of, at the fewest (held-out, or left out one by one)
RELIABLE = 100  # fewer images than this give an unreliable threshold: `fit` warns, naming how many were used
_FITTED = ("offset_", "model_sha256_", "data_sha256_", "n_reference_", "n_holdout_")


def valid_scores(model: nn.Module) -> tuple[str, ...]:
    """The scores that apply to `model` (all of them for VAEs; those that need no prior for plain autoencoders)."""
    return tuple(name for name, entry in REGISTRY.items() if has_prior(model) or not entry.prior)


class NoveltyDetector(OutlierMixin, BaseEstimator):
    """Novelty detection with a trained autoencoder or VAE (the model of a `Run`, a run directory, or a model).

    `fit` takes in-distribution images of the model's shape. Pixel scores ("combined", "pixel-knn", "hyperplane")
    keep them as references and standardise on leave-one-out scores; model scores set `holdout` of them aside (seeded by
    `random_state`): the rest are the references ("latent" and "density" keep their codes), the held-out ones fit
    what the score fits ("density": a mixture). `offset_` is the `target_fpr` quantile of those held-out or left-out
    scores, so about `target_fpr` of in-distribution images are rejected. `score_samples` is higher for more normal
    images; `predict` gives +1 (in) or -1 (out). What a score computes of a set of images (the model's pass, the
    pixel views' distances, zlib sizes) is kept for the process by content: detectors of one run, or of other
    models on the same images, reuse it.

    Parameters
    ----------
    model_or_run : torch.nn.Module or Run or str or pathlib.Path
        The trained latentlab model (autoencoder or VAE), a `Run`, or a run directory (loaded once, when first needed).
    score : str, default "combined"
        The novelty score, one of `SCORES` (the entries of `_scores.REGISTRY`); those that need a prior ("elbo",
        ...) only for VAEs (see `valid_scores`).
    k : int, default 5
        Number of nearest neighbours of the neighbour scores (an integer >= 1).
    target_fpr : float, default 0.05
        Share of in-distribution images to reject, in (0, 1): `offset_` is this quantile of the calibration scores.
    holdout : float, default 0.2
        Fraction in (0, 1) of the `fit` images the model scores set aside to calibrate on (unused by pixel scores).
    random_state : int, default 0
        Seed of the hold-out split and of the reference subsampling.

    Attributes
    ----------
    offset_ : float
        The threshold: `decision_function` is `score_samples - offset_`.
    model_sha256_, data_sha256_ : str
        Fingerprints of the model's weights and of the `fit` images.
    n_reference_, n_holdout_ : int
        Numbers of reference and held-out images `fit` used.
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
        """Fit on in-distribution images of the model's shape, and set the threshold `offset_`.

        Parameters
        ----------
        x_train : numpy.ndarray
            In-distribution images of the model's shape, (N, H, W) grey or (N, H, W, 3) colour, uint8 0..255 or
            float in [0, 1].
        y : None
            Ignored (scikit-learn's contract).

        Returns
        -------
        NoveltyDetector
            self, fitted.

        Raises
        ------
        ConfigError
            Too few images: pixel scores (the default "combined", "pixel-knn", "hyperplane") need 20 (and more than
            `k`), model scores 20 held out and `k` references; or an invalid parameter (a score the model cannot
            have, `k`, `target_fpr`, `holdout`).
        TypeError
            `model_or_run` is not a latentlab model, a `Run` or a run directory.

        Warns
        -----
        UserWarning
            Under 100 images (the threshold is unreliable), and when `holdout` of the images is fewer than 20: 20 are
            held out instead (`n_holdout_`), and the warning says how many images give the default split.
        """
        model, entry = self._checked_model(), REGISTRY[self.score]
        x = as_uint8_images(x_train, model.image_shape)
        n_hold = self._held_out(len(x), entry)
        self.model_sha256_ = model_fingerprint(model)
        self.data_sha256_ = data_fingerprint(x)
        if entry.pixel_references:  # before the split: its copies are 45 MiB of 60,000 images, unused here
            inp = self._fit_pixel_references(model, entry, x)
        else:
            perm = np.random.default_rng(self.random_state).permutation(len(x))
            held, reference = x[np.sort(perm[:n_hold])], x[np.sort(perm[n_hold:])]
            self.n_reference_, self.n_holdout_ = len(reference), len(held)
            if "neighbours" in entry.needs:
                self.reference_codes_ = embed(model, reference)
                self.neighbors_ = NearestNeighbors(n_neighbors=self.k).fit(self.reference_codes_)
            inp = FitInput(model, self._statistics(model, held), reference, self.random_state)
        for key, value in entry.fit(inp).items():
            setattr(self, key, value)
        calibration = entry.calibrate(self, inp) if entry.calibrate else entry.score(self, inp.stats)
        self.offset_ = float(np.quantile(calibration, self.target_fpr))  # the one place the threshold is set
        if note := self.unreliable():
            warnings.warn(note, UserWarning, stacklevel=2)
        return self

    def _held_out(self, n: int, entry: Score) -> int:
        """How many of `n` fit images the model scores hold out (0 for pixel scores, which calibrate on all of them
        left out one by one): `holdout` of them, or MIN_CALIBRATION when that gives fewer (`unreliable` says so).
        ConfigError when not even that fits."""
        if entry.pixel_references:
            need = max(MIN_CALIBRATION, self.k + 1)
            if n < need:
                raise ConfigError(f"score={self.score!r} needs at least {need} images to set its threshold on (each "
                                  f"scored against the others); got {n}", hint="pass more images",
                                  field="x_train", value=n)
            return 0
        n_hold = int(round(self.holdout * n))
        if max(n_hold, MIN_CALIBRATION) + self.k > n:
            raise ConfigError(f"fit needs at least {MIN_CALIBRATION} held-out images and {self.k} reference images; "
                              f"got {n} images with holdout={self.holdout}",
                              hint="pass more images or a larger holdout", field="holdout", value=self.holdout)
        return max(n_hold, MIN_CALIBRATION)

    def unreliable(self) -> str:
        """What makes the fitted threshold unreliable, in words ("" when nothing does): fewer than RELIABLE images,
        and for model scores 20 held out where `holdout` gave fewer. `fit` warns with it; `latentlab detect` says it
        each time it uses such a detector.

        Returns
        -------
        str
            The sentence, naming the score, how many images were used and how many give the default.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before `fit` (or `load`).
        """
        check_is_fitted(self, "offset_")
        n, held = self.n_reference_ + self.n_holdout_, self.n_holdout_
        if REGISTRY[self.score].pixel_references:
            return "" if n >= RELIABLE else (
                f"the {self.score} detector's threshold is the {self.target_fpr:.0%} quantile of only {n} training "
                f"images' scores (each scored leave-one-out against the others), so it is unreliable; {RELIABLE} or "
                "more images give a reliable one")
        asked = int(round(self.holdout * n))
        if held > asked:
            return (f"the {self.score} detector held out {held} of {n} images ({held / n:.0%}) to set its threshold "
                    f"on, not holdout={self.holdout} of them ({asked}), and kept {n - held} as references; its "
                    f"threshold is unreliable on so few, and {math.ceil(MIN_CALIBRATION / self.holdout)} or more "
                    "images give the default split")
        return "" if n >= RELIABLE else (
            f"the {self.score} detector's threshold is the {self.target_fpr:.0%} quantile of only {held} held-out "
            f"images' scores (of {n}), so it is unreliable; {RELIABLE} or more images give a reliable one")

    def score_samples(self, x: np.ndarray) -> np.ndarray:
        """Normality of each image (higher = more like the training data).

        Parameters
        ----------
        x : numpy.ndarray
            Images of the model's shape, (N, H, W) or (N, H, W, 3), uint8 0..255 or float in [0, 1].

        Returns
        -------
        numpy.ndarray
            float64 (N,): higher for more normal images.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before `fit` (or `load`).
        """
        check_is_fitted(self, "offset_")
        model = self._checked_model()
        return REGISTRY[self.score].score(self, self._statistics(model, as_uint8_images(x, model.image_shape)))

    def decision_function(self, x: np.ndarray) -> np.ndarray:
        """`score_samples - offset_`: negative for images the detector rejects.

        Parameters
        ----------
        x : numpy.ndarray
            Images of the model's shape, (N, H, W) or (N, H, W, 3), uint8 0..255 or float in [0, 1].

        Returns
        -------
        numpy.ndarray
            float64 (N,): >= 0 for accepted (in-distribution) images, < 0 for rejected (novel) ones.
        """
        return self.score_samples(x) - self.offset_

    def predict(self, x: np.ndarray) -> np.ndarray:
        """+1 for in-distribution images, -1 for novel ones.

        Parameters
        ----------
        x : numpy.ndarray
            Images of the model's shape, (N, H, W) or (N, H, W, 3), uint8 0..255 or float in [0, 1].

        Returns
        -------
        numpy.ndarray
            int64 (N,): +1 where `decision_function` >= 0, else -1.
        """
        return np.where(self.decision_function(x) >= 0, 1, -1)

    def explain(self, x: np.ndarray, labels: np.ndarray | None = None,
                classes: Sequence[str] | None = None) -> list:
        """Why each image scored as it did: one `Explanation` per image.

        Each explanation holds the image's nearest training images in each pixel view, each view's share of the score
        and the model's veto, and the anomaly maps in the image's layout.

        Parameters
        ----------
        x : numpy.ndarray
            Images of the model's shape, (N, H, W) or (N, H, W, 3), uint8 0..255 or float in [0, 1].
        labels : numpy.ndarray or None, default None
            Integer labels (M,) of the images `fit` was given, in order, to name the neighbours' classes.
        classes : sequence of str or None, default None
            The class names of those labels (`ImageData.classes`): each neighbour's "label_name", beside its "label".

        Returns
        -------
        list of Explanation
            N explanations, in the order of `x`.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before `fit` (or `load`).
        """
        from latentlab.analysis.novelty._explain import explain

        check_is_fitted(self, "offset_")
        return explain(self, x, labels, classes)

    # ---- what the scores are computed from ---------------------------------------------------------------

    def _fit_pixel_references(self, model: nn.Module, entry: Score, x: np.ndarray) -> FitInput:
        """The pixel views keep (up to MAX_REFERENCE of) all the images as references; MAX_LOO of them, each scored
        against the others, are the calibration statistics."""
        rng = np.random.default_rng(self.random_state)
        keep = np.sort(rng.permutation(len(x))[:min(MAX_REFERENCE, MAX_REFERENCE_VALUES // x[0].size)])
        self.reference_images_ = np.ascontiguousarray(x[keep]).reshape(len(keep), -1)
        self.n_reference_, self.n_holdout_ = len(keep), 0
        loo = torch.from_numpy(np.sort(rng.permutation(len(keep))[:MAX_LOO]))
        stats = model_terms(model, x[keep][loo.numpy()]) if "model" in entry.needs else {}
        stats.update(self._references().left_out(loo, "hull" in entry.needs))
        return FitInput(model, stats, x[:0], self.random_state)

    def _references(self) -> PixelReferences:
        """The pixel references of `reference_images_` (kept while that array is the same object)."""
        refs = getattr(self, "_pixel_refs", None)
        if refs is None or refs.images is not self.reference_images_:
            c, h, w = self._model().image_shape
            refs = self._pixel_refs = PixelReferences(self.reference_images_, (h, w) if c == 1 else (h, w, c))
        return refs

    def _statistics(self, model: nn.Module, x: np.ndarray) -> Stats:
        """What this score needs of uint8 images `x` (see `_score.NEEDS`)."""
        needs = REGISTRY[self.score].needs
        stats = model_terms(model, x) if "model" in needs else {}
        if "zlib" in needs:
            stats["complexity_bits"] = zlib_bits(x)
        if "pixels" in needs:
            stats.update(self._references().of_images(x, "hull" in needs))
        if "neighbours" in needs:
            stats["knn_distance"] = knn_distance(self.neighbors_, stats["code"], self.k)
        return stats

    def _checked_model(self) -> nn.Module:
        model = self._model()
        needs_prior = self.score in REGISTRY and REGISTRY[self.score].prior and not has_prior(model)
        choose(valid_scores(model), self.score, "score", problem=f"score={self.score!r} needs a VAE, and this model "
               "is a plain autoencoder" if needs_prior else None)
        if not (isinstance(self.k, int) and self.k >= 1):
            raise ConfigError(f"k={self.k!r} is invalid: the number of neighbours must be an integer >= 1",
                              field="k", value=self.k)
        if not 0.0 < self.target_fpr < 1.0:
            raise ConfigError(f"target_fpr={self.target_fpr!r} is invalid: a rate in (0, 1), e.g. 0.05",
                              field="target_fpr", value=self.target_fpr)
        if not 0.0 < self.holdout < 1.0:
            raise ConfigError(f"holdout={self.holdout!r} is invalid: a fraction in (0, 1), e.g. 0.2",
                              field="holdout", value=self.holdout)
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

    # ---- persistence: JSON + safetensors, never pickle --------------------------------------------------

    def save(self, run_dir: str | Path) -> Path:
        """Write detector[-SCORE].json and .safetensors into `run_dir`.

        Parameters
        ----------
        run_dir : str or pathlib.Path
            The folder to write into (usually the run directory).

        Returns
        -------
        pathlib.Path
            The JSON file's path.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before `fit`.
        """
        check_is_fitted(self, "offset_")
        entry = REGISTRY[self.score]
        arrays = {k: np.ascontiguousarray(getattr(self, k)) for k in entry.saved_arrays()}
        info = {"format": FORMAT, "class": type(self).__name__,
                "params": {k: getattr(self, k) for k in ("score", "k", "target_fpr", "holdout", "random_state")},
                **{k: getattr(self, k) for k in _FITTED},
                "features": list(entry.columns(self._checked_model()))}
        return write_detector(run_dir, self.score, info, arrays)

    @classmethod
    def load(cls, run_dir: str | Path, model: nn.Module | Run, score: str = "combined") -> NoveltyDetector:
        """Read a detector saved by `save` for `model`.

        Parameters
        ----------
        run_dir : str or pathlib.Path
            The folder `save` wrote into.
        model : torch.nn.Module or Run
            The model the detector was fitted for (its weights must match), or its `Run`.
        score : str, default "combined"
            Which of the folder's detectors to read.

        Returns
        -------
        NoveltyDetector
            The fitted detector.

        Raises
        ------
        MissingDetectorError
            (a FileNotFoundError) There is no detector for `score` in `run_dir`.
        DetectorFileError
            (a RunError and ValueError) The files are damaged, of another format, or fitted for other weights.
        ConfigError
            A score the model cannot have.
        """
        path, info, arrays = read_detector(run_dir, score, cls.__name__, FORMAT)
        det = cls(model, **info["params"])
        if model_fingerprint(det._checked_model()) != info["model_sha256_"]:
            raise DetectorFileError(f"{path} was fitted for other model weights; delete it and refit",
                                    field="run_dir", value=str(path))
        for key in _FITTED:
            setattr(det, key, info[key])
        needed = REGISTRY[det.score].saved_arrays()
        if not set(needed) <= set(arrays):
            raise DetectorFileError(f"{path}: its .safetensors lacks {sorted(set(needed) - set(arrays))}; delete "
                                    "both and refit", field="run_dir", value=str(path))
        for key in needed:
            setattr(det, key, arrays[key])
        if "neighbours" in REGISTRY[det.score].needs:
            det.neighbors_ = NearestNeighbors(n_neighbors=det.k).fit(det.reference_codes_)
        return det

