"""`--jobs 2` against `--jobs 1`, side by side: the quick report and the one-class benchmark, as the CLI runs them,
each into its own temporary folder, with the wall time and the peak RSS of every process (see procmem).

Variants of one command alternate their order from one repetition to the next, so a machine that slows down
under sustained load does not favour whichever ran first. The one-class benchmark adds `--jobs 1 --threads 1`:
`--jobs 1` keeps torch's own thread count (2 on a 2-core machine) while `--jobs 2` gives each worker
cores // 2 = 1, so that third variant tells how much of the ratio is the second core and how much the threads.
`report-full` (`full()`) is `latentlab report --profile full` once, end to end, measured the same way, at full size
(`full_size_mnist`): where full MNIST is not on the machine, a stand-in of its size takes its place.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench import procmem

ROOT = Path(__file__).resolve().parent.parent
LATENTLAB = [sys.executable, "-m", "latentlab"]
JOBS_1, JOBS_2, THREADS_1 = "jobs 1", "jobs 2", "jobs 1, threads 1"


@dataclass(frozen=True)
class Case:
    """One command of the section and its variants (label -> extra arguments); `first` / `second` name the two
    whose wall-time ratio is the result (first's time over second's: > 1 when second is faster)."""

    name: str
    args: tuple[str, ...]
    variants: dict[str, tuple[str, ...]]
    first: str = JOBS_1
    second: str = JOBS_2


def report_case(profile: str = "quick", extra: tuple[str, ...] = ()) -> Case:
    return Case(f"latentlab report --profile {profile}", ("report", "--profile", profile, "--quiet", *extra),
                {JOBS_1: ("--jobs", "1"), JOBS_2: ("--jobs", "2")})


def one_class_case(classes: tuple[int, ...], dataset: str = "fashion-mnist", extra: tuple[str, ...] = (),
                   threads_variant: bool = True) -> Case:
    variants = {JOBS_1: ("--jobs", "1"), JOBS_2: ("--jobs", "2")}
    if threads_variant:
        variants[THREADS_1] = ("--jobs", "1", "--threads", "1")
    return Case(f"latentlab benchmark one-class --dataset {dataset} --classes {','.join(map(str, classes))}",
                ("benchmark", "one-class", "--dataset", dataset, "--classes", ",".join(map(str, classes)),
                 "--quiet", *extra), variants)


def measure(case: Case, reps: int = 1, timeout_s: float = 1800.0) -> dict[str, Any]:
    """Every variant of `case` `reps` times, order alternated; per variant the wall times and per-process peaks."""
    runs: dict[str, list[dict[str, Any]]] = {label: [] for label in case.variants}
    labels = list(case.variants)
    for rep in range(reps):
        for label in labels if rep % 2 == 0 else labels[::-1]:
            runs[label].append(_once(case, case.variants[label], timeout_s))
    out: dict[str, Any] = {"command": case.name, "reps": reps, "order": "alternated" if reps > 1 else "as listed",
                           "variants": {}}
    for label, results in runs.items():
        walls = [r["wall_s"] for r in results]
        out["variants"][label] = {
            "args": " ".join(case.variants[label]), "wall_s": walls, "median_wall_s": statistics.median(walls),
            "status": ", ".join(sorted({r["status"] for r in results})),
            "parent_peak_rss_mib": max(r["parent_peak_rss_mib"] for r in results),
            "max_worker_peak_rss_mib": max((r["max_worker_peak_rss_mib"] or 0.0 for r in results), default=0.0)
            or None,
            "max_process_peak_rss_mib": max(r["max_process_peak_rss_mib"] for r in results),
            "processes": results[-1]["processes"], "output_tail": next(
                (r["output_tail"] for r in results if r["output_tail"]), "")}
    a, b = out["variants"][case.first], out["variants"][case.second]
    out["ratio"] = a["median_wall_s"] / b["median_wall_s"] if b["median_wall_s"] else None
    out["ratio_of"] = f"{case.first} / {case.second} wall time"
    if THREADS_1 in out["variants"]:
        out["threads_ratio"] = out["variants"][THREADS_1]["median_wall_s"] / a["median_wall_s"]
        out["threads_ratio_of"] = f"{THREADS_1} / {case.first} wall time (> 1: torch's 2 threads help)"
    return out


def _once(case: Case, variant: tuple[str, ...], timeout_s: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="latentlab-bench-parallel-") as tmp:
        cmd = [*LATENTLAB, *case.args, *variant, "--out", str(Path(tmp) / "out")]
        return procmem.run(cmd, cwd=tmp, timeout_s=timeout_s)


def full(profile: str = "full", extra: tuple[str, ...] = (), timeout_s: float = 3600.0,
         mnist: str = "") -> dict[str, Any]:
    """`latentlab report --profile PROFILE` once, end to end (default --jobs: cores // 2), with its peaks; `mnist`
    says which MNIST it read (`full_size_mnist`)."""
    case = Case(f"latentlab report --profile {profile}", ("report", "--profile", profile, "--quiet", *extra), {})
    result = _once(case, (), timeout_s)
    result["profile"] = profile
    result["mnist"] = mnist
    return result


@contextmanager
def full_size_mnist() -> Iterator[str]:
    """What MNIST the report will read, for `full`. Full MNIST when it is on the machine (never downloaded here);
    otherwise, with the full Fashion-MNIST at hand, LATENTLAB_DATA points, inside, at a stand-in of MNIST's size:
    the 60,000 + 10,000 Fashion-MNIST images mirrored left-right, labels shifted by one (so that no checksum takes
    it for either data set). The report's four MNIST experiments then train and are measured on 60,000 images, as
    with the real MNIST; the content differs, the cost does not."""
    from latentlab.data import DatasetError, load_dataset
    from latentlab.data.idx import write_idx

    try:
        found = load_dataset("mnist", download=False, progress=False)
    except DatasetError:
        found = None
    if found is not None:
        yield f"MNIST as found ({found.source}, {len(found.x_train):,} training images)"
        return
    try:
        fashion = load_dataset("fashion-mnist", download=False, progress=False)
    except DatasetError:
        yield "the bundled MNIST sample (neither full MNIST nor full Fashion-MNIST is on this machine)"
        return
    before = os.environ.get("LATENTLAB_DATA")
    with tempfile.TemporaryDirectory(prefix="latentlab-bench-mnist-") as tmp:
        folder = Path(tmp) / "mnist"
        folder.mkdir()
        for split, x, y in (("train", fashion.x_train, fashion.y_train), ("t10k", fashion.x_test, fashion.y_test)):
            write_idx(folder / f"{split}-images-idx3-ubyte.gz", np.ascontiguousarray(x[:, :, ::-1]))
            write_idx(folder / f"{split}-labels-idx1-ubyte.gz", ((y + 1) % 10).astype(np.uint8))
        os.environ["LATENTLAB_DATA"] = tmp
        try:
            yield "a stand-in of full MNIST's size (Fashion-MNIST mirrored, 60,000 + 10,000 images)"
        finally:
            _restore("LATENTLAB_DATA", before)


def line(name: str, r: dict[str, Any]) -> str:
    """One printed line: both times, the ratio and the largest process."""
    v = r["variants"]
    parts = [f"{label} {x['median_wall_s']:.1f} s (peak RSS parent {x['parent_peak_rss_mib']:.0f}, worker "
             f"{_mib(x['max_worker_peak_rss_mib'])} MiB{'' if x['status'] == 'ok' else ', ' + x['status']})"
             for label, x in v.items()]
    text = f"{name}: " + "; ".join(parts) + f"; {r['ratio_of']} x{r['ratio']:.2f}"
    if "threads_ratio" in r:
        text += f"; {r['threads_ratio_of'].split(' (')[0]} x{r['threads_ratio']:.2f}"
    return text


def full_line(r: dict[str, Any]) -> str:
    procs = ", ".join(f"{p['role']} {p['peak_rss_mib']:.0f}" for p in r["processes"]
                      if p["role"] in ("parent", "worker"))
    on = f", MNIST: {r['mnist']}" if r.get("mnist") else ""
    return (f"latentlab report --profile {r['profile']} end to end: {r['wall_s'] / 60:.1f} min ({r['status']}{on}); "
            f"peak RSS MiB: {procs}")


def _mib(x: float | None) -> str:
    return "-" if x is None else f"{x:.0f}"


@contextmanager
def tiny_data(x_train: np.ndarray, x_test: np.ndarray) -> Iterator[Path]:
    """LATENTLAB_DATA set, for the commands started inside, to a folder whose mnist/ and fashion-mnist/ hold these
    images with two alternating classes (the smoke run: its commands then find no full data set, which would
    make the report's out-of-distribution scoring take seconds)."""
    from latentlab.data.idx import write_idx

    before = os.environ.get("LATENTLAB_DATA")
    with tempfile.TemporaryDirectory(prefix="latentlab-bench-data-") as tmp:
        for name in ("mnist", "fashion-mnist"):
            folder = Path(tmp) / name
            folder.mkdir()
            for split, x in (("train", x_train), ("t10k", x_test)):
                write_idx(folder / f"{split}-images-idx3-ubyte.gz", np.ascontiguousarray(x, np.uint8))
                write_idx(folder / f"{split}-labels-idx1-ubyte.gz", (np.arange(len(x)) % 2).astype(np.uint8))
        os.environ["LATENTLAB_DATA"] = tmp
        try:
            yield Path(tmp)
        finally:
            _restore("LATENTLAB_DATA", before)


def _restore(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value
