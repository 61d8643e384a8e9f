"""The argument parser. Only names that cost nothing to import are needed to build it, so `latentlab --help` and
`latentlab presets` load no torch; the figure kinds and detector scores are listed when their command runs."""

from __future__ import annotations

import argparse
import json
from typing import Any

from latentlab.cli import commands as c
from latentlab.cli import run_commands as r
from latentlab.config import PROFILES
from latentlab.presets import PRESETS


def _parse_set(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"--set wants KEY=VALUE (e.g. train.lr=3e-4), got {text!r}")
    try:
        return key, json.loads(value)  # numbers, lists such as [128,64], true/false
    except json.JSONDecodeError:
        return key, value


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; `command` (the first argument) decides whether the heavy registries are imported for choices."""
    parser = argparse.ArgumentParser(prog="latentlab", description="Autoencoders and VAEs on images: MNIST-style "
                                     "digits, CIFAR-10, or your own, at their own size and colour.")
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
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--latent-dim", type=int)
    p.add_argument("--noise",  help="train as a denoiser: KIND[:FACTOR], e.g. gaussian:0.5")
    p.add_argument("--seed", type=int)
    p.add_argument("--device", help="auto (default), cpu, cuda, cuda:N or mps")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (optional speed-up)")
    p.add_argument("--name", help="run name (default: the preset's)")
    p.add_argument("--out", help="run directory (default: runs/NAME)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run in the output directory")
    p.add_argument("--set", action="append", type=_parse_set, metavar="KEY=VALUE",
                   help="override any config field, e.g. --set train.schedule=cosine (repeatable)")
    p.add_argument("--quiet", action="store_true", help="no progress bars or per-epoch lines")
    p.set_defaults(func=c.cmd_train)

    p = sub.add_parser("presets", help="list the named experiments")
    p.set_defaults(func=c.cmd_presets)

    p = sub.add_parser("datasets", help="list datasets and where each one resolves from")
    p.add_argument("--no-verify", action="store_true", help="skip checksum verification")
    p.set_defaults(func=c.cmd_datasets)
    p = sub.add_parser("report", help="reproduce the whole seed report as one HTML page")
    p.add_argument("--profile", choices=PROFILES, default="quick", help="quick (minutes) or full (published epochs)")
    p.add_argument("--out", default="report", help="output folder (default: report)")
    p.add_argument("--presets", nargs="+", metavar="PRESET", help="only these experiments")
    p.add_argument("--epochs", type=int, help="override every experiment's epochs")
    p.add_argument("--data-dir", help="folder holding the IDX files (default: $LATENTLAB_DATA)")
    p.add_argument("--iwae-k", type=int, default=100, help="samples for the IWAE log-likelihood (default 100)")
    p.add_argument("--set", action="append", type=_parse_set, metavar="KEY=VALUE", help="override a config field")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=c.cmd_report)

    if command == "plot":
        from latentlab.figures.from_runs import PLOTS

        kinds: list[str] | None = list(PLOTS)
    else:
        kinds = None
    p = sub.add_parser("plot", help="draw one of the report's figures for a run")
    p.add_argument("kind", choices=kinds, help="the figure (`latentlab plot --help` lists them)")
    p.add_argument("run", help="run directory")
    p.add_argument("-o", "--output", help="PNG path (default: RUN/KIND.png)")
    p.add_argument("--mark", nargs=2, type=float, metavar=("X", "Y"), help="latent point to mark / decode")
    p.add_argument("--data-dir")
    p.set_defaults(func=r.cmd_plot)

    p = sub.add_parser("decode", help="the image a 2-D latent model decodes at (X, Y)")
    p.add_argument("run")
    p.add_argument("x", type=float)
    p.add_argument("y", type=float)
    p.add_argument("-o", "--output", default="decoded.png")
    p.add_argument("--scale", type=int, default=8, help="upscale factor of the saved PNG (default 8)")
    p.set_defaults(func=r.cmd_decode)

    p = sub.add_parser("generate", help="images decoded from random draws of a VAE's prior")
    p.add_argument("run")
    p.add_argument("-n", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", help="PNG path (default: RUN/samples.png)")
    p.add_argument("--data-dir", help="where the run's dataset is, to check the posterior for collapse")
    p.set_defaults(func=r.cmd_generate)

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
    p.add_argument("--json", action="store_true",
                   help="one JSON object per image: path, score, threshold, verdict, member, steps")
    p.add_argument("--data-dir", help="where the run's dataset is, if the detector must be fitted first")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=r.cmd_detect)

    p = sub.add_parser("evaluate", help="measure a run on its test split and write RUN/metrics.json")
    p.add_argument("run", help="run directory")
    p.add_argument("--data-dir", help="folder holding the IDX files (default: $LATENTLAB_DATA)")
    p.add_argument("--iwae-k", type=int, default=100, help="samples for the IWAE log-likelihood (default 100)")
    p.add_argument("--no-membership", action="store_true", help="skip the novelty detectors and OOD sets")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N or mps")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=r.cmd_evaluate)

    p = sub.add_parser("serve", help="explore trained runs in the browser: latent plane, drawing, denoising")
    p.add_argument("runs", nargs="*", metavar="RUN_DIR",
                   help="run directories (default: every run under runs/, else under report/runs/)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    p.set_defaults(func=c.cmd_serve)
    return parser
