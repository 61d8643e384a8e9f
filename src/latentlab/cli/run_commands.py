"""The subcommands that look into a trained run: plot, decode, generate, interpolate, detect, evaluate."""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import Any

from latentlab.cli.tables import format_summary, table, warn
from latentlab.errors import ConfigError


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
    from latentlab.runs import load_run

    run = load_run(args.run)
    data, _ = _run_data(run, args.data_dir, args.dataset)
    shape = tuple(run.model.image_shape)
    layout = layout_for(shape, None if data is None else data.x_train)  # framed as `detect` frames images
    a, b = (read_image(path, layout=layout, shape=shape).pixels for path in (args.a, args.b))
    images = interpolate(run.model, a, b, n=args.n, label=args.label)
    fig = image_row_figure(images, title=f"{run.name}: from {Path(args.a).name} to {Path(args.b).name} in latent "
                           "space")
    return _save(fig, args.output or str(Path(args.run) / "interpolation.png"))


def _run_data(run: Any, data_dir: str | None, dataset: str | None) -> tuple[Any, str]:
    """The run's data set if it can be had without downloading, else None and why (a saved detector still works)."""
    from latentlab.errors import DatasetError, RunError
    from latentlab.runs import load_run_data

    try:
        return load_run_data(run, data_dir=data_dir, download=False, dataset=dataset), ""
    except (DatasetError, RunError) as exc:
        return None, str(exc)


def cmd_detect(args: argparse.Namespace) -> int:
    import numpy as np

    from latentlab.analysis.inference import image_layout
    from latentlab.analysis.novelty import locate_detector
    from latentlab.analysis.ood import detector_unsupported
    from latentlab.errors import ImageError
    from latentlab.images import layout_for, read_image
    from latentlab.runs import IN_MEMORY, load_run

    if args.explain and Path(args.explain).exists() and not Path(args.explain).is_dir():
        raise ConfigError(f"--explain {args.explain} is a file: give a folder for the explanation PNGs (it is made "
                          "if missing)", field="--explain", value=args.explain)
    run = load_run(args.run)
    data, why = _run_data(run, args.data_dir, args.dataset)
    shape = tuple(run.model.image_shape)
    # At the run's size and colour; grey ones framed like its training images, as the web page does.
    layout = layout_for(shape, None if data is None else data.x_train)
    prepared, failed = {}, {}
    for path in args.images:
        try:
            prepared[path] = read_image(path, layout=layout, auto=not args.no_auto, shape=shape)
        except ImageError as exc:
            failed[path] = str(exc)
    unsupported = detector_unsupported(shape)
    if unsupported:
        raise ConfigError(f"{run.name}: {unsupported}; {len(prepared)} of {len(args.images)} images were read at "
                          f"the run's shape, but there is nothing to judge them with (reconstructions work: "
                          f"latentlab plot recon {args.run})", field="run", value=args.run)
    if data is None and run.meta.get("data_source") == IN_MEMORY:
        from latentlab.analysis.novelty import saved_detector

        saved_detector(run, args.score, why)  # said once, as the error (not also as the notice below)
    if not args.quiet:
        print(f"{run.name}: loading or fitting the {args.score} detector ...", file=sys.stderr, flush=True)
        if data is None:
            print(f"{run.name}: its data set is not on this machine ({why}); laying images out with the default "
                  "MNIST layout", file=sys.stderr)
    try:
        detector, note = locate_detector(run, data, score=args.score, data_dir=args.data_dir, same_data=False)
    except ConfigError as exc:
        if exc.field != "holdout":
            raise
        # The detector's advice names its Python argument `holdout`, which no flag sets: say what can be done.
        raise ConfigError(f"{run.name}: the {args.score} detector cannot be fitted on the run's training images "
                          f"({exc.problem}); retrain the run on more images, or fit one in Python, "
                          f"latentlab.NoveltyDetector(run, score={args.score!r}, holdout=0.5).fit(x_train)"
                          f".save({str(run.path)!r}), which detect then uses",
                          field="score", value=args.score) from None
    if note:
        print(f"latentlab detect: note: {note}", file=sys.stderr)
    pixels = (np.stack([p.pixels for p in prepared.values()]) if prepared else
              np.zeros((0, *image_layout(run.model)), np.uint8))
    if args.invert:
        pixels = 255 - pixels  # on top of whatever the automatic steps did: the user asked for it
    scores = dict(zip(prepared, detector.score_samples(pixels), strict=True))
    explained = {}
    if args.json or args.explain:
        from latentlab.analysis.novelty import fitted_labels

        explained = dict(zip(prepared, detector.explain(pixels, labels=fitted_labels(detector, data)), strict=True))
    results = []
    for path in args.images:
        if path in failed:
            results.append({"path": path, "error": failed[path]})
            continue
        p = prepared[path]
        score, member = float(scores[path]), bool(scores[path] >= detector.offset_) and not p.several
        steps = list(p.steps) + (["inverted (--invert)"] if args.invert else [])
        # Several objects squeezed into one frame are no digit: the score of that frame answers nothing.
        verdict = "several objects" if p.several else "in" if member else "out"
        results.append({"path": path, "score": score, "threshold": float(detector.offset_), "member": member,
                        "verdict": verdict, "objects": p.objects, "steps": steps, "source_size": list(p.source_size)})
        if path in explained:
            results[-1]["explanation"] = explained[path].summary()
    if args.explain:
        _write_explanations(args.explain, explained, pixels, data)
    print("\n".join(json.dumps(r) for r in results) if args.json else _detect_table(results))
    for error in failed.values():
        print(f"latentlab detect: error: {error}", file=sys.stderr)
    return 2 if failed else 0


def _write_explanations(out: str, explained: dict[str, Any], pixels: Any, data: Any) -> None:
    """One PNG per image into `out` (named after the image's file), printed as written."""
    from latentlab.figures import save_figure
    from latentlab.figures.maps import explanation_figure

    Path(out).mkdir(parents=True, exist_ok=True)
    for i, (path, e) in enumerate(explained.items()):
        near = e.neighbours.get("pixel-knn")
        names = [None if near is None or near["label"] is None else _label_name(data, near["label"][j])
                 for j in range(len(e.nearest_images))]
        fig = explanation_figure(pixels[i], e.reconstruction, e.map2d(), e.nearest_images,
                                 [] if near is None else near["distance"], names,
                                 title=f"{Path(path).name}: score {e.score:.2f}, threshold {e.threshold:.2f}")
        print(save_figure(fig, Path(out) / f"{Path(path).stem}-explained.png"), file=sys.stderr)


def _label_name(data: Any, label: int) -> str:
    classes = getattr(data, "classes", None) or ()
    return str(classes[label]) if 0 <= label < len(classes) else str(label)


def _detect_table(results: list[dict[str, Any]]) -> str:
    rows = [("image", "score", "threshold", "verdict", "what was done")]
    for r in results:
        if "error" in r:
            rows.append((r["path"], "-", "-", "not read (see below)", ""))
            continue
        verdict = {"in": "in (like the training data)", "out": "OUT (novel)",
                   "several objects": f"NOT ONE OBJECT ({r['objects']}; crop to one)"}[r["verdict"]]
        rows.append((r["path"], f"{r['score']:.3f}", f"{r['threshold']:.3f}", verdict, "; ".join(r["steps"]) or "-"))
    return table(rows)


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
