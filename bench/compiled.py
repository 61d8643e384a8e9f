"""`train.compile = true` on the CPU: steady throughput against eager, and what compiling costs.

Runs alternate eager, compiled, eager. The compiled run starts from an empty inductor cache (a fresh
TORCHINDUCTOR_CACHE_DIR), as a user's first run would. Compile time is its first epoch's time minus a
steady epoch's.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import replace
from typing import Any

from bench.common import Data, bench_config, median
from latentlab.training import train


def _run(model: str, data: Data, epochs: int, compile_: bool) -> list[dict[str, Any]]:
    cfg = bench_config(model, epochs)
    cfg = replace(cfg, train=replace(cfg.train, compile=compile_))
    result = train(cfg, data.x_train, data.x_test, None, quiet=True)
    if result.status == "interrupted":  # SIGINT/SIGTERM stopped the engine: stop the bench too
        raise KeyboardInterrupt
    return result.history


def compare(model: str, data: Data, epochs: int = 3) -> dict[str, Any]:
    import torch._dynamo

    runs: dict[str, list[list[dict[str, Any]]]] = {"eager": [], "compiled": []}
    previous = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    with tempfile.TemporaryDirectory(prefix="latentlab-bench-inductor-") as cache:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache
        try:
            for variant in ("eager", "compiled", "eager"):
                torch._dynamo.reset()
                runs[variant].append(_run(model, data, epochs, variant == "compiled"))
        finally:
            if previous is None:
                os.environ.pop("TORCHINDUCTOR_CACHE_DIR", None)
            else:
                os.environ["TORCHINDUCTOR_CACHE_DIR"] = previous
    steady = {k: [h["samples_per_s"] for run in v for h in run[1:]] for k, v in runs.items()}
    steady_epoch_s = median([h["time_s"] for run in runs["compiled"] for h in run[1:]])
    return {
        "epochs": epochs,
        "eager_samples_per_s": median(steady["eager"]), "compiled_samples_per_s": median(steady["compiled"]),
        "ratio": median(steady["compiled"]) / median(steady["eager"]),
        "compile_s_cold_cache": runs["compiled"][0][0]["time_s"] - steady_epoch_s,
        "val_loss_eager": runs["eager"][0][-1]["val"]["loss"],
        "val_loss_compiled": runs["compiled"][0][-1]["val"]["loss"],
    }
