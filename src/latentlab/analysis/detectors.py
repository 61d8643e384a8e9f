"""A run's saved novelty detectors: reuse one fitted for these weights and data, else fit one and save it."""

from __future__ import annotations

from pathlib import Path

from latentlab.analysis.novelty import NoveltyDetector, data_fingerprint
from latentlab.data import ImageData, load_dataset
from latentlab.runs import Run


def detector_for_run(run: Run, data: ImageData | None = None, score: str = "combined",
                     data_dir: str | Path | None = None) -> NoveltyDetector:
    """The run's saved detector for `score` if it was fitted for these weights (and, when `data` is given, on
    data.x_train); otherwise one fitted on the training split of `data` or of the run's dataset (looked up
    with `data_dir`), then saved beside the run."""
    fresh = NoveltyDetector(run, score=score)
    fresh._checked_model()  # an unknown score fails here, before any data set is loaded
    try:
        saved = NoveltyDetector.load(run.path, run, score=score)
    except (FileNotFoundError, ValueError):
        saved = None
    if saved is not None and (data is None or saved.data_sha256_ == data_fingerprint(data.x_train)):
        return saved
    if data is None:
        data = load_dataset(run.config.dataset, data_dir=data_dir, progress=False)
    fresh.fit(data.x_train).save(run.path)
    return fresh
