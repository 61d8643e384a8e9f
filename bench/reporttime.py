"""Time to report: `latentlab report --profile quick|full`, measured when the command exists, else estimated.

The estimate assumes the report trains every preset once with the profile's epoch count on 60,000 images
(MNIST and Fashion-MNIST are the same size), and prices each epoch at the engine's measured wall time per
epoch (training plus validation) for the same architecture. Figures, scoring and HTML are not in it.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import MODELS, bench_config
from latentlab.presets import PRESETS

ROOT = Path(__file__).resolve().parent.parent
FULL_DATA = 60_000


def _bench_model(preset: str) -> str | None:
    """The benchmarked model with the same architecture as `preset` (denoising presets map to their model)."""
    arch = PRESETS[preset].config.model
    for name in MODELS:
        if bench_config(name, 1).model == arch:
            return name
    return None


def estimate(epoch_wall_s: dict[str, float], n_train: int) -> dict[str, Any]:
    """Seconds for each profile from per-epoch wall times measured on `n_train` images, scaled to 60,000."""
    scale = FULL_DATA / n_train
    out: dict[str, Any] = {"assumes": "every preset trained once, 60,000 images, per-epoch wall from this run",
                           "estimated": True}
    for profile in ("quick", "full"):
        per_preset = {}
        for name, p in PRESETS.items():
            model = _bench_model(name)
            if model is None or model not in epoch_wall_s:
                continue
            epochs = p.quick_epochs if profile == "quick" else p.full_epochs
            per_preset[name] = epochs * epoch_wall_s[model] * scale
        out[profile] = {"total_s": sum(per_preset.values()), "per_preset_s": per_preset}
    return out


def report_available() -> bool:
    proc = subprocess.run([sys.executable, "-m", "latentlab", "report", "--help"], cwd=ROOT, capture_output=True)
    return proc.returncode == 0


def measure(profile: str, timeout_s: float) -> dict[str, Any]:
    """Wall time of `latentlab report --profile PROFILE` into a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="latentlab-bench-report-") as tmp:
        cmd = [sys.executable, "-m", "latentlab", "report", "--profile", profile, "--out", str(Path(tmp) / "report")]
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return {"status": f"did not finish within {timeout_s:.0f} s", "command": " ".join(cmd[2:])}
        wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return {"status": f"failed ({proc.returncode})", "stderr": proc.stderr[-1000:]}
    return {"status": "measured", "wall_s": wall}
