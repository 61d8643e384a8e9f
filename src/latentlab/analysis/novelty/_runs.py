"""A run's saved novelty detectors: reuse one fitted for these weights and data, else fit one and save it.

A detector is saved beside the run; where the run directory cannot be written (read-only, full), in the user's
cache, `$XDG_CACHE_HOME/latentlab/runs/<weights sha256>/` (default ~/.cache/...), and failing that it is kept in
memory. Commands that only read a run therefore work on a read-only one; `locate_detector` says where it went.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from latentlab.analysis.novelty._detector import NoveltyDetector
from latentlab.analysis.novelty._files import file_stem
from latentlab.analysis.statistics import data_fingerprint
from latentlab.data import ImageData
from latentlab.data.base import data_meta
from latentlab.errors import DataChangedError, DatasetError, DetectorFileError
from latentlab.runs import Run, images_sha256, load_run_data, weights_digest
from latentlab.training.state import data_changed, data_description, describe


def run_cache_dir(run: Run) -> Path | None:
    """The user's cache folder for files derived from `run`'s weights (detectors, metrics) when the run directory
    cannot hold them: `$XDG_CACHE_HOME/latentlab/runs/<first 16 hex of the weights' SHA-256>`; None when the run
    records no digest."""
    digest = weights_digest(run.meta)
    if not digest:
        return None
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "latentlab" / "runs" / digest[:16]


def load_saved_detector(run: Run, score: str = "combined") -> NoveltyDetector:
    """The detector for `score` saved beside the run, else in its cache folder. FileNotFoundError when neither has
    one (MissingDetectorError, a DetectorFileError), DetectorFileError when the one found is damaged or was fitted
    for other weights."""
    cache = run_cache_dir(run)
    try:
        return NoveltyDetector.load(run.path, run, score=score)
    except DetectorFileError:
        if cache is None or not (cache / f"{file_stem(score)}.json").is_file():
            raise
        return NoveltyDetector.load(cache, run, score=score)


def locate_detector(run: Run, data: ImageData | None = None, score: str = "combined",
                    data_dir: str | Path | None = None, same_data: bool = True,
                    allow_data_change: bool = True) -> tuple[NoveltyDetector, str]:
    """`detector_for_run`, and a sentence saying where a newly fitted detector was saved when that is not the run
    directory (a read-only or full one): the cache folder, or memory only. "" when there is nothing to say.

    Without `allow_data_change` (what `latentlab detect` and the web page pass), a detector is only fitted on the
    training images the run was trained on: `DataChangedError` (field ``allow_data_change``), naming both, when
    the run's data set no longer holds them (a folder changed since training; see `check_training_images`). A
    detector saved with the run is used as it is either way."""
    fresh = NoveltyDetector(run, score=score)
    fresh._checked_model()  # an unknown score fails here, before any data set is loaded
    try:
        saved = load_saved_detector(run, score)
    except DetectorFileError:
        saved = None
    if saved is not None:
        if data is None or not same_data or saved.data_sha256_ == data_fingerprint(data.x_train):
            return saved, ""
        warnings.warn(f"{run.path}: the saved {score!r} detector was fitted on other training images "
                      f"({saved.n_reference_ + saved.n_holdout_:,}); it is refitted on the {len(data.x_train):,} "
                      f"training images of {data.name} and replaced", stacklevel=2)
    if data is None:
        data = load_run_data(run, data_dir=data_dir)
    if not allow_data_change:
        check_training_images(run, data)
    fresh.fit(data.x_train)
    return fresh, _save(fresh, run)


def check_training_images(run: Run, data: ImageData) -> None:
    """`DataChangedError` (field ``allow_data_change``) naming both when `data.x_train` are not the training images
    `run` recorded (meta.json's digest, count and classes); nothing for runs that recorded none."""
    old = data_description(run.meta)
    new = data_description({**data_meta(data), "train_images_sha256": images_sha256(data.x_train)})
    if not data_changed(old, new):
        return
    raise DataChangedError(
        f"{run.path}: its data set has changed since it was trained, and its novelty detector is fitted on the "
        f"training images: it was trained on {describe(old)}; {data.ref} now gives {describe(new)}",
        hint="put the training images back as they were (or pass dataset=PATH of a copy of them), or pass "
             "allow_data_change=True to fit the detector on the images as they are now",
        field="allow_data_change", value=False)


def detector_for_run(run: Run, data: ImageData | None = None, score: str = "combined",
                     data_dir: str | Path | None = None, same_data: bool = True) -> NoveltyDetector:
    """The run's saved detector for `score` if it was fitted for these weights; otherwise one fitted on the training
    split of `data` (or of the run's data set as it was trained on, looked up with `data_dir`), then saved beside
    the run (or, where the run cannot be written, in its cache folder, with a warning; see the module docstring).

    With `same_data` (what metrics.json needs) a saved detector fitted on other training images than `data.x_train`
    is refitted and replaced, with a warning saying so; without it (the web page, `latentlab detect`) the saved
    detector is used as it is, so one a user fitted from Python is never silently overwritten.

    Parameters
    ----------
    run : Run
        The trained run.
    data : ImageData or None, default None
        The images to fit on (`data.x_train`, uint8 (N, H, W) or (N, H, W, 3)); None loads the run's data set.
    score : str, default "combined"
        The novelty score (see `NoveltyDetector`).
    data_dir : str or pathlib.Path or None, default None
        Where to look up the run's data set when `data` is None.
    same_data : bool, default True
        Refit (and replace) a saved detector fitted on other training images than `data.x_train`.

    Returns
    -------
    NoveltyDetector
        Fitted for the run's weights.
    """
    detector, note = locate_detector(run, data, score, data_dir, same_data)
    if note:
        warnings.warn(note, stacklevel=2)
    return detector


def _save(detector: NoveltyDetector, run: Run) -> str:
    """Save beside the run, else in its cache folder, else nowhere; returns "" or the sentence saying which."""
    try:
        detector.save(run.path)
        return ""
    except OSError as exc:
        why = f"{run.path} cannot be written ({exc.strerror or exc})"
    cache = run_cache_dir(run)
    if cache is not None:
        try:
            cache.mkdir(parents=True, exist_ok=True)
            path = detector.save(cache)
            return f"{why}, so the fitted detectors are saved in {path.parent} instead (reused from there)"
        except OSError as exc:
            why += f" nor can the cache {cache} ({exc.strerror or exc})"
    return f"{why}, so the fitted detectors are kept in memory only (fitted again next time)"


def saved_detector(run: Run, score: str, why: str) -> NoveltyDetector:
    """The run's saved detector for `score` (beside the run or in its cache folder), all a run may use while its
    training images are not at hand (`why` says why not): fitting one needs them, and a run trained from arrays
    would otherwise be fitted on whatever config.dataset names. DatasetError saying both when there is none it can
    use."""
    try:
        return load_saved_detector(run, score)
    except DetectorFileError as exc:
        raise DatasetError(f"{run.path} has no saved detector it can use for score={score!r} ({exc}) and "
                           f"{why}", field="score", value=score, related=("dataset", "data_dir")) from None


def fitted_labels(detector: NoveltyDetector, data: ImageData | None) -> np.ndarray | None:
    """`data.y_train` when `detector` was fitted on exactly `data.x_train` (so its neighbours' rows name their
    classes), else None: a saved detector may have been fitted on other images."""
    if data is None or data.y_train is None or detector.data_sha256_ != data_fingerprint(data.x_train):
        return None
    return data.y_train
