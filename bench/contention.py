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
    # This tree's latentlab (src/) and bench/, whichever latentlab the interpreter has installed.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), str(ROOT), env.get("PYTHONPATH", "")]))
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


CANONICAL = """
import json, statistics, sys
from bench.common import load_data
from bench.throughput import canonical_run, steady
data = load_data(sys.argv[1])
hist = canonical_run("vae", data, int(sys.argv[2]))["history"]
rates = [h["samples_per_s"] for h in hist]
print(json.dumps({"img_s": rates, "median_img_s": statistics.median(steady(hist) or rates)}))
"""


def canonical(dataset: str, epochs: int, timeout_s: float = 900.0) -> dict[str, Any]:
    """The canonical PyTorch VAE loop (bench/canonical.py, torch's own thread defaults) in a fresh process."""
    done = subprocess.run([sys.executable, "-c", CANONICAL, dataset, str(epochs)], env=child_env(BASELINE),
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout_s)
    if done.returncode:
        raise RuntimeError(f"canonical child failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


@contextmanager
def cpu_quota(cpus: float = 1.0) -> Iterator[tuple[str, ...] | None]:
    """A command prefix that runs a child in a cgroup v1 with `cpus` CPUs of quota (root and a writable cpu
    controller needed; None otherwise). The group is removed afterwards."""
    base = Path("/sys/fs/cgroup/cpu")
    if not (base / "cpu.cfs_quota_us").exists() or not os.access(base, os.W_OK):
        yield None
        return
    group = base / f"latentlab-bench-{os.getpid()}"
    group.mkdir(exist_ok=True)
    try:
        period = int((group / "cpu.cfs_period_us").read_text())
        (group / "cpu.cfs_quota_us").write_text(str(int(period * cpus)))
        yield ("sh", "-c", f'echo $$ > {group}/cgroup.procs && exec "$@"', "sh")
    finally:
        group.rmdir()


def run(presets: tuple[tuple[str, str], ...], epochs: int, loads: tuple[int, ...], report_loads: tuple[int, ...],
        log: Any = print) -> dict[str, Any]:
    """The section: every (preset, dataset) of `presets` trained `epochs` epochs, the detector, the canonical loop
    and (under `report_loads`) the quick report, under each of `loads` busy cores, with both settings alternated;
    then the one-CPU cases (affinity and quota) with the policy."""
    out: dict[str, Any] = {"loads": list(loads), "epochs": epochs, "rows": {}, "restricted": {}}
    with tempfile.TemporaryDirectory(prefix="latentlab-bench-contention-") as tmp:
        run_dir = prepare_run(Path(tmp), dataset=presets[0][1])
        for load in loads:
            with spinning(load):
                for i, (preset, dataset) in enumerate(presets):
                    order = (BASELINE, POLICY) if (i + load) % 2 == 0 else (POLICY, BASELINE)
                    for setting in order:
                        r = train_throughput(preset, dataset, epochs, setting)
                        _put(out, f"train {preset} ({dataset}), img/s", load, setting, r["median_img_s"], r)
                        log(f"  busy {load}: train {preset} {setting}: {r['median_img_s']:,.0f} img/s")
                for setting in (BASELINE, POLICY) if load % 2 == 0 else (POLICY, BASELINE):
                    r = detector(run_dir, setting)
                    _put(out, "detector fit + score_samples, s", load, setting, r["total_s"], r)
                    log(f"  busy {load}: detector {setting}: {r['total_s']:.2f} s")
                r = canonical(presets[0][1], epochs)
                _put(out, f"canonical PyTorch VAE loop ({presets[0][1]}), img/s", load, BASELINE, r["median_img_s"], r)
                log(f"  busy {load}: canonical loop: {r['median_img_s']:,.0f} img/s")
                if load in report_loads:
                    for setting in (BASELINE, POLICY) if load % 2 == 0 else (POLICY, BASELINE):
                        r = quick_report(setting)
                        _put(out, "quick report end to end (--jobs 1), s", load, setting, r["wall_s"], r)
                        log(f"  busy {load}: quick report {setting}: {r['wall_s']:.0f} s")
    preset, dataset = presets[0]
    cases = {"taskset -c 0": taskset()}
    with cpu_quota(1.0) as quota:
        cases["cgroup quota of 1 CPU"] = quota
        for name, prefix in cases.items():
            if prefix is None:
                out["restricted"][name] = {"status": "not available on this machine"}
                continue
            r = train_throughput(preset, dataset, epochs, POLICY, prefix=prefix)
            out["restricted"][name] = {"threads": r["threads"], "median_img_s": r["median_img_s"]}
            log(f"  {name}: {r['threads']['threads']} thread(s) ({r['threads']['reason']}), "
                f"{r['median_img_s']:,.0f} img/s")
    out["targets"] = targets(out)
    return out


def _put(out: dict[str, Any], row: str, load: int, setting: str, value: float, raw: dict[str, Any]) -> None:
    out["rows"].setdefault(row, {}).setdefault(str(load), {})[setting] = {"value": value, "raw": raw}


def _value(out: dict[str, Any], row: str, load: int, setting: str) -> float | None:
    return out["rows"].get(row, {}).get(str(load), {}).get(setting, {}).get("value")


def targets(out: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets as ratios of this run's own measurements: met or not."""
    found = []

    def add(what: str, value: float | None, target: float, higher: bool) -> None:
        if value is not None:
            found.append({"target": what, "value": round(value, 3), "goal": target,
                          "met": value >= target if higher else value <= target})

    for row in out["rows"]:
        idle_p, idle_b = _value(out, row, 0, POLICY), _value(out, row, 0, BASELINE)
        if not idle_p or not idle_b:
            continue
        if row.startswith("train"):
            add(f"{row}: policy idle / torch defaults idle", idle_p / idle_b, 0.97, True)
            for load, goal in ((1, 0.45), (2, 0.25)):
                busy = _value(out, row, load, POLICY)
                add(f"{row}: policy, {load} busy / idle", busy / idle_p if busy else None, goal, True)
        else:
            add(f"{row}: policy idle / torch defaults idle (time)", idle_p / idle_b, 1 / 0.97, False)
            busy = _value(out, row, 1, POLICY)
            add(f"{row}: policy, 1 busy / idle (time)", busy / idle_p if busy else None, 2.5, False)
    for name, r in out["restricted"].items():
        if "threads" in r:
            found.append({"target": f"{name}: threads used", "value": r["threads"]["threads"], "goal": 1,
                          "met": r["threads"]["threads"] == 1})
    return found


def markdown(out: dict[str, Any]) -> str:
    """The section's table: each row's value under each load, both settings, and the ratio to idle."""
    loads = out["loads"]
    head = "| what | " + " | ".join(f"{s}, {n} busy" for n in loads for s in (BASELINE, POLICY)) + " |"
    lines = [head, "|" + "---|" * (1 + 2 * len(loads))]
    for row in out["rows"]:
        cells = []
        for n in loads:
            for s in (BASELINE, POLICY):
                v, idle = _value(out, row, n, s), _value(out, row, 0, s)
                text = "" if v is None else (f"{v:,.0f}" if v >= 100 else f"{v:.2f}")
                if v is not None and idle and n:
                    text += f" ({v / idle:.0%} of idle)" if "img/s" in row else f" ({v / idle:.1f}x idle)"
                cells.append(text)
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    lines += ["", "| target | value | goal | met |", "|---|---|---|---|"]
    lines += [f"| {t['target']} | {t['value']} | {t['goal']:.3g} | {'yes' if t['met'] else 'NO'} |"
              for t in out["targets"]]
    for name, r in out["restricted"].items():
        lines.append(f"\n{name}: " + (f"{r['threads']['threads']} thread(s), {r['threads']['reason']}; "
                                      f"{r['median_img_s']:,.0f} img/s" if "threads" in r else r["status"]))
    return "\n".join(lines)
