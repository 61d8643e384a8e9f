"""One experiment of the report as a task for `latentlab.runner`: train (or reuse) its run, measure it, draw it.

A task is small and picklable (a config, paths and the data set's name); the worker that runs it loads the data
itself, once per process. Everything it makes is written into its own run directory and the figures folder
(atomically, file by file), and what the page needs comes back as plain values.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from latentlab.analysis.evaluate import compute_metrics, current_metrics, write_metrics
from latentlab.config import RunConfig
from latentlab.data import ImageData
from latentlab.figures import from_runs as plots
from latentlab.figures import save_figure
from latentlab.progress import say
from latentlab.runner import dataset
from latentlab.runs import Run, load_run
from latentlab.training.reuse import ensure_run

DECODE_AT = (-1.0, 3.0)


@dataclass(frozen=True)
class RunTask:
    """What a worker needs to make one experiment of the report."""

    preset: str
    cfg: RunConfig
    run_dir: Path
    fig_dir: Path
    data_name: str
    data_dir: str | None
    iwae_k: int
    progress: bool  # per-epoch and per-stage lines; only when the tasks run one after another, here
    header: str = ""  # the line that names the experiment, printed (with progress) before its own epoch lines

    def __str__(self) -> str:
        return self.preset


def run_experiment(task: RunTask) -> dict[str, Any]:
    """Train or reuse `task`'s run, then its metrics and figures; returns how it was made, the training seconds,
    the metrics and the figures' (kind, path)."""
    say(bool(task.progress and task.header), task.header or "")
    data = dataset(task.data_name, task.data_dir)
    how, train_s = ensure_run(task.cfg, task.run_dir, data, task.progress)
    run = load_run(task.run_dir)
    metrics = _metrics(run, data, how, task.iwae_k, task.progress)
    # Without a membership check (too few training images for a detector) there is nothing to explain.
    skip = ("explain",) if metrics.get("membership_skipped") or not metrics.get("membership") else ()
    return {"how": how, "train_s": train_s, "metrics": metrics, "figures": _figures(run, data, task, skip)}


def _metrics(run: Run, data: ImageData, how: str, iwae_k: int, progress: bool) -> dict[str, Any]:
    metrics = current_metrics(run) if how == "reused" else None
    if metrics is not None:
        return metrics
    metrics = compute_metrics(run, data, iwae_k=iwae_k, progress=progress)
    write_metrics(run.path, metrics)
    return metrics


def _figures(run: Run, data: ImageData, task: RunTask, skip: tuple[str, ...] = ()) -> list[tuple[str, Path]]:
    out = []
    for kind in (k for k in plots.figures_for(run) if k not in skip):
        options = {"point": DECODE_AT} if kind == "point" else {}
        fig = plots.make(kind, run, data, **options)
        out.append((kind, save_figure(fig, task.fig_dir / f"{task.preset}-{kind}.png")))
    return out
