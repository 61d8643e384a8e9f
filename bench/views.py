"""Issue #25's study: can the default score combine its pixel views so that it is never below the better view?

The one-class protocol of `latentlab benchmark one-class` with the pixel views alone (they do not depend on the
trained model; the default's model veto is left out): per class, the detector's references and leave-one-out
calibration distances exactly as `NoveltyDetector` makes them, then every rule of `RULES` on

- "test": the whole test split (the class normal, the others anomalies), as the benchmark measures;
- "validation": the training split only, to choose a rule without test labels: 80% of the class's training
  images are the references, the other 20% the normal images, 2,000 training images of the other classes the
  anomalies;
- "defects": normal = the calibration images, anomalies = synthetic defects (`benchmark.defects`) made on them, each
  scored with its own source left out: what a detector could choose on from its own class alone.

    python bench/views.py --dataset mnist-sample            # about 30 s here
    python bench/views.py --dataset fashion-mnist           # about 5 minutes on 2 loaded cores
    python bench/views.py --smoke                           # two classes, small sizes (tests/test_bench.py)

Prints one row per rule with the mean AUROC (%) of each split; AUROC does not depend on machine load.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.special import ndtri_exp
from sklearn.metrics import roc_auc_score

VIEWS = ("pixel_knn", "hull")  # view A's 5-NN distance, view B's local hyperplane distance (`_pixel_views`)
TAIL = 0.05  # the share of the largest calibration distances the exponential tail of `surprise` is fitted on


def robust_z(calibration: np.ndarray, d: np.ndarray) -> np.ndarray:
    """(d - median) / (1.4826 MAD) of the calibration distances: the default's standardisation."""
    med = np.median(calibration)
    return (d - med) / max(1.4826 * float(np.median(np.abs(calibration - med))), 1e-12)


def surprise(calibration: np.ndarray, d: np.ndarray) -> np.ndarray:
    """-log of the empirical p-value of each distance among the calibration distances, (1 + #>= d) / (n + 1), with
    an exponential tail (fitted on the largest TAIL of them) beyond the largest, so that far images stay ordered."""
    s = np.sort(calibration)
    n = len(s)
    out = np.log(n + 1) - np.log1p(n - np.searchsorted(s, d, side="left"))
    q = np.quantile(s, 1 - TAIL)
    theta = max(float(np.mean(s[s > q] - q)), 1e-12)
    beyond = d > s[-1]
    out[beyond] = np.log(n + 1) + (d[beyond] - s[-1]) / theta
    return out


def _stouffer(calibration: np.ndarray, d: np.ndarray) -> np.ndarray:
    return -ndtri_exp(-np.maximum(surprise(calibration, d), 1e-9))


Rule = Callable[[dict[str, np.ndarray], dict[str, np.ndarray]], np.ndarray]


def _per_view(f: Callable[[np.ndarray, np.ndarray], np.ndarray], join: Callable[..., np.ndarray]) -> Rule:
    return lambda cal, d: -join(*(f(cal[v], d[v]) for v in VIEWS))


# Each rule: (calibration distances, distances) per view -> a score, higher = more normal.
RULES: dict[str, Rule] = {
    "A (pixel-knn)": lambda cal, d: -robust_z(cal["pixel_knn"], d["pixel_knn"]),
    "B (hyperplane)": lambda cal, d: -robust_z(cal["hull"], d["hull"]),
    "sum of robust z (default)": _per_view(robust_z, np.add),
    "max of robust z": _per_view(robust_z, np.maximum),
    "A + 2B, robust z": lambda cal, d: -(robust_z(cal["pixel_knn"], d["pixel_knn"])
                                         + 2 * robust_z(cal["hull"], d["hull"])),
    "sum of z of log distances": _per_view(lambda c, x: robust_z(np.log(c), np.log(x)), np.add),
    "sum of log(distance / median)": _per_view(lambda c, x: np.log(x / np.median(c)), np.add),
    "sum of mean/std z": _per_view(lambda c, x: (x - c.mean()) / c.std(), np.add),
    "Fisher: sum of -log p": _per_view(surprise, np.add),
    "Tippett: max of -log p": _per_view(surprise, np.maximum),
    "Stouffer: sum of normal quantiles of p": _per_view(_stouffer, np.add),
}


def _class_splits(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, c: int,
                  n_anomalies: int, per_cell: int, max_loo: int) -> dict[str, tuple[dict, dict, np.ndarray]]:
    """Per split: (calibration distances, distances, normal mask) of class `c`."""
    import torch

    from latentlab.analysis.novelty._detector import MAX_LOO, MAX_REFERENCE, MAX_REFERENCE_VALUES
    from latentlab.analysis.novelty._pixel_views import view_distances, views
    from latentlab.benchmark.defects import make_defects

    out = {}
    x = x_train[y_train == c]
    # test: NoveltyDetector._fit_pixel_references's references and leave-one-out rows, repeated
    rng = np.random.default_rng(0)
    keep = np.sort(rng.permutation(len(x))[:min(MAX_REFERENCE, MAX_REFERENCE_VALUES // x[0].size)])
    ref = x[keep]
    loo = np.sort(rng.permutation(len(keep))[:min(MAX_LOO, max_loo)])
    rv = views(ref)
    cal = view_distances({k: v[loo] for k, v in rv.items()}, rv, torch.from_numpy(loo))
    out["test"] = (cal, view_distances(views(x_test), rv), y_test == c)
    bad = make_defects(ref[loo], None, per_cell=per_cell, seed=1)
    d_bad = view_distances(views(bad.images), rv, torch.from_numpy(loo[bad.source]))
    out["defects"] = (cal, {v: np.r_[cal[v], d_bad[v]] for v in VIEWS},
                      np.r_[np.ones(len(loo), bool), np.zeros(len(bad.images), bool)])
    # validation: the training split only
    rng = np.random.default_rng(100 + c)
    own = rng.permutation(np.nonzero(y_train == c)[0])
    n_val = len(own) // 5
    ref, val = x_train[np.sort(own[n_val:])], x_train[np.sort(own[:n_val])]
    others = x_train[rng.choice(np.nonzero(y_train != c)[0], min(n_anomalies, int((y_train != c).sum())),
                                replace=False)]
    rv = views(ref)
    loo = torch.from_numpy(np.sort(rng.permutation(len(ref))[:min(2000, max_loo)]))
    cal = view_distances({k: v[loo] for k, v in rv.items()}, rv, loo)
    out["validation"] = (cal, view_distances(views(np.concatenate([val, others])), rv),
                         np.r_[np.ones(len(val), bool), np.zeros(len(others), bool)])
    return out


def study(data: Any, classes: list[int] | None = None, n_anomalies: int = 2000, per_cell: int = 25,
          max_loo: int = 5000) -> dict[str, dict[str, float]]:
    """Mean AUROC (%) of every rule on each split over `classes` (default all) of `data` (an ImageData)."""
    classes = sorted(set(data.y_train.tolist())) if classes is None else classes
    aurocs: dict[str, dict[str, list[float]]] = {}
    for c in classes:
        for split, (cal, d, normal) in _class_splits(data.x_train, data.y_train, data.x_test, data.y_test, c,
                                                     n_anomalies, per_cell, max_loo).items():
            for name, rule in RULES.items():
                aurocs.setdefault(name, {}).setdefault(split, []).append(roc_auc_score(normal, rule(cal, d)))
    return {name: {s: 100 * float(np.mean(v)) for s, v in per.items()} for name, per in aurocs.items()}


def table(result: dict[str, dict[str, float]]) -> str:
    """Markdown: one row per rule, mean AUROC % per split."""
    lines = ["| rule | test | validation (train split) | own defects |", "|---|---|---|---|"]
    lines += [f"| {name} | {r['test']:.2f} | {r['validation']:.2f} | {r['defects']:.2f} |"
              for name, r in result.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    import torch

    from latentlab.data import load_dataset

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", default="mnist-sample")
    p.add_argument("--smoke", action="store_true", help="two classes, small sizes")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    data = load_dataset(args.dataset, progress=False)
    kw = dict(classes=[0, 1], n_anomalies=200, per_cell=2, max_loo=300) if args.smoke else {}
    print(f"{args.dataset}: mean AUROC (%) over the classes run")
    print(table(study(data, **kw)))


if __name__ == "__main__":
    main()
