"""`latentlab` command line: the only module that reads argv and the environment."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from latentlab import dist
from latentlab.config import NOISE_KINDS, PROFILES, ConfigError, RunConfig, override
from latentlab.presets import PRESETS, preset_config

Handler = Callable[[argparse.Namespace], int]


def _parse_noise(text: str) -> dict[str, Any]:
    kind, _, factor = text.partition(":")
    if kind not in NOISE_KINDS:
        raise argparse.ArgumentTypeError(f"unknown noise {kind!r}; use one of {', '.join(NOISE_KINDS)}, "
                                         "optionally with a factor, e.g. gaussian:0.5")
    out: dict[str, Any] = {"train.noise.kind": kind}
    if factor:
        try:
            out["train.noise.factor"] = float(factor)
        except ValueError:
            raise argparse.ArgumentTypeError(f"noise factor {factor!r} is not a number") from None
    return out


def _parse_set(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"--set wants KEY=VALUE (e.g. train.lr=3e-4), got {text!r}")
    try:
        return key, json.loads(value)  # numbers, lists such as [128,64], true/false
    except json.JSONDecodeError:
        return key, value


def _train_config(args: argparse.Namespace) -> RunConfig:
    if args.resume:
        from latentlab.rundir import CONFIG, read_json

        cfg = RunConfig.from_dict(read_json(Path(args.resume) / CONFIG))
    elif args.preset:
        cfg = preset_config(args.preset, args.profile or "quick")
    else:
        raise ConfigError("name a preset (see `latentlab presets`) or pass --resume RUN_DIR")
    changes: dict[str, Any] = {}
    for flag, key in [("epochs", "train.epochs"), ("batch_size", "train.batch_size"), ("lr", "train.lr"),
                      ("latent_dim", "model.latent_dim"), ("seed", "train.seed"), ("device", "train.device"),
                      ("dataset", "dataset"), ("name", "name")]:
        if getattr(args, flag) is not None:
            changes[key] = getattr(args, flag)
    if args.noise:
        changes.update(args.noise)
    if args.compile:
        changes["train.compile"] = True
    changes.update(dict(args.set or []))
    return override(cfg, changes) if changes else cfg


def cmd_train(args: argparse.Namespace) -> int:
    from latentlab.data import load_dataset
    from latentlab.train import train

    info = dist.from_env()
    cfg = _train_config(args)
    run_dir = Path(args.resume) if args.resume else Path(args.out or Path("runs") / cfg.name)
    if not args.resume and (run_dir / "state.json").exists() and not args.overwrite:
        raise ConfigError(f"{run_dir} already holds a run; pass --resume {run_dir} to continue it, "
                          "--overwrite to replace it, or --out to write elsewhere")
    data = load_dataset(cfg.dataset, data_dir=args.data_dir, progress=info.is_main and not args.quiet)
    meta = {"dataset": data.name, "data_source": data.source, "is_sample": data.is_sample,
            "classes": list(data.classes), "n_train": int(len(data.x_train)), "n_test": int(len(data.x_test))}
    if info.is_main and not args.quiet:
        print(f"training {cfg.preset or cfg.name} on {data.name} ({data.source}) -> {run_dir}", file=sys.stderr)
    try:
        result = train(cfg, data.x_train, data.x_test, run_dir, resume=bool(args.resume), quiet=args.quiet,
                       info=info, meta=meta)
    finally:
        dist.teardown()
    if info.is_main:
        print(f"{result.status}: {run_dir}")
    return 130 if result.status == "interrupted" else 0


def cmd_presets(args: argparse.Namespace) -> int:
    rows = [("preset", "model", "dataset", "batch", "quick", "full", "description")]
    for p in PRESETS.values():
        m = p.config.model
        shape = f"{m.kind} {'-'.join(map(str, m.hidden)) or '-'} z={m.latent_dim}"
        noise = p.config.train.noise
        if noise.kind != "none":
            shape += f" +{noise.kind} {noise.factor}"
        rows.append((p.name, shape, p.config.dataset, str(p.config.train.batch_size), str(p.quick_epochs),
                     str(p.full_epochs), p.description))
    print(_table(rows))
    return 0


def cmd_datasets(args: argparse.Namespace) -> int:
    from latentlab.data import dataset_table, format_table

    print(format_table(dataset_table(verify=not args.no_verify)))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from latentlab.report import build_report

    overrides = dict(args.set or [])
    if args.epochs is not None:
        overrides["train.epochs"] = args.epochs
    page = build_report(args.out, args.profile, presets=args.presets, data_dir=args.data_dir,
                        overrides=overrides or None, iwae_k=args.iwae_k, progress=not args.quiet)
    print(page)
    return 0


def _run_and_data(path: str, data_dir: str | None, quiet: bool = True) -> tuple[Any, Any]:
    from latentlab.data import load_dataset
    from latentlab.rundir import load_run

    run = load_run(path)
    return run, load_dataset(run.config.dataset, data_dir=data_dir, progress=not quiet)


def _save(fig: Any, out: str) -> int:
    from latentlab.figures import save_figure

    print(save_figure(fig, out))
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from latentlab import plots

    run, data = _run_and_data(args.run, args.data_dir)
    options: dict[str, Any] = {}
    if args.kind == "latent" and args.mark:
        options["mark"] = tuple(args.mark)
    if args.kind == "point":
        options["point"] = tuple(args.mark or (-1.0, 3.0))
    fig = plots.make(args.kind, run, data, **options)
    return _save(fig, args.output or str(Path(args.run) / f"{args.kind}.png"))


def cmd_decode(args: argparse.Namespace) -> int:
    import numpy as np

    from latentlab.evaluate import decode_points
    from latentlab.rundir import load_run

    run = load_run(args.run)
    point = np.array([[args.x, args.y]], dtype=np.float32)
    if run.model.latent_dim != 2:
        raise ConfigError(f"{args.run} has a {run.model.latent_dim}-D latent space; decode takes 2-D runs "
                          "(e.g. mnist-vae)")
    image = decode_points(run.model, point)[0]
    from PIL import Image

    img = Image.fromarray((image * 255).round().astype("uint8"), mode="L")
    if args.scale > 1:
        img = img.resize((28 * args.scale, 28 * args.scale), Image.NEAREST)
    img.save(args.output)
    print(args.output)
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from latentlab import figures, plots
    from latentlab.rundir import load_run

    run = load_run(args.run)
    fig = figures.samples_figure(plots.prior_samples(run, args.n, args.seed), title=f"{run.name}: samples")
    return _save(fig, args.output or str(Path(args.run) / "samples.png"))


def _read_image(path: str, invert: bool) -> Any:
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            gray = image.convert("L")  # grayscale; an alpha channel is dropped
    except (OSError, UnidentifiedImageError) as exc:
        raise ConfigError(f"{path}: Pillow cannot read this image ({exc}); pass a PNG or JPEG file") from None
    if gray.size != (28, 28):
        gray = gray.resize((28, 28), Image.Resampling.LANCZOS)
    pixels = np.asarray(gray, dtype=np.uint8)
    # The datasets are light strokes on black; --invert turns a dark-on-white scan into that.
    return 255 - pixels if invert else pixels


def cmd_detect(args: argparse.Namespace) -> int:
    import numpy as np

    from latentlab.novelty import detector_for_run
    from latentlab.rundir import load_run

    run = load_run(args.run)
    images = np.stack([_read_image(p, args.invert) for p in args.images])
    if not args.quiet:
        print(f"{run.name}: loading or fitting the {args.score} detector ...", file=sys.stderr, flush=True)
    detector = detector_for_run(run, score=args.score, data_dir=args.data_dir)
    scores = detector.score_samples(images)
    rows = [("image", "score", "threshold", "verdict")]
    for path, score in zip(args.images, scores, strict=True):
        verdict = "in (like the training data)" if score >= detector.offset_ else "OUT (novel)"
        rows.append((path, f"{score:.3f}", f"{detector.offset_:.3f}", verdict))
    print(_table(rows))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from latentlab.data import load_dataset
    from latentlab.metrics import compute_metrics, format_summary, write_metrics
    from latentlab.rundir import load_run
    from latentlab.train import resolve_device

    run = load_run(args.run, device=resolve_device(args.device))
    data = load_dataset(run.config.dataset, data_dir=args.data_dir, progress=not args.quiet)
    metrics = compute_metrics(run, data, iwae_k=args.iwae_k, membership=not args.no_membership,
                              progress=not args.quiet)
    path = write_metrics(run.path, metrics)
    print(format_summary(metrics))
    print(path)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        from latentlab.web.app import discover_runs, serve
    except ImportError as exc:
        raise ConfigError(f"`latentlab serve` needs the web extra ({exc.name} is missing): "
                          "pip install 'latentlab[web]'") from None
    run_dirs = [Path(p) for p in args.runs] or discover_runs([Path("runs"), Path("report") / "runs"])
    if not run_dirs:
        raise ConfigError("no runs found under runs/ or report/runs/; train one (`latentlab train mnist-vae`), "
                          "build the report (`latentlab report`) or pass RUN_DIR")
    serve(run_dirs, host=args.host, port=args.port)
    return 0


def _table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="latentlab", description="Autoencoders and VAEs on MNIST-style images.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="train a preset (single process, or under torchrun for DDP)")
    p.add_argument("preset", nargs="?", help=f"one of: {', '.join(PRESETS)}")
    p.add_argument("--dataset", help="dataset name (`latentlab datasets`), a class_name/*.png folder, or an .npz")
    p.add_argument("--data-dir", help="folder holding the four IDX files (default: $LATENTLAB_DATA)")
    p.add_argument("--profile", choices=PROFILES, help="epoch budget of the preset (default quick)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--latent-dim", type=int)
    p.add_argument("--noise", type=_parse_noise, help="train as a denoiser: KIND[:FACTOR], e.g. gaussian:0.5")
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
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("presets", help="list the named experiments")
    p.set_defaults(func=cmd_presets)

    p = sub.add_parser("datasets", help="list datasets and where each one resolves from")
    p.add_argument("--no-verify", action="store_true", help="skip checksum verification")
    p.set_defaults(func=cmd_datasets)
    p = sub.add_parser("report", help="reproduce the whole seed report as one HTML page")
    p.add_argument("--profile", choices=PROFILES, default="quick", help="quick (minutes) or full (published epochs)")
    p.add_argument("--out", default="report", help="output folder (default: report)")
    p.add_argument("--presets", nargs="+", metavar="PRESET", help="only these experiments")
    p.add_argument("--epochs", type=int, help="override every experiment's epochs")
    p.add_argument("--data-dir", help="folder holding the IDX files (default: $LATENTLAB_DATA)")
    p.add_argument("--iwae-k", type=int, default=100, help="samples for the IWAE log-likelihood (default 100)")
    p.add_argument("--set", action="append", type=_parse_set, metavar="KEY=VALUE", help="override a config field")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_report)

    from latentlab.plots import PLOTS

    p = sub.add_parser("plot", help="draw one of the report's figures for a run")
    p.add_argument("kind", choices=list(PLOTS))
    p.add_argument("run", help="run directory")
    p.add_argument("-o", "--output", help="PNG path (default: RUN/KIND.png)")
    p.add_argument("--mark", nargs=2, type=float, metavar=("X", "Y"), help="latent point to mark / decode")
    p.add_argument("--data-dir")
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("decode", help="the image a 2-D latent model decodes at (X, Y)")
    p.add_argument("run")
    p.add_argument("x", type=float)
    p.add_argument("y", type=float)
    p.add_argument("-o", "--output", default="decoded.png")
    p.add_argument("--scale", type=int, default=8, help="upscale factor of the saved PNG (default 8)")
    p.set_defaults(func=cmd_decode)

    p = sub.add_parser("generate", help="images decoded from random draws of a VAE's prior")
    p.add_argument("run")
    p.add_argument("-n", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", help="PNG path (default: RUN/samples.png)")
    p.set_defaults(func=cmd_generate)

    from latentlab.novelty import SCORES

    p = sub.add_parser("detect", help="is each image like the run's training data? (novelty detection)")
    p.add_argument("run", help="run directory")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="PNG or JPEG files (made grayscale 28x28)")
    p.add_argument("--score", choices=SCORES, default="combined",
                   help="novelty score (default combined; elbo needs a VAE)")
    p.add_argument("--invert", action="store_true", help="invert the images first (dark strokes on white paper)")
    p.add_argument("--data-dir", help="where the run's dataset is, if the detector must be fitted first")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_detect)

    p = sub.add_parser("evaluate", help="measure a run on its test split and write RUN/metrics.json")
    p.add_argument("run", help="run directory")
    p.add_argument("--data-dir", help="folder holding the IDX files (default: $LATENTLAB_DATA)")
    p.add_argument("--iwae-k", type=int, default=100, help="samples for the IWAE log-likelihood (default 100)")
    p.add_argument("--no-membership", action="store_true", help="skip the novelty detectors and OOD sets")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N or mps")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("serve", help="explore trained runs in the browser: latent plane, drawing, denoising")
    p.add_argument("runs", nargs="*", metavar="RUN_DIR",
                   help="run directories (default: every run under runs/, else under report/runs/)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    p.set_defaults(func=cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from latentlab.data import DatasetError
    from latentlab.rundir import RunError
    from latentlab.train import TrainingError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, DatasetError, RunError, TrainingError, ValueError) as exc:
        print(f"latentlab {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
