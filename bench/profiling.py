"""Where a training step's time goes: torch.profiler over a short engine run, summarised by operator."""

from __future__ import annotations

from typing import Any

import numpy as np
from torch.profiler import ProfilerActivity, profile

from bench.common import bench_config
from latentlab.training import train

TOP = 12
# Operator name fragments -> where the time goes. Checked in order; the first match wins.
CATEGORIES = (
    ("matmul", ("aten::mm", "aten::addmm", "aten::bmm", "aten::matmul", "aten::linear")),
    ("convolution", ("conv",)),
    ("optimizer", ("adam", "optimizer", "zero_grad")),
    # The loss's own ops (latentlab.models.losses): abs, exp_, prod and dot appear nowhere else in a step.
    ("loss", ("sigmoid", "binary_cross_entropy", "log1p", "bcewithlogits", "aten::exp_", "aten::prod", "aten::dot",
              "aten::abs")),
    ("activations", ("clamp_min", "relu", "threshold")),
)


def _engine_steps(model: str, x: np.ndarray, steps: int) -> None:
    cfg = bench_config(model, epochs=1)
    train(cfg, x, None, None, quiet=True, max_steps=steps)


def top_ops(model: str, x_train: np.ndarray, steps: int = 40, top: int = TOP) -> dict[str, Any]:
    """The `top` operators by self CPU time over `steps` engine steps (after an unprofiled warm-up run)."""
    cfg = bench_config(model, epochs=1)
    x = x_train[: cfg.train.batch_size * (steps + 1)]
    _engine_steps(model, x, steps)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        _engine_steps(model, x, steps)
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events) or 1.0
    rows = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:top]
    shares: dict[str, float] = {}
    for e in events:
        key = e.key.lower()
        cat = next((c for c, frags in CATEGORIES if any(f in key for f in frags)), "other (element-wise, copies, "
                   "autograd and Python)")
        shares[cat] = shares.get(cat, 0.0) + e.self_cpu_time_total / total
    return {
        "steps": steps, "batch_size": cfg.train.batch_size,
        "total_self_cpu_ms": total / 1000.0,
        "by_category": {k: round(v, 3) for k, v in sorted(shares.items(), key=lambda kv: -kv[1])},
        "top_ops": [{"op": e.key, "calls": e.count, "self_cpu_ms": round(e.self_cpu_time_total / 1000.0, 2),
                     "share": round(e.self_cpu_time_total / total, 3)} for e in rows],
    }
