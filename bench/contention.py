"""latentlab on a busy machine: the same work idle and beside 1 or 2 spinning processes, with torch's own thread
defaults (`LATENTLAB_THREADS=torch`, what latentlab did before its thread policy) and with the policy; the canonical
PyTorch loop of bench/canonical.py under the same load is the peer's row; and a process restricted to one CPU.

Every measurement runs in a fresh child process (the thread policy is decided when a process starts), with the
spinners started before it and stopped after it. A spinner is a Python `while` loop with a deadline: it stops by
itself even if this process dies.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BASELINE, POLICY = "torch defaults", "policy"
#: label -> environment changes of the child. BASELINE is how latentlab ran before the policy.
SETTINGS = {BASELINE: {"LATENTLAB_THREADS": "torch"}, POLICY: {}}
# Variables that would override either setting; a bench child never inherits them.
CLEARED = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
           "LATENTLAB_THREADS")


@contextmanager
def spinning(n: int, seconds: float = 900.0) -> Iterator[list[subprocess.Popen]]:
    """`n` processes that each keep one core busy for at most `seconds` (they end by themselves), stopped on exit."""
    code = f"import time\nend = time.time() + {seconds}\nwhile time.time() < end:\n    pass\n"
    procs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(n)]
    try:
        time.sleep(0.3 if n else 0)  # let them reach the loop
        yield procs
    finally:
        for p in procs:
            p.kill()
            p.wait()


def child_env(setting: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    env.update(SETTINGS[setting])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    return env


def train_throughput(preset: str, dataset: str, epochs: int, setting: str, prefix: tuple[str, ...] = (),
                     timeout_s: float = 900.0) -> dict[str, Any]:
    """`latentlab train PRESET --dataset DATASET --epochs EPOCHS` in a fresh process: img/s of every epoch (from the
    run's history) and the median over all epochs but the first."""
    with tempfile.TemporaryDirectory(prefix="latentlab-bench-contention-") as tmp:
        cmd = [*prefix, sys.executable, "-m", "latentlab", "train", preset, "--dataset", dataset, "--epochs",
               str(epochs), "--name", "run", "--quiet"]
        t0 = time.perf_counter()
        done = subprocess.run(cmd, cwd=tmp, env=child_env(setting), capture_output=True, text=True, timeout=timeout_s)
        wall = time.perf_counter() - t0
        if done.returncode:
            raise RuntimeError(f"{' '.join(cmd)} failed: {done.stderr[-2000:]}")
        run = Path(tmp) / "runs" / "run"
        rates = [json.loads(line)["samples_per_s"] for line in (run / "history.jsonl").read_text().splitlines()]
        meta = json.loads((run / "meta.json").read_text())
    steady = rates[1:] or rates
    return {"img_s": rates, "median_img_s": statistics.median(steady), "wall_s": wall,
            "threads": meta.get("threads")}


DETECTOR = """
import json, sys, time
if sys.argv[2] == "policy":
    import latentlab
    latentlab.configure_threads()
from latentlab import NoveltyDetector, load_run, load_run_data
run = load_run(sys.argv[1])
data = load_run_data(run, progress=False)
t0 = time.perf_counter()
det = NoveltyDetector(run).fit(data.x_train)
t1 = time.perf_counter()
det.score_samples(data.x_test)
t2 = time.perf_counter()
print(json.dumps({"fit_s": t1 - t0, "score_s": t2 - t1, "total_s": t2 - t0}))
"""


def detector(run_dir: Path, setting: str, timeout_s: float = 900.0) -> dict[str, Any]:
    """`NoveltyDetector(run).fit(x_train).score_samples(x_test)` in a fresh Python process, as a notebook runs it:
    with the policy, the script calls `latentlab.configure_threads()` first."""
    mode = "policy" if setting == POLICY else "plain"
    done = subprocess.run([sys.executable, "-c", DETECTOR, str(run_dir), mode], env=child_env(setting),
                          capture_output=True, text=True, timeout=timeout_s)
    if done.returncode:
        raise RuntimeError(f"detector child failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def quick_report(setting: str, timeout_s: float = 1800.0, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """`latentlab report --profile quick --jobs 1` end to end, wall seconds."""
    with tempfile.TemporaryDirectory(prefix="latentlab-bench-contention-") as tmp:
        cmd = [sys.executable, "-m", "latentlab", "report", "--profile", "quick", "--jobs", "1", "--quiet", "--out",
               str(Path(tmp) / "out"), *extra]
        t0 = time.perf_counter()
        done = subprocess.run(cmd, cwd=tmp, env=child_env(setting), capture_output=True, text=True, timeout=timeout_s)
        if done.returncode:
            raise RuntimeError(f"report failed: {done.stderr[-2000:]}")
        return {"wall_s": time.perf_counter() - t0}


def prepare_run(tmp: Path, preset: str = "mnist-simple", dataset: str = "mnist-sample", epochs: int = 2) -> Path:
    """A trained run for the detector rows (trained idle, once)."""
    subprocess.run([sys.executable, "-m", "latentlab", "train", preset, "--dataset", dataset, "--epochs", str(epochs),
                    "--name", "detector-run", "--quiet"], cwd=tmp, env=child_env(POLICY), check=True,
                   capture_output=True, timeout=900)
    return tmp / "runs" / "detector-run"


def taskset() -> list[str] | None:
    """`taskset -c 0` where the command exists (a process restricted to one CPU by its affinity mask)."""
    return ["taskset", "-c", "0"] if shutil.which("taskset") else None
