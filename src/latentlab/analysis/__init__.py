"""Analysis: inference over data sets, image quality, per-image statistics, the novelty detector, out-of-distribution
sets, posterior diagnostics (is a VAE still a VAE?) and metrics.json. `NoveltyDetector` is imported on first use
(scikit-learn's neighbours and mixtures)."""

from __future__ import annotations

from typing import Any

__all__ = ["NoveltyDetector", "PosteriorDiagnostics", "compute_metrics", "detector_for_run", "diagnose_posterior",
           "write_metrics"]

_LAZY = {"NoveltyDetector": "latentlab.analysis.novelty", "compute_metrics": "latentlab.analysis.evaluate",
         "write_metrics": "latentlab.analysis.evaluate", "detector_for_run": "latentlab.analysis.novelty",
         "diagnose_posterior": "latentlab.analysis.posterior", "PosteriorDiagnostics": "latentlab.analysis.posterior"}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'latentlab.analysis' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_LAZY[name]), name)
