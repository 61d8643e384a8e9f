"""The argument parser. Only names that cost nothing to import are needed to build it, so `latentlab --help` and
`latentlab presets` load no torch; the figure kinds and detector scores are listed when their command runs."""

from __future__ import annotations

import argparse

from latentlab._version import __version__
from latentlab.benchmark import SCORE_CHOICES, STEPS
from latentlab.cli import commands as c
from latentlab.cli import run_commands as r
from latentlab.cli.arg_types import (
    finite_float,
    output_dir,
    output_file,
    parse_classes,
    parse_grid,
    parse_set,
    port,
    positive_int,
    sample_count,
)
from latentlab.cli.flags import sets
from latentlab.config import MAX_SAMPLES, PROFILES
from latentlab.presets import PRESETS


def _add_runner_flags(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--jobs", type=positive_int, metavar="N",
                   help=f"{what} at once, each in its own worker process (default: cores // 2, at least 1; "
                        "1 runs them here, one after another)")
    _add_threads_flag(p, "torch threads per task (default: the usable CPUs // jobs, fewer while the machine is busy)")
    p.add_argument("--executor", metavar="dask://HOST:PORT",
                   help=f"run the {what} on a Dask cluster instead (needs the cluster extra: "
                        "pip install 'latentlab[cluster]')")


def _add_threads_flag(p: argparse.ArgumentParser,
                      text: str = "torch threads (default: the CPUs this process may use, fewer while the machine "
                                  "is busy; see latentlab.threads)") -> None:
    p.add_argument("--threads", type=positive_int, metavar="N", help=text)


def _add_data_flags(p: argparse.ArgumentParser, why: str) -> None:
    p.add_argument("--data-dir", help=f"where the run's data set is, {why} (default: $LATENTLAB_DATA)")
    p.add_argument("--dataset", metavar="NAME_OR_PATH",
                   help="the run's data set, given in place of the one its config names (needed for runs trained "
                        "from Python on in-memory arrays): a name (`latentlab datasets`), an image folder or an .npz")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; `command` (the first argument) decides whether the heavy registries are imported for choices."""
    parser = argparse.ArgumentParser(prog="latentlab", description="Autoencoders and VAEs on images: MNIST-style "
                                     "digits, CIFAR-10, or your own, at their own size and colour.")
    parser.add_argument("--version", action="version", version=f"latentlab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="train a preset (single process, or under torchrun for DDP)")
    p.add_argument("preset", nargs="?", help=f"one of: {', '.join(PRESETS)}")
    p.add_argument("--dataset", help="dataset name (`latentlab datasets`), a class_name/*.png folder, or an .npz")
    p.add_argument("--data-dir", help="folder holding the four IDX files (default: $LATENTLAB_DATA)")
    p.add_argument("--image-size", metavar="HxW",
                   help="resize the images on purpose to HEIGHTxWIDTH, e.g. 32x32 (default: their own size; the "
                        "model is built for the data's size and colour)")
    p.add_argument("--grayscale", action="store_true", help="convert colour images to grey on purpose")
    p.add_argument("--no-auto", action="store_true",
                   help="image folders read with --grayscale at a square --image-size: only decode and resize (no "
                        "inverting, cropping or centring like MNIST's digits)")
    p.add_argument("--profile", choices=PROFILES, help="epoch budget of the preset (default quick)")
    sets(p.add_argument("--epochs", type=int, help="epochs to train (default: the profile's; train.epochs)"),
         "train.epochs")
    sets(p.add_argument("--batch-size", type=int, help="images per optimizer step (default: the preset's)"),
         "train.batch_size")
    sets(p.add_argument("--lr", type=float, help="learning rate (default: the preset's)"), "train.lr")
    sets(p.add_argument("--latent-dim", type=int, help="size of the latent code (default: the preset's)"),
         "model.latent_dim")
    sets(p.add_argument("--noise", help="train as a denoiser: KIND[:FACTOR], e.g. gaussian:0.5"),
         "train.noise.kind", "train.noise.factor")
    sets(p.add_argument("--seed", type=int, help="seed of the weights and the batch order (default 0)"), "train.seed")
    sets(p.add_argument("--device", help="auto (default), cpu, cuda, cuda:N or mps"), "train.device")
    sets(p.add_argument("--compile", action="store_true", help="torch.compile the model (optional speed-up)"),
         "train.compile")
    p.add_argument("--name", help="run name (default: the preset's)")
    p.add_argument("--out", type=output_dir, help="run directory, made if missing (default: runs/NAME)")
    p.add_argument("--resume", metavar="RUN_DIR",
                   help="continue an interrupted run, with its own config (give no PRESET)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run in the output directory")
    p.add_argument("--allow-data-change", action="store_true",
                   help="with --resume: go on although the training images differ from the run's (recorded in its "
                        "history); without it such a resume is refused")
    p.add_argument("--set", action="append", type=parse_set, metavar="KEY=VALUE",
                   help="override any config field, e.g. --set train.schedule=cosine (repeatable)")
    sets(p.add_argument("--tensorboard", metavar="DIR", type=output_dir,
                        help="log losses, images and the latent space for TensorBoard to DIR, made if missing (needs "
                             "latentlab[tensorboard])"), "tensorboard_dir")
    p.add_argument("--quiet", action="store_true", help="no progress bars or per-epoch lines")
    _add_threads_flag(p)
    p.set_defaults(func=c.cmd_train)

    p = sub.add_parser("presets", help="list the named experiments")
    p.set_defaults(func=c.cmd_presets)

    p = sub.add_parser("datasets", help="list datasets and where each one resolves from")
    p.add_argument("--no-verify", action="store_true", help="skip checksum verification")
    p.set_defaults(func=c.cmd_datasets)
    p = sub.add_parser("report", help="reproduce the whole seed report as one HTML page")
    p.add_argument("--profile", choices=PROFILES, default="quick", help="quick (minutes) or full (published epochs)")
    p.add_argument("--out", default="report", type=output_dir, help="output folder, made if missing (default: report)")
    p.add_argument("--presets", nargs="+", metavar="PRESET",
                   help="only these experiments (presets; one-class: the one-class benchmark; family: the VAE family, "
                        "family:vae-16d,iwae-50 some of its members)")
    sets(p.add_argument("--epochs", type=int, help="override every experiment's epochs"), "train.epochs")
    sets(p.add_argument("--dataset", metavar="NAME_OR_PATH",
                        help="train every experiment on this data set instead of its preset's, e.g. `--presets "
                             "family --dataset fashion-mnist` (the family's default: mnist); as --set dataset=NAME"),
         "dataset")
    p.add_argument("--data-dir", help="folder holding the IDX files (default: $LATENTLAB_DATA)")
    p.add_argument("--iwae-k", type=positive_int, default=100, help="samples for the IWAE log-likelihood (default 100)")
    p.add_argument("--set", action="append", type=parse_set, metavar="KEY=VALUE", help="override a config field")
    _add_runner_flags(p, "experiments")
    p.add_argument("--quiet", action="store_true", help="no progress bars or per-experiment lines")
    p.set_defaults(func=c.cmd_report)

    p = sub.add_parser("sweep", help="train a preset over a grid of config values x seeds: one table of mean ± std")
    p.add_argument("preset", help=f"one of: {', '.join(PRESETS)}")
    sets(p.add_argument("--set-grid", action="append", type=parse_grid, required=True, metavar="KEY=V1,V2,...",
                        help="a config field and its values, e.g. train.lr=1e-3,3e-3 (repeatable: every combination)"),
         "grid")
    p.add_argument("--seeds", type=int, default=3, help="seeds per grid point (default 3)")
    sets(p.add_argument("--epochs", type=int, help="epochs of every run (default: the profile's)"), "train.epochs")
    p.add_argument("--profile", choices=PROFILES, default="quick", help="epoch budget of the preset (default quick)")
    p.add_argument("--dataset", help="dataset name instead of the preset's (e.g. mnist-sample)")
    p.add_argument("--data-dir", help="folder holding the IDX files (default: $LATENTLAB_DATA)")
    p.add_argument("--set", action="append", type=parse_set, metavar="KEY=VALUE", help="fix a config field")
    p.add_argument("--metrics", action="store_true", help="also measure each run's test reconstruction")
    p.add_argument("--out", type=output_dir, help="output folder, made if missing (default: sweeps/PRESET)")
    _add_runner_flags(p, "trainings")
    p.add_argument("--quiet", action="store_true", help="no progress bars or per-run lines")
    p.set_defaults(func=c.cmd_sweep)

    if command == "plot":
        from latentlab.figures.from_runs import PLOTS

        kinds: list[str] | None = list(PLOTS)
    else:
        kinds = None
    p = sub.add_parser("plot", help="draw one of the report's figures for a run")
    p.add_argument("kind", choices=kinds, metavar="KIND",
                   help="the figure: " + (", ".join(kinds) if kinds else "one of the report's figures"))
    p.add_argument("run", help="run directory")
    p.add_argument("-o", "--output", type=output_file, help="PNG path, in a folder that exists (default: RUN/KIND.png)")
    p.add_argument("--mark", nargs=2, type=finite_float, metavar=("X", "Y"), help="latent point to mark / decode")
    _add_data_flags(p, "to draw the figure from")
    p.set_defaults(func=r.cmd_plot)

    p = sub.add_parser("decode", help="the image a 2-D latent model decodes at (X, Y)")
    p.add_argument("run", help="run directory (of a run with a 2-D latent space)")
    p.add_argument("x", type=finite_float, help="first latent coordinate")
    p.add_argument("y", type=finite_float, help="second latent coordinate")
    p.add_argument("-o", "--output", default="decoded.png", type=output_file,
                   help="PNG path, in a folder that exists (default: decoded.png)")
    p.add_argument("--scale", type=int, default=8, help="upscale factor of the saved PNG (default 8)")
    p.set_defaults(func=r.cmd_decode)

    p = sub.add_parser("generate", help="images decoded from random draws of a model's prior or a fitted sampler")
    p.add_argument("run", help="run directory (of a VAE, or any run with --sampler gmm)")
    p.add_argument("-n", type=sample_count, default=16, help=f"number of images, 1 to {MAX_SAMPLES:,} (default 16)")
    p.add_argument("--seed", type=int, default=0, help="seed of the draws (default 0)")
    p.add_argument("--sampler", choices=("prior", "gmm"), default="prior", help="prior (the model's own, default) or "
                   "gmm (a Gaussian mixture fitted to the training codes; needs the run's data)")
    sets(p.add_argument("--components", type=positive_int, default=10, help="components of --sampler gmm (default 10)"),
         "n_components")
    p.add_argument("--class", dest="label", type=int, metavar="C", help="a conditional VAE's class to draw (e.g. 7)")
    p.add_argument("-o", "--output", type=output_file,
                   help="image path: .png, .jpg, .pdf or .svg, in a folder that exists (default: RUN/samples.png)")
    _add_data_flags(p, "to check the posterior for collapse and fit --sampler gmm")
    p.set_defaults(func=r.cmd_generate)

    p = sub.add_parser("interpolate", help="the images decoded along the straight line between two images' codes")
    p.add_argument("run", help="run directory")
    p.add_argument("a", help="first image (PNG, JPEG, ...; read as `detect` reads images)")
    p.add_argument("b", help="last image")
    p.add_argument("-n", type=sample_count, default=10, help="images along the path, 2 or more (default 10)")
    p.add_argument("--class", dest="label", type=int, metavar="C", help="a conditional VAE's class to decode")
    p.add_argument("-o", "--output", type=output_file,
                   help="image path, in a folder that exists (default: RUN/interpolation.png)")
    _add_data_flags(p, "to frame the images like its training data")
    p.set_defaults(func=r.cmd_interpolate)

    if command == "detect":
        from latentlab.analysis.novelty import SCORES

        scores: tuple[str, ...] | None = SCORES
    else:
        scores = None
    p = sub.add_parser("detect", help="is each image like the run's training data? (novelty detection)")
    p.add_argument("run", help="run directory")
    p.add_argument("images", nargs="+", metavar="IMAGE",
                   help="PNG, JPEG, GIF, BMP or WebP files of any size, read at the run's size and colour (see "
                        "--no-auto for what is done to them)")
    p.add_argument("--score", choices=scores, default="combined",
                   help="novelty score (default combined; elbo needs a VAE)")
    p.add_argument("--no-auto", action="store_true",
                   help="skip the automatic steps of grey runs (inverting a light background, cropping, fitting and "
                        "centring like the training data): only decode and resize to the run's size")
    p.add_argument("--invert", action="store_true", help="invert the model input (useful with --no-auto)")
    p.add_argument("--explain", metavar="DIR", type=output_dir, help="one PNG per image into DIR, made if missing: "
                   "input, reconstruction, anomaly map over the input, nearest training images with distances and "
                   "labels")
    p.add_argument("--json", action="store_true",
                   help="one JSON object per image: path, score, threshold, verdict, member, steps, source_size "
                        "(height, width)")
    _add_data_flags(p, "if the detector must be fitted first")
    p.add_argument("--allow-data-change", action="store_true",
                   help="fit the detector on the run's data set as it is now, although its training images differ "
                        "from those the run was trained on; without it that is refused (a detector saved with the run "
                        "is used as it is)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    _add_threads_flag(p)
    p.set_defaults(func=r.cmd_detect)

    p = sub.add_parser("evaluate", help="measure a run on its test split and write RUN/metrics.json")
    p.add_argument("run", help="run directory")
    _add_data_flags(p, "to measure the run on")
    p.add_argument("--iwae-k", type=positive_int, default=100, help="samples for the IWAE log-likelihood (default 100)")
    p.add_argument("--nll-k", type=positive_int, metavar="K", help="also the test NLL, K importance samples per image")
    sets(p.add_argument("--nll-images", type=positive_int, default=1000, metavar="N",
                        help="the subset for --nll-k: the first N test images (default 1000)"), "n_images")
    p.add_argument("--no-membership", action="store_true", help="skip the novelty detectors and OOD sets")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N or mps")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    _add_threads_flag(p)
    p.set_defaults(func=r.cmd_evaluate)

    if command == "export":
        from latentlab.export import FORMATS

        formats: list[str] | None = list(FORMATS)
    else:
        formats = None
    p = sub.add_parser("export", help="a run's encoder and decoder as files for other tools (ONNX), with a model card")
    p.add_argument("run", help="run directory")
    p.add_argument("--format", choices=formats, default="onnx", help="file format (default onnx)")
    p.add_argument("-o", "--output", metavar="DIR", type=output_dir,
                   help="output folder, made if missing (default: RUN/FORMAT)")
    p.set_defaults(func=r.cmd_export)

    p = sub.add_parser("benchmark", help="measure latentlab on the field's benchmarks (one-class novelty detection)")
    bench = p.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    p = bench.add_parser("one-class", help="train on one class, detect the others: AUROC/AUPR per class, beside a "
                         "raw-pixel k-NN baseline and published results",
                         description="For each class: train the preset's model on that class's training images only, "
                         "fit the novelty detector on them and score the whole test set (that class normal, the "
                         "others anomalies). Writes one-class-DATASET.json, .md and .png into --out.")
    p.add_argument("--dataset", required=True, metavar="DATASET",
                   help="fashion-mnist, mnist, fashion-mnist-sample, mnist-sample, or a labelled folder or .npz")
    p.add_argument("--preset", help="the model (default: fashion-deep for Fashion-MNIST, else mnist-deep)")
    p.add_argument("--steps", type=int, default=STEPS,
                   help=f"optimizer steps per class, rounded up to whole epochs (default {STEPS}: about 20 epochs of "
                   "6,000 images at batch 256)")
    p.add_argument("--classes", type=parse_classes, nargs="+", metavar="C",
                   help="only these classes, separated by commas or spaces, e.g. 0,3,6 or 0 3 6")
    p.add_argument("--seeds", type=int, default=1, metavar="N",
                   help="models per class, seeds 0..N-1, scores averaged (default 1)")
    p.add_argument("--score-choice", choices=SCORE_CHOICES, default=SCORE_CHOICES[0],
                   help="the headline default: per-class = each class's score (combined, pixel-knn, hyperplane) with "
                   "the best AUROC on a validation made of its training split only; data-set = the best mean over "
                   f"the classes; fixed = the detector's default, combined (default {SCORE_CHOICES[0]})")
    _add_runner_flags(p, "classes")
    p.add_argument("--out", default="benchmarks", type=output_dir,
                   help="output folder, made if missing (default: benchmarks)")
    p.add_argument("--data-dir", help="folder holding the IDX files (default: $LATENTLAB_DATA)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or per-class lines")
    p.set_defaults(func=c.cmd_benchmark)

    p = bench.add_parser("localise", help="synthetic defects with masks: pixel AUROC and AUPRO per kind and map, "
                         "image-level AUROC", description="Defects (patch, stroke, erased part, noise; seeded) on test "
                         "images of DATASET; writes localise-DATASET.json, .md and .png into --out.")
    p.add_argument("--dataset", required=True, metavar="DATASET", help="a data set name, an image folder or .npz")
    p.add_argument("--run", metavar="RUN_DIR", help="use this run's model instead of training --preset")
    p.add_argument("--preset", help="the model to train (default: as benchmark one-class)")
    p.add_argument("--steps", type=int, default=STEPS, help=f"optimizer steps of training (default {STEPS})")
    p.add_argument("--per-cell", type=int, default=50, metavar="N", help="defective images per kind and size (50)")
    p.add_argument("--clean", type=int, default=500, metavar="N", help="clean test images (default 500)")
    p.add_argument("--seed", type=int, default=0, help="seed of the defects and the model (default 0)")
    p.add_argument("--out", default="benchmarks", type=output_dir,
                   help="output folder, made if missing (default: benchmarks)")
    p.add_argument("--data-dir", help="folder holding the IDX files (default: $LATENTLAB_DATA)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=c.cmd_localise)

    p = sub.add_parser("serve", help="explore trained runs in the browser: latent plane, drawing, denoising")
    p.add_argument("runs", nargs="*", metavar="RUN_DIR",
                   help="run directories (default: every run under runs/, else under report/runs/)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=port, default=8000, help="port to listen on (default 8000)")
    p.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                   help="also answer requests for this host name (repeatable; '*' answers any, e.g. behind a "
                        "proxy); by default only 127.0.0.1, localhost, ::1 and --host are answered")
    _add_threads_flag(p)
    p.set_defaults(func=c.cmd_serve)
    return parser
