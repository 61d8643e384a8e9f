"""The subcommands that look into a trained run: plot, decode, generate, interpolate, evaluate, export (detect is
`cli.detect`, re-exported here)."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import Any

from latentlab.cli.detect import VERDICTS, _framing, _run_data, cmd_detect
from latentlab.cli.tables import format_summary, warn
from latentlab.errors import ConfigError, ImageError


def _run_and_data(path: str, data_dir: str | None, dataset: str | None, quiet: bool = True) -> tuple[Any, Any]:
    from latentlab.runs import load_run, load_run_data

    run = load_run(path)
    return run, load_run_data(run, data_dir=data_dir, progress=not quiet, dataset=dataset)


def _save(fig: Any, out: str) -> int:
    from latentlab.figures import save_figure

    print(save_figure(fig, out))
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from latentlab.figures import from_runs as plots

    run, data = _run_and_data(args.run, args.data_dir, args.dataset)
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
                          "(e.g. mnist-vae)", field="run", value=args.run)
    image = decode_points(run.model, point)[0]  # (H, W) grey or (H, W, 3) colour
    from PIL import Image

    from latentlab.images import to_uint8

    img = Image.fromarray(to_uint8(image))
    if args.scale > 1:
        img = img.resize((img.width * args.scale, img.height * args.scale), Image.NEAREST)
    img.save(args.output)
    print(args.output)
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from latentlab.analysis.posterior import beta_warnings, diagnose_posterior
    from latentlab.errors import DatasetError, RunError
    from latentlab.figures import from_runs as plots
    from latentlab.models import has_prior
    from latentlab.runs import load_run, load_run_data

    run = load_run(args.run)
    if args.sampler == "prior":  # a model without a prior, or a bad --class, fails here before any data are read
        plots.prior_samples(run, 1, label=args.label)
    try:  # the test split tells whether the posterior collapsed; never download it just for that
        data = load_run_data(run, data_dir=args.data_dir, download=False, dataset=args.dataset)
    except (DatasetError, RunError) as exc:
        if args.sampler != "prior":
            raise ConfigError(f"--sampler {args.sampler} is fitted to the run's training codes, and its data are not "
                              f"on this machine ({exc}); pass --data-dir, or use --sampler prior",
                              field="--sampler", value=args.sampler) from None
        data = None
        print(f"latentlab generate: note: {run.config.dataset} is not on disk, so posterior collapse was not "
              "checked (pass --data-dir)", file=sys.stderr)
    ok = data is not None and len(data.x_test) >= 2 and has_prior(run.model)
    warn("generate", diagnose_posterior(run.model, data.x_test).warnings if ok else beta_warnings(run.model))
    fig = plots.samples_figure(run, data, n=args.n, seed=args.seed, sampler=args.sampler, label=args.label,
                               n_components=args.components)
    return _save(fig, args.output or str(Path(args.run) / "samples.png"))


def cmd_interpolate(args: argparse.Namespace) -> int:
    from latentlab.analysis.sampling import interpolate
    from latentlab.figures.rows import image_row_figure
    from latentlab.images import layout_for, read_image
    from latentlab.models import is_conditional
    from latentlab.runs import load_run

    run = load_run(args.run)
    data, _ = _run_data(run, args.data_dir, args.dataset)
    shape = tuple(run.model.image_shape)
    layout = layout_for(shape, *_framing(data))  # framed as `detect` frames images
    ends = {path: read_image(path, layout=layout, shape=shape) for path in dict.fromkeys((args.a, args.b))}
    # What the image pipeline found at each end, as `detect` says it: a picture, or several objects, decodes to a
    # path that starts nowhere near the training data, and the user should know why the row looks as it does.
    for path, p in ends.items():
        found = VERDICTS["several objects"].format(objects=p.objects) + ": " if p.several else ""
        print(f"latentlab interpolate: {path}: {found}{'; '.join(p.steps) or 'used as it is'}", file=sys.stderr)
    blank = [path for path, p in ends.items() if p.blank]
    if blank:
        raise ImageError(f"{' and '.join(blank)}: nothing stands out from the background, so there is no object to "
                         "start or end the path at (a blank end decodes to the model's idea of an empty page); "
                         "give two images with one object each, drawn as the training images are",
                         field="images", value=blank)
    images = interpolate(run.model, ends[args.a].pixels, ends[args.b].pixels, n=args.n, label=args.label)
    which = ""
    if is_conditional(run.model):
        which = (f"\ndecoded as class {args.label}" if args.label is not None else
                 "\nthe class moving from the first's to the second's, as the model infers them")
    fig = image_row_figure(images, title=f"{run.name}: from {Path(args.a).name} to {Path(args.b).name} in latent "
                           f"space{which}")
    return _save(fig, args.output or str(Path(args.run) / "interpolation.png"))


def cmd_evaluate(args: argparse.Namespace) -> int:
    from latentlab.analysis.evaluate import compute_metrics, write_metrics
    from latentlab.runs import load_run, load_run_data
    from latentlab.training import resolve_device

    run = load_run(args.run, device=resolve_device(args.device))
    data = load_run_data(run, data_dir=args.data_dir, progress=not args.quiet, dataset=args.dataset)
    with warnings.catch_warnings(record=True) as caught:  # said once each, as notes (a read-only run's cache)
        warnings.simplefilter("always")
        metrics = compute_metrics(run, data, iwae_k=args.iwae_k, membership=not args.no_membership,
                                  progress=not args.quiet, nll_k=args.nll_k,
                                  nll_images=args.nll_images)
    for w in caught:
        if not issubclass(w.category, UserWarning):
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    for note in dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, UserWarning)):
        print(f"latentlab evaluate: note: {note}", file=sys.stderr)
    try:
        path = write_metrics(run.path, metrics)
    except OSError as exc:  # a read-only (or full) run directory: the user's cache folder of the run instead
        from latentlab.analysis.novelty import run_cache_dir

        cache = run_cache_dir(run)
        if cache is None:
            raise
        cache.mkdir(parents=True, exist_ok=True)
        path = write_metrics(cache, metrics)
        print(f"latentlab evaluate: note: {run.path} cannot be written ({exc.strerror or exc}), so metrics.json was "
              f"written to {cache} instead", file=sys.stderr)
    print(format_summary(metrics))
    print(path)
    warn("evaluate", (metrics.get("vae") or {}).get("warnings") or [])
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from latentlab.export import FORMATS

    paths = FORMATS[args.format](args.run, args.output or Path(args.run) / args.format)
    for path in paths.values():
        print(path)
    return 0


__all__ = ["cmd_decode", "cmd_detect", "cmd_evaluate", "cmd_export", "cmd_generate", "cmd_interpolate", "cmd_plot"]
