"""What every bench section shares: the four benchmarked models, the data, timing statistics, the machine."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch

from latentlab.config import RunConfig
from latentlab.presets import preset_config

# name -> the preset whose model and batch size are benchmarked. `conv` has no Fashion preset of its own,
# so it borrows mnist-conv's architecture and batch; the data are Fashion-MNIST for every model.
MODELS: dict[str, str] = {
    "simple": "fashion-simple",
    "deep": "fashion-deep",
    "conv": "mnist-conv",
    "vae": "fashion-vae",
}


@dataclass(frozen=True)
class Data:
    x_train: np.ndarray  # uint8 (N, 28, 28)
    x_test: np.ndarray
    name: str
    source: str
    is_sample: bool


def load_data(name: str = "fashion-mnist") -> Data:
    """Full Fashion-MNIST when it is installed or cached, else the bundled 10,000-image sample (never a download)."""
    from latentlab.data import DatasetError, load_dataset

    try:
        d = load_dataset(name, download=False, progress=False)
    except DatasetError:
        d = load_dataset(f"{name}-sample", progress=False)
    return Data(d.x_train, d.x_test, d.name, d.source, d.is_sample)


def bench_config(model: str, epochs: int, seed: int = 0) -> RunConfig:
    """The preset's config for `model`, on the CPU, with `epochs` epochs."""
    cfg = preset_config(MODELS[model], "full")
    return replace(cfg, dataset="fashion-mnist", train=replace(cfg.train, epochs=epochs, device="cpu", seed=seed))


def median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def spread(values: list[float]) -> dict[str, float]:
    """Median with min and max, so a reader sees how noisy a number was."""
    return {"median": median(values), "min": float(min(values)), "max": float(max(values)), "n": len(values)}


def time_calls(fn: Callable[[], object], reps: int, warmup: int = 1) -> list[float]:
    """Wall seconds of `reps` calls of `fn` after `warmup` untimed ones."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average() -> list[float]:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return []


def ram_gib() -> float | None:
    """Physical memory (MemTotal) in GiB, None where /proc/meminfo is missing."""
    try:
        with open("/proc/meminfo") as f:
            kib = next(int(line.split()[1]) for line in f if line.startswith("MemTotal:"))
    except (OSError, StopIteration, ValueError):
        return None
    return round(kib / 2**20, 1)


def gpu() -> str | None:
    """The first CUDA device's name and memory, None without one (the CPU bench never uses it)."""
    if not torch.cuda.is_available():
        return None
    p = torch.cuda.get_device_properties(0)
    return f"{p.name} ({p.total_memory / 2**30:.0f} GiB) x{torch.cuda.device_count()}"


def machine() -> dict[str, object]:
    return {"cpu": cpu_model(), "logical_cpus": os.cpu_count(), "ram_gib": ram_gib(), "gpu": gpu(),
            "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "python": platform.python_version(), "numpy": np.__version__,
            "cpu_capability": torch.backends.cpu.get_cpu_capability(), "mkldnn": torch.backends.mkldnn.is_available()}


def machine_line(m: dict[str, object], load_start: object, load_end: object) -> str:
    """The machine in one line: CPU, cores, RAM, GPU, torch, and the load average at the start and end."""
    return (f"Machine: {m['cpu']}, {m['logical_cpus']} cores, {m.get('ram_gib', '?')} GiB RAM, "
            f"GPU {m.get('gpu') or 'none'}; torch {m['torch']} ({m['torch_threads']} threads, "
            f"{m['cpu_capability']}); load average (1, 5, 15 min) {load_start} at start -> {load_end} at end")
