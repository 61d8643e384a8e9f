"""Time to report: `latentlab report --profile quick` measured, `--profile full` estimated.

The estimate prices each of the report's experiments (its SECTIONS, else every preset) at the profile's epoch
count times the engine's measured wall time per epoch (training plus validation) for the same architecture,
scaled to 60,000 training images (MNIST and Fashion-MNIST are the same size). The measured quick report adds
what the report spends outside training (metrics, IWAE, figures, HTML); that part is added to the estimate.
"""

from __future__ import annotations

import json
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


def report_presets() -> list[str]:
    """The presets `latentlab report` trains, in its order (every preset if the report module is absent)."""
    try:
        from latentlab.report import SECTIONS
    except ImportError:
        return list(PRESETS)
    return [s.preset for s in SECTIONS]


def _bench_model(preset: str) -> str | None:
    """The benchmarked model with the architecture of `preset` (a denoising preset maps to its model)."""
    arch = PRESETS[preset].config.model
    return next((name for name in MODELS if bench_config(name, 1).model == arch), None)


def estimate(epoch_wall_s: dict[str, float], n_train: int, outside_training_s: float = 0.0) -> dict[str, Any]:
    """Seconds per profile from per-epoch wall times measured on `n_train` images, scaled to 60,000."""
    scale = FULL_DATA / n_train
    out: dict[str, Any] = {"estimated": True, "presets": report_presets(), "outside_training_s": outside_training_s,
                           "assumes": "training at this run's engine epoch times on 60,000 images; denoising "
                                      "presets priced as their model without noise; plus the measured quick "
                                      "report's time outside training"}
    for profile in ("quick", "full"):
        per_preset = {}
        for name in out["presets"]:
            model = _bench_model(name)
            if model is None or model not in epoch_wall_s:
                continue
            p = PRESETS[name]
            epochs = p.quick_epochs if profile == "quick" else p.full_epochs
            per_preset[name] = epochs * epoch_wall_s[model] * scale
        out[profile] = {"training_s": sum(per_preset.values()), "per_preset_s": per_preset,
                        "total_s": sum(per_preset.values()) + outside_training_s}
    return out


def report_available() -> bool:
    proc = subprocess.run([sys.executable, "-m", "latentlab", "report", "--help"], cwd=ROOT, capture_output=True)
    return proc.returncode == 0


def measure(profile: str, timeout_s: float) -> dict[str, Any]:
    """Wall time of `latentlab report --profile PROFILE --quiet` into a temporary folder, with its training share."""
    with tempfile.TemporaryDirectory(prefix="latentlab-bench-report-") as tmp:
        out = Path(tmp) / "report"
        cmd = [sys.executable, "-m", "latentlab", "report", "--profile", profile, "--quiet", "--out", str(out)]
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return {"status": f"did not finish within {timeout_s:.0f} s"}
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            return {"status": f"failed ({proc.returncode})", "stderr": proc.stderr[-1000:]}
        runs = {}
        for meta in sorted((out / "runs").glob("*/meta.json")):
            m = json.loads(meta.read_text())
            runs[meta.parent.name] = {"train_time_s": m.get("train_time_s", 0.0), "dataset": m.get("dataset"),
                                      "n_train": m.get("n_train")}
    train_s = sum(r["train_time_s"] for r in runs.values())
    return {"status": "measured", "command": f"latentlab report --profile {profile}", "wall_s": wall,
            "training_s": train_s, "outside_training_s": max(0.0, wall - train_s), "runs": runs}
