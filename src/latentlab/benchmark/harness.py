"""`one_class(dataset, ...)`: the harness of the field's one-class novelty benchmark (Ruff et al. 2018; Golan &
El-Yaniv 2018).

For each class c: train the preset's model on the training images of c only, fit the default `NoveltyDetector` and
every single score that applies on those images, score the whole test set (c normal, every other class an anomaly)
and measure AUROC and AUPR with c positive; the raw-pixel 5-NN distance is measured on the same images as a
baseline, and published rows for the same data set are quoted beside (see `published`). The headline default is
the score chosen for the data set on a validation made of the training split alone (see `choice`). Means are over
the classes run. Each class is one `run_class` task (see `task`), submitted through `latentlab.runner.run_tasks`
(`jobs` classes at once in worker processes, or on a Dask `executor`).
"""

from __future__ import annotations

import json
import os
import platform
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from latentlab.benchmark import choice, tables
from latentlab.benchmark.published import FULL_PROTOCOL, family, published_rows
from latentlab.benchmark.task import KNN, KNN_K, STEPS, ClassTask, epochs_for, run_class
from latentlab.data import DATASETS, SAMPLES, ImageData, load_dataset
from latentlab.errors import ConfigError, DatasetError, RunError, choose
from latentlab.files import atomic_write_text
from latentlab.presets import PRESETS, preset_config
from latentlab.progress import say

FORMAT = 1
DEFAULT_PRESETS = {"fashion-mnist": "fashion-deep", "mnist": "mnist-deep"}  # by family: samples share them
OTHER_DATA_PRESET = "mnist-deep"  # the same dense deep autoencoder; only the preset's data set name differs
MIN_TRAIN = 100  # the detector holds out 20% of a class's images and needs at least 20 of them
_BUILTIN_SOURCES = ("data dir", "cache", "system copy", "downloaded")  # how resolve.py names a registered set's origin


def registered_name(data: ImageData) -> str | None:
    """`data.name` when it is the registered data set of that name (so published rows apply), else None: a user's
    ./mnist.npz is also named "mnist", but its source says it came from a file."""
    if data.name in SAMPLES and data.is_sample:
        return data.name
    if data.name in DATASETS and data.source.startswith(_BUILTIN_SOURCES):
        return data.name
    return None


def _labels(data: ImageData) -> tuple[np.ndarray, np.ndarray]:
    if data.y_train is None or data.y_test is None:
        raise DatasetError(f"dataset={data.name!r} has no labels ({data.source}); the one-class benchmark needs the "
                           "class of every image: use a folder of class_name/*.png or an .npz with y= (and y_test=)",
                           field="dataset", value=data.name)
    return data.y_train, data.y_test


def _check_classes(classes: Any, data: ImageData) -> list[int]:
    y_train, y_test = _labels(data)
    present = sorted(set(np.unique(y_train).tolist()) & set(np.unique(y_test).tolist()))
    if len(present) < 2:
        raise DatasetError(f"dataset={data.name!r} has {len(present)} class(es) in both its train and test splits; "
                           "the one-class benchmark needs at least two (one normal, the others anomalies)",
                           field="dataset", value=data.name)
    chosen = present if classes is None else list(dict.fromkeys(classes))
    names = ", ".join(f"{c} ({data.classes[c]})" for c in present)
    if not chosen or not all(isinstance(c, int | np.integer) and c in present for c in chosen):
        raise ConfigError(f"classes={classes!r} is invalid: choose among {names}", field="classes", value=classes,
                          allowed=tuple(present))
    for c in chosen:
        n = int((y_train == c).sum())
        if n < MIN_TRAIN:
            raise DatasetError(f"class {c} ({data.classes[c]}) of {data.name} has {n} training images; the detector "
                               f"needs at least {MIN_TRAIN}: add images or leave the class out with classes=",
                               field="classes", value=c)
    return [int(c) for c in chosen]


def _check_numbers(steps: int, seeds: Any, jobs: int) -> tuple[int, ...]:
    if not (isinstance(steps, int) and 1 <= steps <= 1_000_000):
        raise ConfigError(f"steps={steps!r} is invalid: optimizer steps per class, an integer in [1, 1000000]",
                          field="steps", value=steps)
    if not (isinstance(jobs, int) and jobs >= 1):
        raise ConfigError(f"jobs={jobs!r} is invalid: an integer >= 1", field="jobs", value=jobs)
    ok = isinstance(seeds, list | tuple | range) and len(seeds) > 0
    if not (ok and all(isinstance(s, int) and 0 <= s < 2**63 for s in seeds)):
        raise ConfigError(f"seeds={seeds!r} is invalid: a tuple of one or more seeds >= 0, e.g. (0,), or (0, 1, 2) "
                          "for three models per class", field="seeds", value=seeds)
    return tuple(seeds)


def machine_info(device: str) -> dict[str, Any]:
    """CPU model, cores, torch version, device and load at the start: the context every timing needs."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    if device.startswith("cuda"):
        device = f"{device} ({torch.cuda.get_device_name(torch.device(device))})"
    at_start = "unknown" if load is None else f"{load:.1f}"
    return {"cpu": cpu, "cores": os.cpu_count(), "torch": torch.__version__, "python": platform.python_version(),
            "device": device, "torch_threads": torch.get_num_threads(), "load_average_at_start": load,
            "note": f"load average {at_start} at the start; timings vary with other work on the machine"}


def _model_text(cfg: Any) -> str:
    m = cfg.model
    return f"{m.kind} {'-'.join(map(str, m.hidden)) or '-'} z={m.latent_dim}"


def _say(progress: bool, message: str) -> None:
    say(progress, message)


def one_class(dataset: str | Path | ImageData, preset: str | None = None, steps: int = STEPS,
              classes: list[int] | tuple[int, ...] | None = None, seeds: tuple[int, ...] = (0,),
              out: str | Path | None = None, data_dir: str | Path | None = None, progress: bool = True,
              jobs: int = 1, command: str = "", executor: Any = None, threads: int | None = None,
              score_choice: str = choice.SCORE_CHOICES[0]) -> dict[str, Any]:
    """Run the one-class benchmark: per class, train on that class only and score the whole test set.

    Parameters
    ----------
    dataset : str or Path or ImageData
        A registered name, a labelled folder or .npz, or images in memory.
    preset : str, optional
        The model (default: the dense deep autoencoder of the data set's family).
    steps : int, default STEPS
        Optimizer steps per class, rounded up to whole epochs.
    classes : list of int, optional
        The class numbers to run (default all).
    seeds : tuple of int, default (0,)
        One model per class and seed, scores averaged over seeds.
    out : str or Path, optional
        Also write one-class-DATASET.json, .md and .png there.
    data_dir : str or Path, optional
        Where the published data sets are.
    progress : bool, default True
        A progress bar and a line per class on stderr.
    jobs : int, default 1
        Classes at once in worker processes (1: here, in order).
    command : str, default ""
        Recorded as the command that made the result.
    executor : concurrent.futures.Executor or str, optional
        An Executor, a distributed.Client or "dask://HOST:PORT".
    threads : int, optional
        torch threads per task.
    score_choice : str, default "per-class"
        The headline default: "per-class", each class's candidate score (`choice.CANDIDATES`) with the best AUROC
        on a validation made of its training split (no test label is read); "data-set", the candidate with the
        best mean AUROC over the classes; "fixed", the detector's default.

    Returns
    -------
    dict
        Plain data: per class and score AUROC and AUPR (percent), the raw-pixel baseline, the published rows of
        the data set, the default's choice ("choice": the chosen score, every candidate's validation AUROC, the
        rule), settings, machine and wall time.

    Raises
    ------
    ConfigError
        Steps, seeds or jobs below 1, unknown classes, a data set without labels, an unknown `score_choice`.
    RunError
        Naming the classes that failed (run those again).
    """
    from latentlab.runner import run_tasks, summary
    from latentlab.training import resolve_device

    started = time.perf_counter()
    seeds = _check_numbers(steps, seeds, jobs)
    choose(choice.SCORE_CHOICES, score_choice, "score_choice")
    data = dataset if isinstance(dataset, ImageData) else load_dataset(str(dataset), data_dir=data_dir,
                                                                       progress=progress)
    chosen = _check_classes(classes, data)
    name = registered_name(data) if isinstance(dataset, ImageData) else (
        str(dataset) if str(dataset) in (*DATASETS, *SAMPLES) else None)
    preset = preset or DEFAULT_PRESETS.get(family(name or "") or "", OTHER_DATA_PRESET)
    choose(PRESETS, preset, "preset")
    cfg = preset_config(preset, "full")
    machine = machine_info(str(resolve_device(cfg.train.device)))
    y_train, y_test = _labels(data)
    others = {c: choice.other_class_images(data.x_train, y_train, c) if score_choice != "fixed" else None
              for c in chosen}
    tasks = [ClassTask(c, data.classes[c], data.x_train[y_train == c], data.x_test, y_test == c, cfg, steps, seeds,
                       x_others=others[c]) for c in chosen]
    outcomes = run_tasks(run_class, tasks, jobs=jobs, executor=executor, threads=threads, progress=progress,
                         desc=f"one-class {data.name}", label=lambda t: f"class {t.label} ({t.name})",
                         cost=lambda t: len(t.x_train))
    if not all(o.ok for o in outcomes):
        raise RunError(f"the one-class benchmark on {data.name} did not finish: {summary(outcomes, 'classes')}")
    results = [o.result for o in outcomes]
    result = _summarise(data, name, cfg, preset, steps, chosen, seeds, jobs, results, machine)
    result["choice"] = picked = choice.choose(results, score_choice)
    for r, key, score in zip(results, tables.chosen_keys(result), picked["per_class"], strict=True):
        ours, knn = r["scores"][key]["auroc"], r["baselines"][KNN]["auroc"]  # the headline row's, class by class
        _say(progress, f"class {r['class']} ({r['name']}): default ({score}) AUROC {ours:.3f}, raw-pixel "
                       f"{KNN_K}-NN {knn:.3f}  ({r['n_train']} images, {r['epochs']} epochs, {r['wall_s']:.0f} s)")
    result["request"]["score_choice"] = score_choice
    result["protocol"] += " The headline default: " + (picked["rule"] if picked["fallback"] is None else
                                                       f"{picked['chosen']} ({picked['fallback']}).")
    _say(progress, f"default chosen on the training split: {', '.join(dict.fromkeys(picked['per_class']))}"
         if picked["fallback"] is None else f"default: {picked['chosen']} ({picked['fallback']})")
    result["wall_s"] = time.perf_counter() - started
    result["command"] = command or f"latentlab.benchmark.one_class({data.name!r}, classes={chosen}, steps={steps})"
    if out is not None:
        result["files"] = write_result(result, out)
    return result


def _summarise(data: ImageData, name: str | None, cfg: Any, preset: str, steps: int, chosen: list[int],
               seeds: tuple[int, ...], jobs: int, results: list[dict[str, Any]],
               machine: dict[str, Any]) -> dict[str, Any]:
    keys = list(results[0]["scores"])
    mean = {k: {m: float(np.mean([r["scores"][k][m] for r in results])) for m in ("auroc", "aupr")} for k in keys}
    mean[KNN] = {m: float(np.mean([r["baselines"][KNN][m] for r in results])) for m in ("auroc", "aupr")}
    n_train = {r["name"]: r["n_train"] for r in results}
    published = [{"method": p.method, "dataset": p.dataset, "per_class": None if p.per_class is None else
                  list(p.per_class), "mean": p.mean, "source": p.source, "reported_in": p.reported_in,
                  "notes": p.notes, "hindsight": p.hindsight, "citation": p.citation()}
                 for p in published_rows(name or "")]
    batch = cfg.train.batch_size
    return {
        "benchmark": "one-class", "format": FORMAT, "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "request": {"dataset": data.name, "preset": preset, "steps": steps, "classes": chosen, "seeds": list(seeds)},
        "dataset": {"name": data.name, "source": data.source, "is_sample": data.is_sample,
                    "classes": list(data.classes), "n_train_per_class": n_train, "n_test": len(data.x_test)},
        "settings": {"preset": preset, "model": _model_text(cfg), "batch_size": batch, "lr": cfg.train.lr,
                     "steps": steps, "epochs_rule": f"epochs = ceil({steps} / ceil(n / {batch})), e.g. "
                     f"{epochs_for(steps, 6000, batch)} for 6,000 images, {epochs_for(steps, 850, batch)} for 850",
                     "seeds": list(seeds), "classes": chosen, "default_score": results[0]["default_score"],
                     "scores": keys, "knn_k": KNN_K, "jobs": jobs,
                     "ran": "here, in order" if jobs == 1 else "as runner tasks"},
        "units": "AUROC and AUPR of this run as fractions in [0, 1]; published rows in percent, as printed",
        "protocol": (f"Each class: a model trained on that class's training images only ({_span(n_train)} here), "
                     f"the whole {len(data.x_test):,}-image test set scored, the class normal and the others "
                     "anomalies; AUROC and AUPR (scikit-learn) with the normal class positive; "
                     + (f"means over the {len(chosen)} classes run." if len(chosen) != 1 else "one class run.")),
        "published_note": (f"Published rows are quoted from the papers, never computed here; they used "
                           f"{FULL_PROTOCOL}" + ("" if not data.is_sample else f", this sample "
                           f"{_span(n_train)} per class and "
                           f"{len(data.x_test):,} test images") + "; differences under about one point per class "
                           "are within run-to-run noise."),
        "results": results, "mean": mean, "published": published, "machine": machine,
    }


def _span(counts: dict[Any, int]) -> str:
    lo, hi = min(counts.values()), max(counts.values())
    return f"{lo:,}" if lo == hi else f"{lo:,}-{hi:,}"


def file_stem(dataset_name: str) -> str:
    """one-class-<data set name>, made safe as a file name."""
    return "one-class-" + re.sub(r"[^A-Za-z0-9._-]+", "_", dataset_name)


def write_result(result: dict[str, Any], out: str | Path) -> dict[str, str]:
    """Write <stem>.json, <stem>.md and <stem>.png (the per-class AUROC chart) into `out`; returns their paths."""
    from latentlab.figures import save_figure
    from latentlab.figures.benchmark import one_class_figure

    out = Path(out)
    stem = file_stem(result["dataset"]["name"])
    paths = {kind: out / f"{stem}.{kind}" for kind in ("json", "md", "png")}
    groups, series, quoted = tables.figure_series(result)
    title = f"One-class novelty detection on {result['dataset']['name']}: AUROC per normal class"
    save_figure(one_class_figure(groups, series, title=title, quoted=quoted), paths["png"])
    atomic_write_text(paths["md"], tables.markdown(result))
    files = {k: str(p) for k, p in paths.items()}
    atomic_write_text(paths["json"], json.dumps({**result, "files": files}, indent=2, allow_nan=False) + "\n")
    return files
