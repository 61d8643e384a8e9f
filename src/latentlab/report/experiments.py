"""`latentlab report`: train (or reuse) every seed experiment, measure it, and write one self-contained HTML page."""

from __future__ import annotations

import base64
import html
import json
import time
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from latentlab.benchmark import STEPS
from latentlab.config import check_count, override
from latentlab.data import DatasetError, ImageData, load_dataset
from latentlab.errors import ConfigError, RunError
from latentlab.files import atomic_write_text
from latentlab.presets import preset_config
from latentlab.progress import say
from latentlab.report.family import FAMILY, FAMILY_DATA, family_parts
from latentlab.report.family_html import family_html
from latentlab.report.html import render_page
from latentlab.report.tasks import RunTask, run_experiment
from latentlab.runner import check_workers, dataset, default_jobs, run_tasks
from latentlab.runs import META, load_run, read_json, versions
from latentlab.training import shape_from_data


@dataclass(frozen=True)
class Section:
    number: str
    title: str
    preset: str
    intro: str
    profiles: tuple[str, ...] = ("quick", "full")  # the profiles that include it (naming its preset always does)
    fallback: str = ""  # the set used when the preset's is not on disk; default: its bundled sample
    download: bool = True  # False: never download the preset's data set for the report


SECTIONS = (
    Section("1.1", "A simple autoencoder", "mnist-simple",
            "One hidden layer of 32 units between 784 inputs and 784 outputs: each digit squeezed into 32 numbers."),
    Section("1.2", "A deep autoencoder", "mnist-deep",
            "Three layers each way (784-128-64-32-64-128-784): the same 32-number code, reached in steps."),
    Section("1.3", "A denoising autoencoder", "mnist-denoise",
            "Trained on digits with Gaussian noise (factor 0.5) added, to give back the clean digit. Rows: original, "
            "noisy, the 32-number code drawn as a small image, decoded."),
    Section("1.4", "A variational autoencoder", "mnist-vae",
            "A VAE with a 2-D latent space: each digit becomes a distribution over the plane, and every point of "
            "the plane decodes to an image."),
    Section("1.5", "A convolutional autoencoder (beyond the seed)", "mnist-conv",
            "Stride-2 convolutions down to a 32-number code and transposed convolutions back up."),
    Section("2", "The same VAE on Fashion-MNIST", "fashion-vae",
            "The pipeline of 1.4, unchanged, on ten classes of clothing."),
    Section("4", "A convolutional autoencoder on colour images", "cifar10-conv",
            "The same kind of model on 32x32 colour photographs, with a squared-error loss: CIFAR-10 when it is on "
            "this machine, else 32x32 tiles of two photographs (photo-tiles, built offline).",
            profiles=("full",), fallback="photo-tiles", download=False),
)
"""The report's sections in page order: number, title, the preset it trains, its introduction on the page."""
DECODE_AT = (-1.0, 3.0)
# The one-class benchmark's section: all ten classes in the full profile, the two hardest to tell apart (T-shirt
# and shirt) in the quick one, on Fashion-MNIST or its bundled sample. `--presets one-class` selects it alone.
BENCHMARK = "one-class"
BENCHMARK_DATA = "fashion-mnist"
BENCHMARK_CLASSES = {"quick": (0, 6), "full": None}
BENCHMARK_STEPS = STEPS


def sections_for(profile: str, presets: list[str] | None = None) -> list[Section]:
    """The sections a report of `profile` holds (the colour section is in "full" only), or those of `presets`."""
    wanted = set(presets) if presets else None
    sections = [s for s in SECTIONS if (s.preset in wanted if wanted else profile in s.profiles)]
    if wanted and not sections and not wanted & {BENCHMARK, FAMILY}:
        raise ConfigError(f"presets={sorted(wanted)}: none is in the report; choose from "
                          f"{', '.join(s.preset for s in SECTIONS)}, {BENCHMARK}, {FAMILY}",
                          field="presets", value=sorted(wanted))
    return sections


def resolve_data(name: str, data_dir: str | Path | None, progress: bool, fallback: str = "",
                 download: bool = True) -> tuple[ImageData, str | None]:
    """The dataset, or `fallback` (default its bundled sample) when it cannot be found or downloaded (and why)."""
    try:
        if not download:
            return load_dataset(name, data_dir=data_dir, progress=progress, download=False), None
        return dataset(name, data_dir, progress), None
    except DatasetError as exc:
        sample = fallback or f"{name}-sample"
        try:
            data = dataset(sample, None, progress)
        except DatasetError:
            raise exc from None
        return data, (f"The full {name} could not be found on this machine nor downloaded, so the bundled {sample} "
                      f"was used; `latentlab datasets` shows where datasets are looked for.")


def build_report(out: str | Path = "report", profile: str = "quick", *, presets: list[str] | None = None,
                 data_dir: str | Path | None = None, overrides: dict[str, Any] | None = None, iwae_k: int = 100,
                 progress: bool = True, command: str = "", jobs: int | None = None,
                 executor: Executor | str | Any | None = None, threads: int | None = None) -> Path:
    """Reproduce the seed report: every experiment trained (or reused), measured and drawn into one HTML page.

    Each experiment (training, metrics, figures) is a task of `latentlab.runner.run_tasks`. An experiment that
    fails is listed on the page and under "failed" in metrics.json with its error, and the others go on; running
    the same call again reuses finished runs and resumes or redoes the rest.

    Parameters
    ----------
    out : str or Path, default "report"
        The output folder: index.html, figures/, runs/, metrics.json.
    profile : str, default "quick"
        "quick" (minutes) or "full" (the published epochs).
    presets : list of str, optional
        Only these experiments (preset names, "one-class" for the one-class benchmark, "family" for the VAE
        family or "family:PART,PART" for some of it, `report.family.PARTS`).
    data_dir : str or Path, optional
        Where the published data sets are (as `load_dataset`).
    overrides : dict, optional
        Dotted config fields set in every experiment, e.g. {"train.epochs": 1}; "dataset" also picks the family
        section's data set (default MNIST).
    iwae_k : int, default 100
        Importance samples per image for the VAEs' IWAE bound.
    progress : bool, default True
        Progress bars and a line per experiment on stderr.
    command : str, default ""
        Shown on the page as the command that made it.
    jobs : int, optional
        Experiments at once in local worker processes (1: here, one after another; default `default_jobs()`).
    executor : concurrent.futures.Executor or str, optional
        An Executor, a distributed.Client or "dask://HOST:PORT" instead of local workers.
    threads : int, optional
        torch threads per task (the same count gives the same numbers, bit for bit).

    Returns
    -------
    Path
        The page, out/index.html.

    Raises
    ------
    ConfigError
        jobs, threads or iwae_k below 1, a data_dir that is not a folder, an unknown preset or override.
    """
    check_workers(jobs, threads)
    check_count("iwae_k", iwae_k, "samples per image for the IWAE bound, at least 1")
    if data_dir is not None and not Path(data_dir).is_dir():
        # Checked here: a missing folder would otherwise send every experiment to its bundled sample, silently.
        raise ConfigError(f"data_dir={str(data_dir)!r}: no such folder; pass a folder holding the data sets, or "
                          "leave it out to use LATENTLAB_DATA, the cache and the bundled samples",
                          field="data_dir", value=str(data_dir))
    out = Path(out)
    runs_dir, fig_dir = out / "runs", out / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    presets, family_members = family_parts(presets)
    wanted = set(presets) if presets else None
    sections = sections_for(profile, presets)
    started = time.perf_counter()
    here = executor is None and (jobs or default_jobs()) == 1  # only then may a task print its own progress
    resolved: dict[str, tuple[ImageData, str | None]] = {}
    tasks, sources = [], []
    for section in sections:
        cfg = preset_config(section.preset, profile)
        if overrides:
            cfg = override(cfg, overrides)
        if cfg.dataset not in resolved:
            resolved[cfg.dataset] = resolve_data(cfg.dataset, data_dir, progress, section.fallback, section.download)
        data, fallback = resolved[cfg.dataset]
        cfg = shape_from_data(cfg, data.x_train)[0]  # the model built for the data's shape
        header = f"[{section.number}] {section.preset} on {data.name} ({data.source})"
        if not here:  # in workers, the plan up front; here, each experiment's line heads its own epoch lines
            _say(progress, header)
        sources.append((data, fallback))
        tasks.append(RunTask(section.preset, replace(cfg, dataset=data.ref), runs_dir / section.preset, fig_dir,
                             data.ref, None if fallback or data_dir is None else str(data_dir), iwae_k,
                             progress and here, header))
    outcomes = run_tasks(run_experiment, tasks, jobs=jobs, executor=executor, threads=threads, progress=progress,
                         desc="report", cost=lambda t: _cost(t, resolved))
    parts: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for section, task, (data, fallback), outcome in zip(sections, tasks, sources, outcomes, strict=True):
        if outcome.ok:
            parts.append({"section": section, "run": load_run(task.run_dir), "data": data, "fallback": fallback,
                          **outcome.result})
        else:
            failed.append({"section": section, "preset": section.preset, "error": outcome.why,
                           "status": _status(task.run_dir)})
    bench = None
    if wanted is None or BENCHMARK in wanted:
        if BENCHMARK_DATA not in resolved:
            resolved[BENCHMARK_DATA] = resolve_data(BENCHMARK_DATA, data_dir, progress)
        # Its classes go through the runner too (`jobs` at once): run here, one after another, they were a
        # quarter of the quick report's time whatever --jobs said (measured: 110 of 572 s, two classes).
        bench = one_class_section(*resolved[BENCHMARK_DATA], BENCHMARK_CLASSES[profile], out / "benchmark",
                                  progress, jobs=jobs, executor=executor, threads=threads)
    family = None
    if wanted is not None and FAMILY in wanted:  # never in the default report: its own time budget
        from latentlab.report.family import family_section

        # The family's data set is MNIST unless --dataset (or --set dataset=...) names another; the members' configs
        # take the resolved set's name (its bundled sample when the full set is missing), so it leaves `overrides`.
        family_data = str((overrides or {}).get("dataset", FAMILY_DATA))
        if family_data not in resolved:
            resolved[family_data] = resolve_data(family_data, data_dir, progress)
        rest = {k: v for k, v in (overrides or {}).items() if k != "dataset"}
        family = family_section(*resolved[family_data], out / FAMILY, profile, iwae_k, progress=progress,
                                overrides=rest or None, parts=family_members)
    total_s = time.perf_counter() - started
    env = {"versions": versions(), "profile": profile, "created": datetime.now(UTC).isoformat(timespec="seconds"),
           "total_s": total_s, "command": command or f"latentlab.build_report(profile={profile!r})"}
    family_part = family_html(family, _embed) if family else ""
    page = render_page(parts, env, _embed, failed, benchmark=bench, family=family, family_section=family_part)
    atomic_write_text(out / "index.html", page)
    summary: dict[str, Any] = {"environment": env, "runs": {p["run"].name: p["metrics"] for p in parts},
                               "failed": {f["preset"]: {"error": f["error"], "status": f["status"]} for f in failed}}
    if bench:
        r = bench["result"]
        summary["benchmarks"] = {BENCHMARK: {"dataset": r["dataset"]["name"], "classes": r["settings"]["classes"],
                                             "mean": r["mean"], "json": str(bench["figure"].with_suffix(".json"))}}
    if family:
        summary["family"] = {"json": str(out / FAMILY / "family.json"), "rows": family["rows"]}
    atomic_write_text(out / "metrics.json", json.dumps(summary, indent=2, allow_nan=False) + "\n")
    _say(progress, f"report written to {out / 'index.html'} in {total_s:.0f} s"
         + (f"; {len(failed)} of {len(sections)} experiments failed (listed on the page)" if failed else ""))
    return out / "index.html"


def one_class_section(data: ImageData, fallback: str | None, classes: tuple[int, ...] | None, out: Path,
                      progress: bool, jobs: int | None = None, executor: Executor | str | Any | None = None,
                      threads: int | None = None) -> dict[str, Any]:
    """Run the one-class benchmark into `out`, or reuse its earlier result for the same data, classes and steps;
    `jobs`, `executor` and `threads` are `run_tasks`'s (default jobs: `default_jobs()`)."""
    from latentlab.benchmark.harness import file_stem, one_class

    chosen = list(classes) if classes else list(range(len(data.classes)))
    path = out / (file_stem(data.name) + ".json")
    want = {"dataset": data.name, "steps": BENCHMARK_STEPS, "classes": chosen, "seeds": [0]}
    try:
        old = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, json.JSONDecodeError):
        old = {}
    request = old.get("request", {})
    if {k: request.get(k) for k in want} == want and path.with_suffix(".png").is_file():
        _say(progress, f"[{BENCHMARK}] reusing {path}")
        return {"result": old, "fallback": fallback, "figure": path.with_suffix(".png"), "how": "reused"}
    _say(progress, f"[{BENCHMARK}] one-class benchmark on {data.name}, classes {chosen}")
    result = one_class(data, steps=BENCHMARK_STEPS, classes=classes, out=out, progress=progress,
                       command=f"latentlab report (one-class benchmark, classes {chosen})",
                       jobs=jobs or default_jobs(), executor=executor, threads=threads)
    return {"result": result, "fallback": fallback, "figure": Path(result["files"]["png"]), "how": "ran"}


def _cost(task: RunTask, resolved: dict[str, tuple[ImageData, str | None]]) -> float:
    """A rough guess of an experiment's time (images seen in training, conv and VAE models weighing more), so a
    pool starts the longest first (Fashion-VAE, on the full set) instead of last."""
    data = next(d for d, _ in resolved.values() if d.ref == task.data_name)
    return task.cfg.train.epochs * len(data.x_train) * {"conv": 4.0, "vae": 2.0}.get(task.cfg.model.kind, 1.0)


def _status(run_dir: Path) -> str | None:
    """A failed run's meta.json status ("running", "interrupted"), or None when it saved nothing."""
    try:
        return read_json(run_dir / META).get("status")
    except RunError:
        return None


def _embed(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def _say(progress: bool, msg: str) -> None:
    say(progress, html.unescape(msg))
