"""Reproduce the novelty-detection table: AUROC of every score, both directions, MNIST <-> Fashion-MNIST.

    python scripts/novelty_table.py [--out runs/novelty] [--epochs 10] [--presets fashion-vae mnist-vae ...]

Trains each preset with the real engine (or reuses a finished run in --out), fits one detector per score on
the run's training split and prints the AUROC of the test split against each out-of-distribution set.
MNIST resolves to the bundled 10,000-image sample when the full set is not on disk (see `latentlab datasets`).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from latentlab.analysis.evaluate import other_dataset
from latentlab.analysis.novelty import NoveltyDetector, valid_scores
from latentlab.analysis.ood import membership_table, ood_sets
from latentlab.config import override
from latentlab.data import DatasetError, ImageData, load_dataset
from latentlab.presets import preset_config
from latentlab.runs import RunError, load_run
from latentlab.training import train

PRESETS = ("fashion-vae", "mnist-vae", "fashion-simple", "mnist-simple")


def dataset(name: str) -> ImageData:
    try:
        return load_dataset(name, download=False, progress=False)
    except DatasetError:
        return load_dataset(f"{name}-sample", progress=False)


def trained(preset: str, out: Path, epochs: int, data: ImageData):
    run_dir = out / preset
    try:
        run = load_run(run_dir)
        if run.meta.get("status") == "finished":
            return run
    except RunError:
        pass
    cfg = override(preset_config(preset, "full"), {"train.epochs": epochs})
    meta = {"dataset": data.name, "data_source": data.source, "is_sample": data.is_sample,
            "classes": list(data.classes), "n_train": len(data.x_train), "n_test": len(data.x_test)}
    start = time.perf_counter()
    train(cfg, data.x_train, data.x_test, run_dir, quiet=True, meta=meta)
    print(f"trained {preset} on {data.name} in {time.perf_counter() - start:.0f}s", file=sys.stderr)
    return load_run(run_dir)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/novelty"))
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--presets", nargs="+", default=list(PRESETS))
    args = parser.parse_args()
    for preset in args.presets:
        data = dataset(preset_config(preset).dataset)
        run = trained(preset, args.out, args.epochs, data)
        other = other_dataset(data.name)
        sets = ood_sets(data.x_test, {other.name: other.x_test} if other else None)
        detectors = {s: NoveltyDetector(run, score=s).fit(data.x_train) for s in valid_scores(run.model)}
        rows = membership_table(detectors, data.x_test, sets)
        print(f"\n{preset}: in = {data.name} test ({len(data.x_test):,}), detectors fitted on "
              f"{len(data.x_train):,} training images; AUROC (rejected in-distribution at the threshold)")
        print(f"{'score':<11}" + "".join(f"{name[:16]:>17}" for name in sets) + "   rejected_in")
        for score in detectors:
            mine = [row for row in rows if row["score"] == score]
            print(f"{score:<11}" + "".join(f"{row['auroc']:17.3f}" for row in mine)
                  + f"   {mine[0]['rejected_in']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
