"""One class of the one-class benchmark as one independent task: `run_class(ClassTask) -> dict`.

A task carries everything it needs as plain, picklable data (the class's training images, the whole test set, the
preset's config) and returns plain data, writing nothing: tasks can run one after another or be submitted to a
`concurrent.futures` executor.

Training length is a number of optimizer steps, not epochs, so a class of 850 images (the bundled samples) trains
as long as one of 6,000 (the full sets): epochs = ceil(steps / batches per epoch), every epoch a full pass, so the
steps actually taken are `steps` rounded up to whole epochs (both are recorded). The default, 470 steps, is about
20 epochs of a 6,000-image class at batch 256 (20 epochs, 480 steps); an 850-image class gets 118 epochs, 472 steps.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from latentlab.benchmark import STEPS
from latentlab.config import RunConfig

KNN_K = 5
KNN = "raw-pixel-knn"
DEFAULT = "default"  # the key of the default detector's results, whatever score it uses


@dataclass(frozen=True)
class ClassTask:
    """One class of the one-class benchmark: train on that class's training images, score the whole test set.

    Parameters
    ----------
    label : int
        The class number.
    name : str
        The class's name.
    x_train : numpy.ndarray
        uint8 (n, H, W) or (n, H, W, 3): this class's training images only.
    x_test : numpy.ndarray
        uint8 (m, H, W) or (m, H, W, 3): the whole test set.
    normal : numpy.ndarray
        bool (m,): True for the test images of this class.
    config : RunConfig
        The preset's; epochs and seed are set per task.
    steps : int, default STEPS
        Optimizer steps, rounded up to whole epochs.
    seeds : tuple of int, default (0,)
        One model per seed; scores averaged.
    knn_k : int, default KNN_K
        Neighbours of the raw-pixel k-NN baseline.
    x_others : numpy.ndarray, optional
        uint8 training images of the other classes (`choice.other_class_images`): the anomalies of the validation
        the default score is chosen on (`choice.validate`); None: no validation.
    """

    label: int
    name: str  # the class's name
    x_train: np.ndarray  # uint8 (n, 28, 28): this class's training images
    x_test: np.ndarray  # uint8 (m, 28, 28): the whole test set
    normal: np.ndarray  # bool (m,): True for the test images of this class
    config: RunConfig  # the preset's; epochs and seed are set here
    steps: int = STEPS
    seeds: tuple[int, ...] = (0,)
    knn_k: int = KNN_K
    x_others: np.ndarray | None = None  # other classes' training images, the choice's validation anomalies


def epochs_for(steps: int, n: int, batch_size: int) -> int:
    """Whole epochs that take at least `steps` optimizer steps on `n` images (the last batch may be short)."""
    return max(1, math.ceil(steps / math.ceil(n / batch_size)))


def auroc_aupr(score: np.ndarray, normal: np.ndarray) -> dict[str, float]:
    """AUROC and AUPR with the normal class positive, for a score that is higher for more normal images."""
    from latentlab.analysis.ood import separation

    m = separation(score[normal], score[~normal])
    return {"auroc": m["auroc"], "aupr": m["aupr_in"]}


def pixel_knn_scores(x_train: np.ndarray, x_test: np.ndarray, k: int = KNN_K) -> np.ndarray:
    """Minus the mean Euclidean distance (pixels in [0, 1]) to the `k` nearest training images."""
    from sklearn.neighbors import NearestNeighbors

    def flat(x: np.ndarray) -> np.ndarray:
        return x.reshape(len(x), -1).astype(np.float32) / 255.0

    index = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(flat(x_train))
    dist, _ = index.kneighbors(flat(x_test))
    return -dist.astype(np.float64).mean(1)


def detector_scores(model: Any, x_train: np.ndarray, x_test: np.ndarray) -> tuple[str, dict[str, np.ndarray]]:
    """Test-set scores of the default `NoveltyDetector` (key DEFAULT) and of every other score that applies to
    `model`, each detector fitted on `x_train`; returns (the default's score name, scores)."""
    from latentlab.analysis.novelty import NoveltyDetector, valid_scores

    default = NoveltyDetector(model).fit(x_train)
    default_name = str(default.get_params().get("score", DEFAULT))
    out = {DEFAULT: default.score_samples(x_test)}
    for score in valid_scores(model):
        if score != default_name:
            out[score] = NoveltyDetector(model, score=score).fit(x_train).score_samples(x_test)
    return default_name, out


def _mean(per_seed: list[dict[str, float]]) -> dict[str, Any]:
    out: dict[str, Any] = {k: float(np.mean([m[k] for m in per_seed])) for k in ("auroc", "aupr")}
    if len(per_seed) > 1:
        out |= {f"{k}_std": float(np.std([m[k] for m in per_seed])) for k in ("auroc", "aupr")}
        out["per_seed"] = per_seed
    return out


def run_class(task: ClassTask) -> dict[str, Any]:
    """Train one model per seed on the class, fit the detectors, and score the test set.

    Parameters
    ----------
    task : ClassTask
        The class and its images.

    Returns
    -------
    dict
        Plain data: AUROC and AUPR (in [0, 1], the normal class positive) per score and seed and their means, the
        raw-pixel k-NN baseline, epochs, the validation AUROC of each candidate default (`choice.validate`), and
        the seconds spent training and scoring.
    """
    from latentlab.benchmark.choice import validate
    from latentlab.training import train

    started = time.perf_counter()
    normal = np.asarray(task.normal, bool)
    t0 = time.perf_counter()
    knn = auroc_aupr(pixel_knn_scores(task.x_train, task.x_test, task.knn_k), normal)
    knn_s = time.perf_counter() - t0
    tc = task.config.train
    epochs = epochs_for(task.steps, len(task.x_train), tc.batch_size)
    per_seed: dict[str, list[dict[str, float]]] = {}
    default_name, train_s, score_s, validation = DEFAULT, 0.0, 0.0, None
    for seed in task.seeds:
        cfg = replace(task.config, name=f"one-class-{task.label}", dataset=f"class {task.label} ({task.name})",
                      train=replace(tc, epochs=epochs, seed=seed))
        t0 = time.perf_counter()
        model = train(cfg, task.x_train, None, None, quiet=True).model
        t1 = time.perf_counter()
        default_name, scores = detector_scores(model, task.x_train, task.x_test)
        for key, score in scores.items():
            per_seed.setdefault(key, []).append({"seed": seed, **auroc_aupr(score, normal)})
        if validation is None:  # once: the candidates compared there do not depend on the model (see `choice`)
            validation = validate(model, task.x_train, task.x_others)
        train_s, score_s = train_s + t1 - t0, score_s + time.perf_counter() - t1
    return {
        "class": task.label, "name": task.name, "n_train": len(task.x_train), "n_test_normal": int(normal.sum()),
        "n_test_anomalous": int((~normal).sum()), "epochs": epochs,
        "optimizer_steps": epochs * math.ceil(len(task.x_train) / tc.batch_size), "seeds": list(task.seeds),
        "default_score": default_name, "scores": {k: _mean(v) for k, v in per_seed.items()},
        "baselines": {KNN: knn}, "validation": validation, "train_s": train_s, "score_s": score_s, "knn_s": knn_s,
        "wall_s": time.perf_counter() - started,
    }
