"""Issue #25: which rule chooses the one-class benchmark's default score (`latentlab.benchmark.choice`), decided on
the training split alone.

Per class, the candidates' scores on the choice's own validation (80% of the class's training images as references,
the other 20% normal, 2,000 training images of other classes anomalous; `choice.validate`'s split and draw). Then
the validation of every class is halved at random `rounds` times: "per-class" takes each class's best candidate
on one half, "data-set" the candidate with the best mean over the classes there, and both are measured on the other
half. No test image is read. The candidates' pixel scores do not depend on the model, so an untrained model of the
benchmark's preset stands in for the trained one.

    python bench/score_choice.py --dataset mnist-sample      # about 30 s
    python bench/score_choice.py --dataset fashion-mnist     # about 4 minutes on 2 cores
    python bench/score_choice.py --smoke                      # two classes, few images (tests/test_bench.py)

Prints the mean AUROC (%) on the measuring halves of each rule and each candidate alone; AUROC does not depend on
machine load.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from latentlab.benchmark.choice import CANDIDATES, SEED, VALIDATION_SHARE, _scores, other_class_images


def class_scores(data: Any, classes: list[int], n_others: int, model: Any) -> list[tuple[dict[str, np.ndarray],
                                                                                         np.ndarray]]:
    """Per class: (candidate -> scores of the validation images, 1 for normal / 0 for anomalous)."""
    out = []
    for c in classes:
        x_class = data.x_train[data.y_train == c]
        others = other_class_images(data.x_train, data.y_train, c, n_others)
        order = np.random.default_rng(SEED).permutation(len(x_class))  # the split of `choice.validate`
        n_normal = int(round(VALIDATION_SHARE * len(x_class)))
        reference, normal = x_class[np.sort(order[n_normal:])], x_class[np.sort(order[:n_normal])]
        scores = _scores(model, reference, np.concatenate([normal, others]))
        out.append((scores, np.r_[np.ones(len(normal)), np.zeros(len(others))]))
    return out


def halvings(per_class: list[tuple[dict[str, np.ndarray], np.ndarray]], rounds: int = 200,
             seed: int = 1) -> dict[str, np.ndarray]:
    """Per rule and per candidate alone: the mean AUROC over classes on the measuring half, one value per round."""
    rng = np.random.default_rng(seed)
    out: dict[str, list[float]] = {"per-class": [], "data-set": [], **{c: [] for c in CANDIDATES}}
    for _ in range(rounds):
        choose_on, measure_on = [], []
        for scores, y in per_class:
            half = rng.random(len(y)) < 0.5
            choose_on.append({k: roc_auc_score(y[half], v[half]) for k, v in scores.items()})
            measure_on.append({k: roc_auc_score(y[~half], v[~half]) for k, v in scores.items()})
        data_set = max(CANDIDATES, key=lambda k: np.mean([a[k] for a in choose_on]))
        out["data-set"].append(float(np.mean([m[data_set] for m in measure_on])))
        out["per-class"].append(float(np.mean([m[max(CANDIDATES, key=a.get)] for a, m in zip(choose_on, measure_on,
                                                                                              strict=True)])))
        for c in CANDIDATES:
            out[c].append(float(np.mean([m[c] for m in measure_on])))
    return {k: 100 * np.array(v) for k, v in out.items()}


def main(argv: list[str] | None = None) -> dict[str, np.ndarray]:
    from latentlab.benchmark.harness import DEFAULT_PRESETS, OTHER_DATA_PRESET
    from latentlab.benchmark.published import family
    from latentlab.data import load_dataset
    from latentlab.models import build_model
    from latentlab.presets import preset_config

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist-sample")
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--smoke", action="store_true", help="two classes, 200 other-class images, 20 rounds")
    args = parser.parse_args(argv)
    data = load_dataset(args.dataset, progress=False)
    preset = DEFAULT_PRESETS.get(family(args.dataset) or "", OTHER_DATA_PRESET)
    model = build_model(preset_config(preset, "full").model).eval()
    classes = [0, 1] if args.smoke else sorted(set(data.y_train.tolist()))
    result = halvings(class_scores(data, classes, 200 if args.smoke else 2000, model), 20 if args.smoke else
                      args.rounds)
    for k, v in result.items():
        print(f"{k:12s} {v.mean():.2f} ± {v.std():.2f}")
    gain = result["per-class"] - result["data-set"]
    print(f"per-class minus data-set: {gain.mean():+.3f} on average, per class ahead or equal in "
          f"{(gain >= 0).mean():.0%} of {len(gain)} halvings")
    return result


if __name__ == "__main__":
    main()
