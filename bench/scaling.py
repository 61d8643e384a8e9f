"""Data-parallel scaling on the CPU: the `latentlab train` CLI in 1 process and under torchrun with 2 (gloo).

The global batch is the preset's in both cases (each of the 2 ranks takes half of it). torchrun gives each
worker OMP_NUM_THREADS=1, so 2 ranks use the same 2 cores one process with 2 threads does: on this machine
DDP can only trade intra-op threading for process parallelism plus gradient all-reduce, and the numbers say
what that trade is worth. The epoch-2 samples/s of each run (the first epoch warms up) is what is compared.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import median

ROOT = Path(__file__).resolve().parent.parent
GPU_COMMAND = "torchrun --nproc-per-node N -m latentlab train {preset} --device cuda   # N = number of GPUs"


def _command(preset: str, dataset: str, epochs: int, out: Path, procs: int) -> list[str]:
    args = ["-m", "latentlab", "train", preset, "--dataset", dataset, "--epochs", str(epochs), "--device", "cpu",
            "--quiet", "--overwrite", "--out", str(out)]
    if procs == 1:
        return [sys.executable, *args]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(procs), *args]


def _samples_per_s(cmd: list[str], out: Path, env: dict[str, str]) -> float:
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines() if line.strip()]
    return float(history[-1]["samples_per_s"])


def scaling(preset: str, dataset: str, epochs: int = 2, reps: int = 2) -> dict[str, Any]:
    """samples/s of 1 process (2 threads), 1 process (1 thread) and 2 torchrun processes, alternated."""
    variants = {"1 process, 2 threads": (1, None), "1 process, 1 thread": (1, "1"), "2 processes (DDP)": (2, None)}
    rates: dict[str, list[float]] = {k: [] for k in variants}
    with tempfile.TemporaryDirectory(prefix="latentlab-bench-ddp-") as tmp:
        for rep in range(reps):
            names = list(variants) if rep % 2 == 0 else list(reversed(variants))
            for name in names:
                procs, threads = variants[name]
                env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
                if threads:
                    env["OMP_NUM_THREADS"] = threads
                out = Path(tmp) / f"run{procs}{threads or ''}"
                rates[name].append(_samples_per_s(_command(preset, dataset, epochs, out, procs), out, env))
    med = {k: median(v) for k, v in rates.items()}
    two, one, one_thread = med["2 processes (DDP)"], med["1 process, 2 threads"], med["1 process, 1 thread"]
    return {
        "preset": preset, "dataset": dataset, "epochs": epochs, "reps": reps,
        "samples_per_s": med, "all_samples_per_s": rates,
        "speedup_vs_1_process": two / one,
        # the textbook figure: 2 workers against 2 x one worker of the same size
        "efficiency_vs_2x_1_thread": two / (2 * one_thread),
        "command_1": " ".join(["latentlab", *_command(preset, dataset, epochs, Path("OUT"), 1)[3:]]),
        "command_2": " ".join(["torchrun", *_command(preset, dataset, epochs, Path("OUT"), 2)[3:]]),
        "command_gpus": GPU_COMMAND.format(preset=preset),
    }
