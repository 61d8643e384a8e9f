"""The subcommands: each takes parsed arguments, calls the library and prints; heavy modules load inside them."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from latentlab.cli.tables import format_datasets, table, warn
from latentlab.config import RunConfig, override
from latentlab.errors import ConfigError
from latentlab.files import check_name_lengths
from latentlab.presets import PRESETS, preset_config


def _parse_noise(text: str) -> dict[str, Any]:
    kind, _, factor = text.partition(":")
    out: dict[str, Any] = {"train.noise.kind": kind}  # the kind is checked against the noise registry later
    if factor:
        try:
            out["train.noise.factor"] = float(factor)
        except ValueError:
            raise ConfigError(f"--noise {text!r}: the factor {factor!r} is not a number; e.g. gaussian:0.5",
                              field="--noise", value=text) from None
    return out


def _train_config(args: argparse.Namespace) -> RunConfig:
    if args.resume and (args.preset or args.profile):
        given = f"the preset {args.preset!r}" if args.preset else f"--profile {args.profile}"
        raise ConfigError(f"--resume continues {args.resume} with the config it was started with, so {given} would "
                          f"be ignored; drop it to resume, or start a new run from it with --out (flags such as "
                          f"--epochs still apply to a resume)", field="--resume", value=args.resume)
    if args.resume:
        from latentlab.runs import CONFIG, read_json

        cfg = RunConfig.from_dict(read_json(Path(args.resume) / CONFIG))
    elif args.preset:
        cfg = preset_config(args.preset, args.profile or "quick")
    else:
        raise ConfigError("name a preset (see `latentlab presets`) or pass --resume RUN_DIR", field="preset")
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


def _data_options(args: argparse.Namespace) -> dict[str, Any]:
    """image_size, grayscale and auto from the flags; a resumed run keeps its own unless they are given again."""
    from latentlab.data.convert import parse_size

    options = {"image_size": parse_size(args.image_size), "grayscale": args.grayscale, "auto": not args.no_auto}
    if args.resume and args.image_size is None and not args.grayscale and not args.no_auto:
        from latentlab.runs import CONFIG, META, data_options, read_json

        shape = RunConfig.from_dict(read_json(Path(args.resume) / CONFIG)).model.image_shape
        options = data_options(read_json(Path(args.resume) / META), shape)
    return options


def _check_labels(cfg: RunConfig, data: Any) -> None:
    """A conditional model trains on class labels: said in the command line's terms (the folder or .npz to give,
    the flag to set) before training, where the library would name its Python arguments (y_train, y_val)."""
    from latentlab.models import MODELS, is_conditional

    if not is_conditional(getattr(MODELS[cfg.model.kind], "__self__", None)):  # the entries are classes' from_config
        return
    what = f"{cfg.preset or cfg.name} is a conditional model ({cfg.model.kind}): it trains on class labels"
    if data.y_train is None or (len(data.x_test) and data.y_test is None):
        raise ConfigError(f"{what}, and {data.name} has none ({data.source})",
                          hint=f"give it one subfolder per class ({data.name}/<class>/*.png) or an .npz with y and "
                               "y_test, or train a preset that needs no labels (`latentlab presets`)")
    n = max(len(data.classes), int(data.y_train.max(initial=-1)) + 1)
    if n > cfg.model.n_classes:
        raise ConfigError(f"{what}, {cfg.model.n_classes} of them, and {data.name} has {n} classes",
                          hint=f"pass --set model.n_classes={n}")


def cmd_train(args: argparse.Namespace) -> int:
    from latentlab.locks import run_lock
    from latentlab.training import check_config, dist

    info = dist.from_env()
    cfg = check_config(_train_config(args))
    run_dir = Path(args.resume) if args.resume else Path(args.out or Path("runs") / cfg.name)
    args.run_dir = run_dir  # what an interruption's message looks in (`cli.interrupted`)
    check_name_lengths(run_dir, "out" if args.out else "name")
    if not info.is_main:  # under torchrun only rank 0 writes the run, and holds its lock
        return _train(args, cfg, run_dir, info)
    # Held from before the data are loaded: a second training, resume or --overwrite of the run is refused at once.
    with run_lock(run_dir, "resuming" if args.resume else "training") as lock:
        if lock.note:
            warn("train", [lock.note])
        return _train(args, cfg, run_dir, info)


def _train(args: argparse.Namespace, cfg: RunConfig, run_dir: Path, info: Any) -> int:
    from latentlab.data import load_dataset
    from latentlab.training import dist, train

    if not args.resume and (run_dir / "state.json").exists() and not args.overwrite:
        raise ConfigError(f"{run_dir} already holds a run; pass --resume {run_dir} to continue it, "
                          "--overwrite to replace it, or --out to write elsewhere", field="--out", value=str(run_dir))
    if args.resume and (run_dir / "state.json").is_file():
        from latentlab.runs import read_json
        from latentlab.training.state import check_epochs_left

        # Before the data set is loaded (which may take a while): as `restore` would refuse after it.
        check_epochs_left(run_dir, int(read_json(run_dir / "state.json").get("epoch", 0)), cfg.train.epochs)
    if args.tensorboard:
        from latentlab.training.tensorboard import require_tensorboard

        require_tensorboard()  # before the data set is loaded, which may mean a download
    options = _data_options(args)
    data = load_dataset(cfg.dataset, data_dir=args.data_dir, progress=info.is_main and not args.quiet, **options)
    if not len(data.x_train):
        raise ConfigError(f"{data.name} has no training images ({data.source}); training needs at least one: "
                          "give the data set some (an .npz's x, or a train/ folder)", field="dataset", value=data.name)
    _check_labels(cfg, data)
    # A relative --dataset path is stored absolute, so plot, evaluate and detect work from any directory.
    cfg = replace(cfg, dataset=data.ref)
    # How the data were loaded, so plot, evaluate, detect and serve load the same images (`runs.load_run_data`).
    size = options["image_size"]
    from latentlab.data.base import data_meta

    meta = {"image_auto": options["auto"], **data_meta(data),
            "data_options": {**options, "image_size": list(size) if size else None}}
    if info.is_main and not args.quiet:
        from latentlab.threads import describe_in_force
        from latentlab.training.train import resolve_device

        device = resolve_device(cfg.train.device, info.local_rank)
        where = f"{device}, {describe_in_force()}" if device.type == "cpu" else str(device)
        print(f"training {cfg.preset or cfg.name} on {data.name} ({data.source}) -> {run_dir} ({where})",
              file=sys.stderr)
    if info.is_main:  # said even when quiet, as the empty split below: the run trains, but partly on nothing
        from latentlab.data.base import blank_note

        warn("train", blank_note(data))
    if info.is_main and not len(data.x_test):
        from latentlab.data.base import empty_split_fix

        # Said before training, even when quiet: the run trains, but evaluate and most figures will refuse it.
        warn("train", [f"{data.name} has no test images, so the run trains without a validation loss, and "
                       f"`latentlab evaluate` and the recon, denoise, latent and point figures cannot use it; to have "
                       f"them, {empty_split_fix(data)}"])
    callbacks = []
    if args.tensorboard and info.is_main:
        from latentlab.training.tensorboard import TensorBoardLogger

        # The validation images are shown and embedded; without any, the training images are.
        shown, labels = (data.x_test, data.y_test) if len(data.x_test) else (data.x_train, data.y_train)
        callbacks.append(TensorBoardLogger(args.tensorboard, shown, labels, data.classes, name=run_dir.name))
    try:
        result = train(cfg, data.x_train, data.x_test, run_dir, resume=bool(args.resume), quiet=args.quiet,
                       info=info, meta=meta, callbacks=callbacks, allow_data_change=args.allow_data_change,
                       y_train=data.y_train, y_val=data.y_test)
    finally:
        dist.teardown()
    if callbacks and not args.quiet:
        print(f"TensorBoard: {callbacks[0].log_dir} (tensorboard --logdir {args.tensorboard})", file=sys.stderr)
    if result.status == "interrupted":
        # `main` says what was kept and how to go on, in one line, as for an interruption anywhere.
        raise KeyboardInterrupt
    if info.is_main:
        _check_posterior(result.model, data.x_test, args.quiet)
        print(f"{result.status}: {run_dir}")
    return 0


def _check_posterior(model: Any, x_val: Any, quiet: bool) -> None:
    """After training a VAE, one look at its posterior on (at most 5,000) validation images: a line of numbers
    unless quiet, and each warning on stderr even when quiet (a collapse is not progress to hide)."""
    from latentlab.analysis.posterior import diagnose_posterior
    from latentlab.models import has_prior

    if not has_prior(model) or len(x_val) < 2:
        return
    diag = diagnose_posterior(model, x_val)
    if not quiet:
        print(f"posterior: {diag.active_units} of {diag.latent_dim} latent units active, KL {diag.total_kl:.3g} "
              f"nats per image ({diag.n_images:,} validation images)", file=sys.stderr)
    warn("train", diag.warnings)


def cmd_presets(args: argparse.Namespace) -> int:
    rows = [("preset", "model", "dataset", "batch", "quick", "full", "description")]
    for p in PRESETS.values():
        m = p.config.model
        shape = f"{m.kind} {'-'.join(map(str, m.hidden)) or '-'} z={m.latent_dim}"
        if m.likelihood != "bernoulli":
            shape += f" {m.likelihood}"
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
    if args.dataset is not None:
        overrides["dataset"] = args.dataset
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
    from latentlab.runner.sweeps import TABLE_MD, markdown, sweep

    table = sweep(args.preset, dict(args.set_grid), seeds=args.seeds, epochs=args.epochs, profile=args.profile,
                  out=args.out, dataset_name=args.dataset, data_dir=args.data_dir, overrides=dict(args.set or []),
                  metrics=args.metrics, jobs=args.jobs, executor=args.executor, threads=args.threads,
                  progress=not args.quiet)
    print(markdown(table))
    print(Path(args.out or Path("sweeps") / args.preset) / TABLE_MD)
    return 1 if any(row["failed"] for row in table["rows"]) else 0


def cmd_benchmark(args: argparse.Namespace) -> int:
    from latentlab.benchmark import SCORE_CHOICES, one_class
    from latentlab.benchmark.tables import table as result_table

    if args.seeds < 1:
        raise ConfigError(f"--seeds {args.seeds} is invalid: the number of models per class, 1 or more",
                          field="--seeds", value=args.seeds)
    if args.classes:  # one list per word: "0,1 2" -> [[0, 1], [2]]
        args.classes = [c for word in args.classes for c in word]
    command = f"latentlab benchmark one-class --dataset {args.dataset} --steps {args.steps} --seeds {args.seeds}"
    if args.preset:
        command += f" --preset {args.preset}"
    if args.classes:
        command += f" --classes {','.join(map(str, args.classes))}"
    if args.score_choice != SCORE_CHOICES[0]:
        command += f" --score-choice {args.score_choice}"
    result = one_class(args.dataset, preset=args.preset, steps=args.steps, classes=args.classes,
                       seeds=tuple(range(args.seeds)), out=args.out, data_dir=args.data_dir, progress=not args.quiet,
                       jobs=args.jobs or 1, executor=args.executor, threads=args.threads, command=command,
                       score_choice=args.score_choice)
    header, rows = result_table(result)
    print(f"AUROC (%), {result['dataset']['name']}: {result['wall_s']:.0f} s")
    print(table([header[:-1], *(r[:-1] for r in rows)]))
    for path in result["files"].values():
        print(path)
    return 0


def cmd_localise(args: argparse.Namespace) -> int:
    from latentlab.benchmark.localise import localise, markdown

    command = f"latentlab benchmark localise --dataset {args.dataset} --per-cell {args.per_cell} --clean {args.clean}"
    command += f" --seed {args.seed}" + (f" --run {args.run}" if args.run else f" --steps {args.steps}")
    result = localise(args.dataset, preset=args.preset, steps=args.steps, run=args.run, per_cell=args.per_cell,
                      n_clean=args.clean, seed=args.seed, out=args.out, data_dir=args.data_dir,
                      progress=not args.quiet, command=command)
    print(markdown(result))
    for path in result["files"].values():
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
                          "build the report (`latentlab report`) or pass RUN_DIR", field="runs")
    serve(run_dirs, host=args.host, port=args.port, allow_hosts=args.allow_host)
    return 0
