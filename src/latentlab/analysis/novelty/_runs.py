"""A run's saved novelty detectors: reuse one fitted for these weights and data, else fit one and save it."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from latentlab.analysis.novelty._detector import NoveltyDetector
from latentlab.analysis.statistics import data_fingerprint
from latentlab.data import ImageData
from latentlab.errors import DetectorFileError
from latentlab.runs import Run, load_run_data


def detector_for_run(run: Run, data: ImageData | None = None, score: str = "combined",
                     data_dir: str | Path | None = None, same_data: bool = True) -> NoveltyDetector:
    """The run's saved detector for `score` if it was fitted for these weights; otherwise one fitted on the training
    split of `data` (or of the run's data set as it was trained on, looked up with `data_dir`), then saved beside
    the run.

    With `same_data` (what metrics.json needs) a saved detector fitted on other training images than `data.x_train`
    is refitted and replaced, with a warning saying so; without it (the web page, `latentlab detect`) the saved
    detector is used as it is, so one a user fitted from Python is never silently overwritten.
    """
    fresh = NoveltyDetector(run, score=score)
    fresh._checked_model()  # an unknown score fails here, before any data set is loaded
    try:
        saved = NoveltyDetector.load(run.path, run, score=score)
    except DetectorFileError:
        saved = None
    if saved is not None:
        if data is None or not same_data or saved.data_sha256_ == data_fingerprint(data.x_train):
            return saved
        warnings.warn(f"{run.path}: the saved {score!r} detector was fitted on other training images "
                      f"({saved.n_reference_ + saved.n_holdout_:,}); it is refitted on the {len(data.x_train):,} "
                      f"training images of {data.name} and replaced", stacklevel=2)
    if data is None:
        data = load_run_data(run, data_dir=data_dir)
    fresh.fit(data.x_train).save(run.path)
    return fresh


def fitted_labels(detector: NoveltyDetector, data: ImageData | None) -> np.ndarray | None:
    """`data.y_train` when `detector` was fitted on exactly `data.x_train` (so its neighbours' rows name their
    classes), else None: a saved detector may have been fitted on other images."""
    if data is None or data.y_train is None or detector.data_sha256_ != data_fingerprint(data.x_train):
        return None
    return data.y_train
