"""The subcommands: each takes parsed arguments, calls the library and prints; heavy modules load inside them."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from latentlab.cli.tables import format_datasets, format_summary, table
from latentlab.config import RunConfig, override
from latentlab.errors import ConfigError
from latentlab.presets import PRESETS, preset_config


def _parse_noise(text: str) -> dict[str, Any]:
    kind, _, factor = text.partition(":")
    out: dict[str, Any] = {"train.noise.kind": kind}  # the kind is checked against the noise registry later
    if factor:
        try:
            out["train.noise.factor"] = float(factor)
        except ValueError:
            raise ConfigError(f"--noise {text!r}: the factor {factor!r} is not a number; e.g. gaussian:0.5") from None
    return out


def _train_config(args: argparse.Namespace) -> RunConfig:
    if args.resume:
        from latentlab.runs import CONFIG, read_json

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
        changes.update(_parse_noise(args.noise))
    if args.compile:
        changes["train.compile"] = True
    changes.update(dict(args.set or []))
    return override(cfg, changes) if changes else cfg


def cmd_train(args: argparse.Namespace) -> int:
    from latentlab.data import load_dataset
    from latentlab.training import check_config, dist, train

    info = dist.from_env()
    cfg = check_config(_train_config(args))
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
    print(table(rows))
    return 0


def cmd_datasets(args: argparse.Namespace) -> int:
    from latentlab.data.listing import dataset_table

    print(format_datasets(dataset_table(verify=not args.no_verify)))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from latentlab.report import build_report

    overrides = dict(args.set or [])
    if args.epochs is not None:
        overrides["train.epochs"] = args.epochs
    page = build_report(args.out, args.profile, presets=args.presets, data_dir=args.data_dir,
                        overrides=overrides or None, iwae_k=args.iwae_k, progress=not args.quiet,
                        command=" ".join(["latentlab", *sys.argv[1:]]), jobs=args.jobs, executor=args.executor,
                        threads=args.threads)
    print(page)
    failed = json.loads((page.parent / "metrics.json").read_text()).get("failed") or {}
    for preset, why in failed.items():
        print(f"latentlab report: {preset} failed: {why['error']} (its run is left {why['status'] or 'empty'}; "
              "run the same command again to redo it)", file=sys.stderr)
    return 1 if failed else 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from latentlab.runner.sweep import TABLE_MD, markdown, sweep

    table = sweep(args.preset, dict(args.set_grid), seeds=args.seeds, epochs=args.epochs, profile=args.profile,
                  out=args.out, dataset_name=args.dataset, data_dir=args.data_dir, overrides=dict(args.set or []),
                  metrics=args.metrics, jobs=args.jobs, executor=args.executor, threads=args.threads,
                  progress=not args.quiet)
    print(markdown(table))
    print(Path(args.out or Path("sweeps") / args.preset) / TABLE_MD)
    return 1 if any(row["failed"] for row in table["rows"]) else 0


def _run_and_data(path: str, data_dir: str | None, quiet: bool = True) -> tuple[Any, Any]:
    from latentlab.data import load_dataset
    from latentlab.runs import load_run

    run = load_run(path)
    return run, load_dataset(run.config.dataset, data_dir=data_dir, progress=not quiet)


def _save(fig: Any, out: str) -> int:
    from latentlab.figures import save_figure

    print(save_figure(fig, out))
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from latentlab.figures import from_runs as plots

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

    from latentlab.analysis.inference import decode_points
    from latentlab.runs import load_run

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
    from latentlab import figures
    from latentlab.figures import from_runs as plots
    from latentlab.runs import load_run

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

    from latentlab.analysis.detectors import detector_for_run
    from latentlab.runs import load_run

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
    print(table(rows))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from latentlab.analysis.evaluate import compute_metrics, write_metrics
    from latentlab.data import load_dataset
    from latentlab.runs import load_run
    from latentlab.training import resolve_device

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
