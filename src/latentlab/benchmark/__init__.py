"""Benchmarks of latentlab against the field: `one_class`, the one-class novelty benchmark on MNIST-style data, with
baselines computed in the same run and published rows quoted as data (`published`). Imported on first use."""

from __future__ import annotations

from typing import Any

__all__ = ["PUBLISHED", "SCORE_CHOICES", "STEPS", "ClassTask", "one_class", "run_class"]

# Here rather than in `task`, so that the command line's help can show it without importing NumPy.
STEPS = 470  # optimizer steps per class: about 20 epochs of a 6,000-image class at batch 256
"""Optimizer steps per class of the one-class benchmark (about 20 epochs of 6,000 images at batch 256)."""
SCORE_CHOICES = ("per-class", "data-set", "fixed")
"""How the one-class benchmark's default score is chosen (`choice`); the first is the default."""

_LAZY = {"one_class": "latentlab.benchmark.harness", "run_class": "latentlab.benchmark.task",
         "ClassTask": "latentlab.benchmark.task", "PUBLISHED": "latentlab.benchmark.published"}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'latentlab.benchmark' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value  # later look-ups skip this function
    return value
