"""`sweep(preset, grid, seeds=3)`: a grid of config values x seeds, each trained into its own run directory as a
task of `run_tasks`, then one table: per grid point, the mean and spread over seeds of the final validation loss
and of the training time (sweep.md and sweep.json beside the runs).

Runs are reused when they finished with the same config, and resumed when they were interrupted, so a sweep
that stopped (or lost a task) is completed by running it again.
"""

from __future__ import annotations

import itertools
import json
import re
import statistics
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from latentlab.config import RunConfig, override
from latentlab.errors import ConfigError
from latentlab.files import atomic_write_text
from latentlab.presets import preset_config
from latentlab.runner.pool import run_tasks
from latentlab.runner.worker import dataset
from latentlab.runs import META, load_run, read_history, read_json
from latentlab.training import check_config
from latentlab.training.reuse import ensure_run

TABLE_MD, TABLE_JSON = "sweep.md", "sweep.json"


@dataclass(frozen=True)
class SweepTask:
    """One training of a sweep: the grid point's config with one seed."""

    point: tuple[tuple[str, Any], ...]
    seed: int
    cfg: RunConfig
    run_dir: Path
    data_name: str
    data_dir: str | None
    metrics: bool

    def __str__(self) -> str:
        return self.run_dir.name


def train_point(task: SweepTask) -> dict[str, Any]:
    """Train (or reuse) `task`'s run; returns its final and best validation loss, training seconds and epochs, and
    with `task.metrics` the test split's reconstruction metrics."""
    data = dataset(task.data_name, task.data_dir)
    how, _ = ensure_run(task.cfg, task.run_dir, data, progress=False)
    history = read_history(task.run_dir)
    watched = [(r["val"] or r["train"])["loss"] for r in history]
    out = {"how": how, "val_loss": watched[-1], "best_val_loss": min(watched), "epochs": len(history),
           "train_s": read_json(task.run_dir / META).get("train_time_s"), "units": history[-1]["units"]}
    if task.metrics:
        from latentlab.analysis.evaluate import reconstruction_metrics

        out["test"] = reconstruction_metrics(load_run(task.run_dir).model, data.x_test)
    return out


def sweep(preset: str, grid: dict[str, Sequence[Any]], *, seeds: int = 3, epochs: int | None = None,
          profile: str = "quick", out: str | Path | None = None, dataset_name: str | None = None,
          data_dir: str | Path | None = None, overrides: dict[str, Any] | None = None, metrics: bool = False,
          jobs: int | None = None, executor: Executor | str | Any | None = None, threads: int | None = None,
          progress: bool = True) -> dict[str, Any]:
    """Train a preset at every combination of a grid of config values, with several seeds, and tabulate the results.

    Writes out/sweep.md and sweep.json (default out: sweeps/PRESET), and each training's run directory under
    out/runs/.

    Parameters
    ----------
    preset : str
        A preset's name.
    grid : dict
        Dotted config field -> its values, e.g. {"train.lr": [1e-3, 3e-3]}; every combination is trained.
    seeds : int, default 3
        Seeds per grid point: train.seed, train.seed + 1, ...
    epochs : int, optional
        Epochs of every run (default: the profile's).
    profile : str, default "quick"
        The preset's epoch budget.
    out : str or Path, optional
        The output folder.
    dataset_name : str, optional
        A data set's name or path instead of the preset's.
    data_dir : str or Path, optional
        Where the published data sets are.
    overrides : dict, optional
        Dotted config fields fixed for every run.
    metrics : bool, default False
        Also measure each run's test PSNR and SSIM.
    jobs, executor, threads
        As `run_tasks`.
    progress : bool, default True
        Progress lines on stderr.

    Returns
    -------
    dict
        The JSON table: one row per grid point with the mean and standard deviation over the seeds that finished
        (final and best validation loss, training time), and the error of each that failed.

    Raises
    ------
    ConfigError
        seeds below 1, an unknown field or value in the grid.
    """
    base = preset_config(preset, profile)
    fixed = dict(overrides or {})
    if epochs is not None:
        fixed["train.epochs"] = epochs
    if dataset_name is not None:
        fixed["dataset"] = dataset_name
    base = override(base, fixed) if fixed else base
    if not isinstance(seeds, int) or seeds < 1:
        raise ConfigError(f"seeds={seeds!r} is invalid: the number of seeds per grid point, at least 1",
                          field="seeds", value=seeds)
    points = grid_points(grid)
    out = Path(out) if out is not None else Path("sweeps") / preset
    data = dataset(base.dataset, data_dir, progress)  # download and verify once, here, before any worker
    tasks = []
    for point in points:
        for k in range(seeds):
            seed = base.train.seed + k
            cfg = check_config(override(base, {**dict(point), "train.seed": seed}))
            name = "_".join([*(f"{key.rsplit('.', 1)[-1]}={_short(v)}" for key, v in point), f"seed={seed}"])
            tasks.append(SweepTask(point, seed, cfg, out / "runs" / name, base.dataset,  # a name or a path
                                   None if data_dir is None else str(data_dir), metrics))
    outcomes = run_tasks(train_point, tasks, jobs=jobs, executor=executor, threads=threads, progress=progress,
                         desc="sweep")
    table = {"preset": preset, "profile": profile, "dataset": data.name, "data_source": data.source,
             "epochs": base.train.epochs, "grid": {k: list(v) for k, v in grid.items()}, "seeds": seeds,
             "overrides": fixed, "rows": []}
    for point in points:
        mine = [o for o in outcomes if o.task.point == point]
        table["rows"].append(_row(point, mine))
    atomic_write_text(out / TABLE_JSON, json.dumps(table, indent=2, allow_nan=False) + "\n")
    atomic_write_text(out / TABLE_MD, markdown(table))
    return table


def grid_points(grid: dict[str, Sequence[Any]]) -> list[tuple[tuple[str, Any], ...]]:
    """Every combination of the grid's values, in the order given: [(("train.lr", 0.001), ...), ...]."""
    if not grid:
        raise ConfigError("grid is empty: give at least one field and its values, e.g. {'train.lr': [1e-3, 3e-3]}",
                          field="grid", value=grid)
    for key, values in grid.items():
        if key == "train.seed":
            raise ConfigError("grid sets train.seed: the seeds come from seeds=N; grid other fields",
                              field="grid", value=key, related=("seeds",))
        if isinstance(values, str | bytes) or not isinstance(values, Sequence) or not values:
            raise ConfigError(f"grid[{key!r}]={values!r} is invalid: a non-empty list of values",
                              field="grid", value=values)
    keys = list(grid)
    return [tuple(zip(keys, combo, strict=True)) for combo in itertools.product(*(grid[k] for k in keys))]


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return re.sub(r"[^\w.+-]+", "-", text).strip("-") or "x"


def _stats(values: list[float]) -> dict[str, Any]:
    return {"mean": statistics.fmean(values) if values else None,
            "std": statistics.stdev(values) if len(values) > 1 else None, "values": values}


def _row(point: tuple[tuple[str, Any], ...], outcomes: list[Any]) -> dict[str, Any]:
    done = [o for o in outcomes if o.ok]
    row: dict[str, Any] = {
        "params": dict(point), "runs": [str(o.task.run_dir) for o in outcomes], "finished": len(done),
        "val_loss": _stats([o.result["val_loss"] for o in done]),
        "best_val_loss": _stats([o.result["best_val_loss"] for o in done]),
        "train_s": _stats([o.result["train_s"] for o in done if o.result["train_s"] is not None]),
        "units": done[0].result["units"] if done else None,
        "failed": [{"seed": o.task.seed, "error": o.why} for o in outcomes if not o.ok],
    }
    if done and "test" in done[0].result:
        for key in ("psnr_db", "ssim"):  # its BCE is the final validation loss: validation is the test split
            row[f"test_{key}"] = _stats([o.result["test"][key] for o in done if o.result["test"][key] is not None])
    return row


def _pm(stats: dict[str, Any], digits: str) -> str:
    if stats["mean"] is None:
        return "–"
    text = format(stats["mean"], digits)
    return text + (f" ± {format(stats['std'], digits)}" if stats["std"] is not None else "")


def markdown(table: dict[str, Any]) -> str:
    """The sweep's table in Markdown: a row per grid point, mean ± standard deviation over seeds."""
    keys = list(table["grid"])
    extra = {k: v for k, v in (("test_psnr_db", "test PSNR (dB)"), ("test_ssim", "test SSIM"))
             if any(k in row for row in table["rows"])}
    head = [*keys, "seeds done", "final val loss", "best val loss", "training s", *extra.values(), "failed"]
    epochs, seeds = table["epochs"], table["seeds"]
    lines = [f"# Sweep of {table['preset']} on {table['dataset']} ({epochs} epoch{'s' * (epochs != 1)}, {seeds} "
             f"seed{'s' * (seeds != 1)} per point)",
             "", "| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for row in table["rows"]:
        cells = [json.dumps(row["params"][k]) for k in keys]
        cells += [f"{row['finished']}/{row['finished'] + len(row['failed'])}", _pm(row["val_loss"], ".4g"),
                  _pm(row["best_val_loss"], ".4g"), _pm(row["train_s"], ".1f")]
        cells += [_pm(row.get(k, {"mean": None}), ".4g") for k in extra]
        cells.append("; ".join(f"seed {f['seed']}: {f['error']}" for f in row["failed"]).replace("|", "/") or "–")
        lines.append("| " + " | ".join(cells) + " |")
    units = next((r["units"] for r in table["rows"] if r["units"]), None)
    lines += ["", f"Losses in {units}; mean ± standard deviation over the seeds that finished." if units
              else "No run finished."]
    return "\n".join(lines) + "\n"
