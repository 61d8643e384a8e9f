"""Independent tasks (trainings, evaluations) on an Executor: a local process pool by default, Dask on a cluster.

`run_tasks(fn, tasks, jobs=...)` is the one entry point: the report, the sweep and the benchmarks submit their
per-run work through it. A task is a picklable value and `fn` a module's top-level function; `dataset` loads a
data set once per worker process, so a task can carry a data set's name instead of its arrays.
`sweep(preset, grid, seeds=...)` is imported on first use (it brings torch); its module is `sweeps`, a name of
its own, because importing a submodule named `sweep` would rebind `latentlab.runner.sweep` to the module.
"""

from __future__ import annotations

from typing import Any

from latentlab.runner.executors import THREADS_PER_JOB, default_jobs
from latentlab.runner.pool import Outcome, check_workers, run_tasks, summary
from latentlab.runner.worker import dataset

__all__ = ["THREADS_PER_JOB", "Outcome", "check_workers", "dataset", "default_jobs", "run_tasks", "summary", "sweep"]


def __getattr__(name: str) -> Any:
    if name == "sweep":
        from latentlab.runner.sweeps import sweep

        return sweep
    raise AttributeError(f"module 'latentlab.runner' has no attribute {name!r}")
