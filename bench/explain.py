"""What an explanation costs: `NoveltyDetector.explain` against `score_samples` on the same images (issue #25's
target: at most 3x on 1,000 images), and the web's detect answer with its explanation per upload (target: under
300 ms). Both sides start from an empty memo each time: a second call on the same images would find the pixel
distances by content and cost nothing."""

from __future__ import annotations

import io
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import Data, bench_config


def _fresh(fn):
    from latentlab.analysis.novelty._memo import forget

    def call():
        forget()
        return fn()
    return call


def measure(data: Data, n: int = 1000, n_fit: int = 10_000, reps: int = 3, uploads: int = 20) -> dict[str, Any]:
    """Median seconds of score_samples and explain on `n` test images (each rep from an empty memo), their ratio,
    and p50/p95 ms of POST /api/runs/ID/detect (with its explanation) over `uploads` test images as PNGs."""
    from latentlab.analysis.novelty import NoveltyDetector
    from latentlab.models import build_model

    cfg = bench_config("simple", 1)
    model = build_model(cfg.model)
    det = NoveltyDetector(model).fit(data.x_train[:n_fit])
    x = data.x_test[:n]
    times = {}
    for name, fn in (("score_samples", lambda: det.score_samples(x)), ("explain", lambda: det.explain(x))):
        call = _fresh(fn)
        call()  # warm-up
        runs = []
        for _ in range(reps):
            t = time.perf_counter()
            call()
            runs.append(time.perf_counter() - t)
        times[name] = statistics.median(runs)
    out = {"images": len(x), "fit_images": min(n_fit, len(data.x_train)), "score_samples_s": times["score_samples"],
           "explain_s": times["explain"], "ratio": times["explain"] / times["score_samples"]}
    out["web"] = _web(model, cfg, det, data, uploads)
    return out


def _web(model: Any, cfg: Any, det: Any, data: Data, uploads: int) -> dict[str, Any]:
    from fastapi.testclient import TestClient
    from PIL import Image

    from latentlab.runs import save_checkpoint
    from latentlab.web.app import create_app

    with tempfile.TemporaryDirectory(prefix="latentlab-bench-explain-") as tmp:
        run_dir = Path(tmp) / "bench-simple"
        save_checkpoint(run_dir, cfg, model, None, {"epoch": 0}, {"status": "finished"})
        det.save(run_dir)
        client = TestClient(create_app([run_dir]), base_url="http://127.0.0.1")  # a Host the server answers
        ms = []
        for i in range(uploads + 2):
            buf = io.BytesIO()
            Image.fromarray(data.x_test[i]).save(buf, format="PNG")
            t = time.perf_counter()
            r = client.post("/api/runs/bench-simple/detect", files={"file": ("x.png", buf.getvalue())})
            if r.status_code != 200 or "explanation" not in r.json():
                return {"status": f"detect answered {r.status_code}: {r.text[:200]}"}
            if i >= 2:  # the first calls load the detector
                ms.append((time.perf_counter() - t) * 1000)
    return {"status": "measured", "uploads": uploads, "p50_ms": float(np.percentile(ms, 50)),
            "p95_ms": float(np.percentile(ms, 95))}


def line(r: dict[str, Any]) -> str:
    web = r["web"]
    tail = (f"; web detect with explanation p50 {web['p50_ms']:.0f} ms, p95 {web['p95_ms']:.0f} ms"
            if web.get("status") == "measured" else f"; web: {web.get('status')}")
    return (f"explain on {r['images']:,} images: {r['explain_s']:.2f} s against score_samples "
            f"{r['score_samples_s']:.2f} s ({r['ratio']:.2f}x; target <= 3x){tail}")
