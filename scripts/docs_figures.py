"""The docs' own figures and tables (docs/figures/), made by the code the pages describe, on the bundled samples.

    .venv/bin/python scripts/docs_figures.py      # a few minutes on two cores; rerun when a figure's code changes

PNGs are saved at a low resolution to keep the repository small.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "docs" / "figures"
DPI = 70


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__).parse_args(argv)
    import latentlab
    from latentlab.config import override
    from latentlab.figures import from_runs, save_figure

    OUT.mkdir(parents=True, exist_ok=True)
    data = latentlab.load_dataset("mnist-sample", progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        # the seed's simple autoencoder, a few epochs: reconstructions and the curves of history.jsonl
        cfg = override(latentlab.preset_config("mnist-simple"), {"train.epochs": 5})
        latentlab.train(cfg, data.x_train, data.x_test, run_dir=work / "simple", quiet=True)
        run = latentlab.load_run(work / "simple")
        save_figure(from_runs.recon_figure(run, data), OUT / "recon.png", dpi=DPI)
        save_figure(from_runs.curves_figure(run, data), OUT / "curves.png", dpi=DPI)

        # the one-class benchmark's figure, two classes of the sample
        latentlab.benchmark.one_class("mnist-sample", classes=[0, 6], steps=120, out=work / "bench", progress=False)
        from PIL import Image

        figure = Image.open(work / "bench" / "one-class-mnist-sample.png")  # written at 200 dpi: scaled to DPI
        small = figure.resize((figure.width * DPI // 200, figure.height * DPI // 200), Image.LANCZOS)
        small.convert("RGB").quantize(colors=128).save(
            OUT / "one-class.png", optimize=True)

        # the TensorBoard scalars as written, read back from the event file
        cfg = override(latentlab.preset_config("mnist-vae"), {"train.epochs": 1})
        latentlab.train(cfg, data.x_train, data.x_test, run_dir=work / "vae", quiet=True,
                        tensorboard_dir=work / "tb", y_val=data.y_test, classes=data.classes)
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        events = EventAccumulator(str(work / "tb")).Reload()
        rows = ["| scalar tag | value after epoch 1 |", "|---|---|"]
        for tag in sorted(events.Tags()["scalars"]):
            rows.append(f"| `{tag}` | {events.Scalars(tag)[-1].value:.4g} |")
        (OUT / "tensorboard-tags.md").write_text("\n".join(rows) + "\n")

        # a sweep's table, as sweep.md writes it
        from latentlab.runner import sweep

        sweep("mnist-simple", {"train.lr": [1e-3, 3e-3]}, seeds=2, epochs=1, dataset_name="mnist-sample",
              out=work / "sweep", jobs=1, progress=False)
        shutil.copy(work / "sweep" / "sweep.md", OUT / "sweep.md")

    # what `latentlab datasets` prints
    listing = subprocess.run([sys.executable, "-m", "latentlab", "datasets", "--no-verify"], check=True,
                             capture_output=True, text=True).stdout
    listing = listing.replace(str(Path(latentlab.__file__).parent), "latentlab")  # no path of this machine
    (OUT / "datasets.md").write_text("```text\n" + listing.rstrip() + "\n```\n")
    for path in sorted(OUT.iterdir()):
        print(f"{path.relative_to(OUT.parents[1])}: {path.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
