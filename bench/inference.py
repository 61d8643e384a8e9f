"""Inference speed: per-image scoring of the test set, and the latency of decoding one latent point."""

from __future__ import annotations

import importlib.util
import time
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bench.common import median, time_calls

SCORE_BATCH = 4096


@torch.inference_mode()
def recon_scores(model: nn.Module, x: np.ndarray, batch_size: int = SCORE_BATCH) -> torch.Tensor:
    """Per-image reconstruction BCE (nats, summed over pixels) of uint8 images; a VAE decodes its mean."""
    model.eval()
    xt = torch.from_numpy(np.ascontiguousarray(x))
    out = []
    for xb in xt.split(batch_size):
        xf = xb.unsqueeze(1).to(torch.float32).div_(255.0)
        code = model.encode(xf)
        logits = model.decode_logits(code)
        out.append(F.binary_cross_entropy_with_logits(logits, xf, reduction="none").flatten(1).sum(1))
    return torch.cat(out)


def scoring(model: nn.Module, x: np.ndarray, reps: int = 5) -> dict[str, Any]:
    """images/s of `recon_scores` over all of `x` (median of `reps` passes after one warm-up), and of
    `latentlab.evaluate.per_image_scores` (which also computes MSE and, for a VAE, the ELBO) when present."""
    out: dict[str, Any] = {"images": len(x), "batch_size": SCORE_BATCH,
                           "recon_bce_images_per_s": len(x) / median(time_calls(lambda: recon_scores(model, x), reps))}
    if importlib.util.find_spec("latentlab.evaluate") is not None:
        from latentlab.analysis.inference import per_image_scores

        times = time_calls(lambda: per_image_scores(model, x), reps)
        out["evaluate_per_image_scores_images_per_s"] = len(x) / median(times)
    return out


def decode_latency(model: nn.Module, calls: int = 1000) -> dict[str, Any]:
    """Latency in ms of decoding one latent point, as the web page asks for it: p50 and p95 over `calls`.

    `model_decode` calls model.decode directly under inference_mode; `evaluate_decode_points` goes through
    latentlab.evaluate.decode_points (NumPy in and out), the path the web app uses, when present.
    """
    model.eval()
    rng = np.random.default_rng(0)
    points = rng.normal(size=(calls, model.latent_dim)).astype(np.float32)
    out: dict[str, Any] = {}

    def _pct(samples: list[float]) -> dict[str, float]:
        ms = np.asarray(samples) * 1000.0
        return {"p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95)),
                "min_ms": float(ms.min())}

    with torch.inference_mode():
        zs = torch.from_numpy(points)
        for z in zs[:50]:
            model.decode(z[None])
        samples = []
        for z in zs:
            t = time.perf_counter()
            model.decode(z[None])
            samples.append(time.perf_counter() - t)
    out["model_decode"] = _pct(samples)
    if importlib.util.find_spec("latentlab.evaluate") is not None:
        from latentlab.analysis.inference import decode_points

        for p in points[:50]:
            decode_points(model, p[None])
        samples = []
        for p in points:
            t = time.perf_counter()
            decode_points(model, p[None])
            samples.append(time.perf_counter() - t)
        out["evaluate_decode_points"] = _pct(samples)
    return out


NOVELTY_FIT = 10_000  # training images the detector is fitted on (fit time grows with it; scoring does not)


def novelty(model: nn.Module | None, data: Any, reps: int = 3) -> dict[str, Any]:
    """images/s of `NoveltyDetector.score_samples` over the test images, per score, once latentlab.novelty exists.

    Until then (or without a trained model) the entry is a TODO that names what to measure.
    """
    if model is None or importlib.util.find_spec("latentlab.novelty") is None:
        return {"status": "TODO: latentlab.novelty is not there yet; time NoveltyDetector(model).fit(x_train)"
                          ".score_samples(x_test) here"}
    from latentlab.analysis.novelty import NoveltyDetector, valid_scores

    x_fit = data.x_train[:NOVELTY_FIT]
    out: dict[str, Any] = {"status": "measured", "model": "vae", "fit_images": len(x_fit), "images": len(data.x_test)}
    for score in valid_scores(model):
        t = time.perf_counter()
        det = NoveltyDetector(model, score=score).fit(x_fit)
        fit_s = time.perf_counter() - t
        times = time_calls(lambda det=det: det.score_samples(data.x_test), reps)
        out[score] = {"fit_s": fit_s, "images_per_s": len(data.x_test) / median(times)}
    return out


def web_decode_latency(model: nn.Module, model_cfg: Any, calls: int = 300) -> dict[str, Any]:
    """p50/p95 ms of GET /api/runs/ID/decode (one point -> PNG) through the web app, in process (TestClient:
    routing, validation, decoding and PNG encoding, no network). The model is saved as a run directory first."""
    if importlib.util.find_spec("fastapi") is None or importlib.util.find_spec("latentlab.web") is None:
        return {"status": "TODO: latentlab.web or fastapi is not installed; time its decode endpoint here"}
    import tempfile
    from pathlib import Path

    from fastapi.testclient import TestClient

    from latentlab.runs import save_checkpoint
    from latentlab.web.app import create_app

    with tempfile.TemporaryDirectory(prefix="latentlab-bench-web-") as tmp:
        run_dir = Path(tmp) / "bench-vae"
        save_checkpoint(run_dir, model_cfg, model, None, {"epoch": 0}, {"status": "finished"})
        client = TestClient(create_app([run_dir]), base_url="http://127.0.0.1")  # a Host the server answers
        rng = np.random.default_rng(0)
        points = rng.uniform(-2.0, 2.0, size=(calls + 20, 2))
        samples = []
        for i, (x, y) in enumerate(points):
            t = time.perf_counter()
            r = client.get(f"/api/runs/bench-vae/decode?x={x:.4f}&y={y:.4f}")
            if i >= 20:
                samples.append(time.perf_counter() - t)
            if r.status_code != 200:
                return {"status": f"decode endpoint answered {r.status_code}: {r.text[:200]}"}
    ms = np.asarray(samples) * 1000.0
    return {"status": "measured", "endpoint": "/api/runs/ID/decode", "calls": calls,
            "p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95))}
