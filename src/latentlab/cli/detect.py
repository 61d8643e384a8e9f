"""`latentlab detect`: is each image like a run's training data? Reads files as the run's training files were read,
judges them with the run's novelty detector and prints a verdict per file (a table, or JSON lines)."""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import Any

from latentlab.cli.tables import table
from latentlab.errors import ConfigError

#: The verdict codes (`latentlab.analysis.novelty.VERDICTS`) in the table's words.
VERDICTS = {"in": "in (like the training data)", "out": "OUT (novel)", "blank": "BLANK (nothing to judge)",
            "several objects": "NOT ONE OBJECT ({objects}; crop to one)"}


def cmd_detect(args: argparse.Namespace) -> int:
    import numpy as np

    from latentlab.analysis.inference import image_layout
    from latentlab.analysis.novelty import verdict_answer
    from latentlab.analysis.ood import detector_unsupported
    from latentlab.errors import ImageError
    from latentlab.images import layout_for, read_image
    from latentlab.runs import IN_MEMORY, load_run

    run = load_run(args.run)
    data, why = _run_data(run, args.data_dir, args.dataset, getattr(args, "in_flags", str))
    shape = tuple(run.model.image_shape)
    # At the run's size and colour; grey ones framed as its training files were (one decision, `layout_for`), as
    # the web page and `interpolate` frame theirs.
    layout = layout_for(shape, *_framing(data))
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
    detector = _detector(run, data, args)
    pixels = (np.stack([p.pixels for p in prepared.values()]) if prepared else
              np.zeros((0, *image_layout(run.model)), np.uint8))
    if args.invert:
        pixels = 255 - pixels  # on top of whatever the automatic steps did: the user asked for it
    scores = dict(zip(prepared, detector.score_samples(pixels), strict=True))
    explained = {}
    if args.json or args.explain:
        from latentlab.analysis.novelty import fitted_labels

        explained = dict(zip(prepared, detector.explain(pixels, labels=fitted_labels(detector, data),
                                                        classes=None if data is None else data.classes), strict=True))
    results = []
    for path in args.images:
        if path in failed:
            results.append({"path": path, "error": failed[path]})
            continue
        p = prepared[path]
        steps = list(p.steps) + (["inverted (--invert)"] if args.invert else [])
        # The schema the web API answers in too (`verdict_answer`), with the file it is about.
        results.append({"path": path, **verdict_answer(p, scores[path], detector.offset_, detector.score, steps)})
        if path in explained:
            results[-1]["explanation"] = explained[path].summary()
    if args.explain:
        _write_explanations(args.explain, explained, pixels, {r["path"]: r for r in results if "error" not in r})
    print("\n".join(json.dumps(r) for r in results) if args.json else _detect_table(results))
    for error in failed.values():
        print(f"latentlab detect: error: {error}", file=sys.stderr)
    return 2 if failed else 0


def _framing(data: Any) -> tuple[Any, Any]:
    """What `latentlab.images.layout_for` takes of a run's data: its training images and the layout they were framed
    by (None, None without data)."""
    return (None, None) if data is None else (data.x_train, data.layout)


def _run_data(run: Any, data_dir: str | None, dataset: str | None, said: Any = str) -> tuple[Any, str]:
    """The run's data set if it can be had without downloading, else None and why (a saved detector still works),
    said by `said` (`main` gives ``args.in_flags``: the error in the command's flags)."""
    from latentlab.errors import DatasetError, RunError
    from latentlab.runs import load_run_data

    try:
        return load_run_data(run, data_dir=data_dir, download=False, dataset=dataset), ""
    except (DatasetError, RunError) as exc:
        return None, said(exc)


def _detector(run: Any, data: Any, args: argparse.Namespace) -> Any:
    """The run's detector for --score (saved, or fitted now on the training images it was trained on); what fitting
    warns of (few images) is printed as warnings, where it was saved as a note."""
    from latentlab.analysis.novelty import locate_detector

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            detector, note = locate_detector(run, data, score=args.score, data_dir=args.data_dir, same_data=False,
                                             allow_data_change=args.allow_data_change)
        except ConfigError as exc:
            if exc.field == "x_train":  # too few images for any threshold: only more images help
                raise ConfigError(f"{run.name}: the {args.score} detector cannot be fitted on the run's {exc.value} "
                                  f"training images ({exc.problem}); train the run on a data set with that many "
                                  "images or more", field="run", value=args.run) from None
            if exc.field != "holdout":
                raise
            # The detector's advice names its Python argument `holdout`, which no flag sets: say what can be done.
            raise ConfigError(f"{run.name}: the {args.score} detector cannot be fitted on the run's training images "
                              f"({exc.problem}); use --score combined (or pixel-knn), which needs no held-out "
                              f"images, retrain the run on more images, or fit one in Python, "
                              f"latentlab.NoveltyDetector(run, score={args.score!r}, holdout=0.5).fit(x_train)"
                              f".save({str(run.path)!r}), which detect then uses",
                              field="score", value=args.score) from None
    said = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    for w in caught:
        if not issubclass(w.category, UserWarning):
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    # A detector fitted on few images is said every time it is used, not only when it is fitted.
    for message in dict.fromkeys([*said, *filter(None, [detector.unreliable()])]):
        print(f"latentlab detect: warning: {message}", file=sys.stderr)
    if note:
        print(f"latentlab detect: note: {note}", file=sys.stderr)
    return detector


def explanation_title(result: dict[str, Any], e: Any) -> str:
    """An explanation PNG's title: the file and its verdict in the table's words (`result`, one of detect's
    answers: blank and several objects are verdicts of their own, whatever the score), then the score against the
    threshold and the terms it is the sum of (`Explanation.contributions`; a single score's is the score itself)."""
    verdict = VERDICTS[result["verdict"]].format(objects=result["objects"])
    terms = ", ".join(f"{name} {value:+.2f}" for name, value in e.contributions.items())
    return (f"{Path(result['path']).name}: {verdict}\nscore {e.score:.2f} against threshold {e.threshold:.2f} "
            f"({terms})")


def _write_explanations(out: str, explained: dict[str, Any], pixels: Any, results: dict[str, dict[str, Any]]) -> None:
    """One PNG per image into `out` (named after the image's file; the folder is made if missing), printed as
    written; `results` are detect's answers by path."""
    from latentlab.figures import save_figure
    from latentlab.figures.maps import explanation_figure

    Path(out).mkdir(parents=True, exist_ok=True)
    for i, (path, e) in enumerate(explained.items()):
        near = e.neighbours.get("pixel-knn")
        names = [None if near is None or near["label_name"] is None else near["label_name"][j]
                 for j in range(len(e.nearest_images))]
        fig = explanation_figure(pixels[i], e.reconstruction, e.map2d(), e.nearest_images,
                                 [] if near is None else near["distance"], names,
                                 title=explanation_title(results[path], e))
        print(save_figure(fig, Path(out) / f"{Path(path).stem}-explained.png"), file=sys.stderr)


def _detect_table(results: list[dict[str, Any]]) -> str:
    rows = [("image", "score", "threshold", "verdict", "what was done")]
    for r in results:
        if "error" in r:
            rows.append((r["path"], "-", "-", "not read (see below)", ""))
            continue
        verdict = VERDICTS[r["verdict"]].format(objects=r["objects"])
        rows.append((r["path"], f"{r['score']:.3f}", f"{r['threshold']:.3f}", verdict, "; ".join(r["steps"]) or "-"))
    return table(rows)
