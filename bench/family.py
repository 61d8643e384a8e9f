"""The VAE family against pythae (issue 24): same data, networks (784-512-z), epochs, batch size and learning rate.

For each model, data set and latent size, both tools train in a fresh process of their own (latentlab through its
CLI, `latentlab train`; pythae through its `TrainingPipeline` in a bench-only venv, `bench/family_pythae.py`), and
the test metrics of both tools' trained weights are computed by the SAME latentlab code: pythae's weights are mapped
into latentlab's modules, and the mapping is checked on the outputs pythae's own modules gave for 64 test images.

    python bench/family.py --smoke      # tiny sizes, seconds per case (tests/test_bench.py runs it)
    python bench/run.py --only family   # the real comparison (see bench/README.md for its duration)

pythae must never be a dependency of latentlab: it lives in its own venv (`make bench/pythae-venv`, or
$PYTHAE_PYTHON naming any interpreter that imports pythae 0.1.2 beside torch 2.13.0). Without one, only
latentlab's side runs and the table says so.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import load_average, machine, machine_line  # noqa: E402
from bench.family_map import check_probe, load_pythae  # noqa: E402

# name -> (latentlab kind, its config fields, pythae's model name, pythae's options): the settings that are not the
# networks (beta, K, pseudo-inputs, codebook, MMD weight) set equal on both sides. pythae's dense VQ-VAE quantises
# every latent value on its own (embedding_dim 1), so latentlab's runs with code_dim 1 to match.
CASES: dict[str, tuple[str, dict[str, Any], str, dict[str, Any]]] = {
    "vae": ("vae", {}, "vae", {}),
    "beta-vae": ("vae", {"model.beta": 4.0}, "beta-vae", {"beta": 4.0}),
    "iwae": ("iwae", {"model.iwae_samples": 5}, "iwae", {"k": 5}),
    "vamp": ("vamp", {"model.pseudo_inputs": 500}, "vamp", {"components": 500}),
    "vqvae": ("vqvae", {"model.code_dim": 1, "model.codebook_size": 512}, "vqvae", {"codebook": 512}),
    "wae": ("wae", {"model.mmd_weight": 10.0}, "wae", {"mmd_weight": 10.0}),
}


@dataclass(frozen=True)
class Plan:
    epochs: int = 5
    batch: int = 128
    lr: float = 1e-3
    datasets: tuple[str, ...] = ("fashion-mnist", "mnist-sample")
    latents: tuple[int, ...] = (2, 16)
    models: tuple[str, ...] = tuple(CASES)
    nll_k: int = 1000  # importance samples per test image
    nll_images: int = 1000  # the first N test images
    n_train: int | None = None  # None: the whole split
    n_test: int | None = None
    timeout_s: float = 3600.0
    threads: int | None = None  # torch threads in both tools' processes; None: each tool's default
    seed: int = 0  # both tools' training seed (weights and shuffling; each draws them its own way)


FULL = Plan()
SMOKE = Plan(epochs=1, batch=64, datasets=("mnist-sample",), latents=(2,), nll_k=4, nll_images=32, n_train=512,
             n_test=128, timeout_s=300.0, threads=1)


def pythae_python() -> str | None:
    """The interpreter of the bench-only pythae venv: $PYTHAE_PYTHON, bench/pythae-venv, or /tmp/pythae-venv."""
    for cand in (os.environ.get("PYTHAE_PYTHON"), ROOT / "bench" / "pythae-venv" / "bin" / "python",
                 Path("/tmp/pythae-venv/bin/python")):
        if cand and Path(cand).is_file():
            return str(cand)
    return None


def write_data(name: str, plan: Plan, folder: Path) -> tuple[Path, dict[str, Any]]:
    """The data set as one .npz both tools read (uint8 x, y, x_test, y_test), cut to the plan's sizes; never a
    download (full Fashion-MNIST must be installed: `apt-get install dataset-fashion-mnist`)."""
    from latentlab.data import load_dataset

    d = load_dataset(name, download=False, progress=False)
    x, y = d.x_train[:plan.n_train], d.y_train[:plan.n_train]
    xt, yt = d.x_test[:plan.n_test], d.y_test[:plan.n_test]
    path = folder / f"{name}.npz"
    np.savez(path, x=x, y=y, x_test=xt, y_test=yt)
    return path, {"name": d.name, "source": d.source, "n_train": len(x), "n_test": len(xt)}


def _env(plan: Plan) -> dict[str, str]:
    env = dict(os.environ)
    if plan.threads:
        env["OMP_NUM_THREADS"] = str(plan.threads)
    return env


def train_latentlab(model: str, latent: int, data: Path, plan: Plan, out: Path) -> dict[str, Any]:
    kind, fields, _, _ = CASES[model]
    sets = [f"model.kind={kind}", *(f"{k}={v}" for k, v in fields.items())]
    cmd = [sys.executable, "-m", "latentlab", "train", "mnist-vae", "--dataset", str(data), "--epochs",
           str(plan.epochs), "--batch-size", str(plan.batch), "--lr", str(plan.lr), "--latent-dim", str(latent),
           "--device", "cpu", "--seed", str(plan.seed), "--out", str(out), "--quiet", "--overwrite",
           *(a for s in sets for a in ("--set", s))]
    t = time.perf_counter()
    subprocess.run(cmd, check=True, timeout=plan.timeout_s, env=_env(plan), capture_output=True, text=True)
    wall = time.perf_counter() - t
    meta = json.loads((out / "meta.json").read_text())
    return {"process_s": wall, "train_s": meta.get("train_time_s"), "command": " ".join(cmd[1:])}


def train_pythae(python: str, model: str, latent: int, data: Path, plan: Plan, out: Path) -> dict[str, Any]:
    _, _, name, options = CASES[model]
    cmd = [python, str(ROOT / "bench" / "family_pythae.py"), "--model", name, "--latent", str(latent), "--data",
           str(data), "--epochs", str(plan.epochs), "--batch", str(plan.batch), "--lr", str(plan.lr),
           "--seed", str(plan.seed), "--options", json.dumps(options), "--out", str(out)]
    t = time.perf_counter()
    subprocess.run(cmd, check=True, timeout=plan.timeout_s, env=_env(plan), capture_output=True, text=True,
                   cwd=out.parent)
    wall = time.perf_counter() - t
    timing = json.loads((out / "timing.json").read_text())
    return {"process_s": wall, "train_s": timing["train_s"], "import_s": timing["import_s"]}


def evaluate(model: torch.nn.Module, x_test: np.ndarray, plan: Plan) -> dict[str, Any]:
    """Test metrics of one trained model, the same code for both tools' weights (nats per image): "nll" by
    importance sampling (K = plan.nll_k on the first plan.nll_images images; None without a likelihood), "neg_elbo"
    and "kl" (one posterior draw, seed 0), "bce_at_code" (-log p(x|z) at the encoder's code) and "mse" per pixel."""
    from latentlab.analysis import inference
    from latentlab.models import has_likelihood, has_prior

    terms = inference.per_image(model, x_test)
    out: dict[str, Any] = {"bce_at_code": float(terms["bce"].mean()), "mse": float(terms["mse"].mean()),
                           "nll": None, "neg_elbo": None, "kl": None}
    if has_prior(model):
        out["neg_elbo"], out["kl"] = float(terms["neg_elbo"].mean()), float(terms["kl"].mean())
    if has_likelihood(model):
        x = x_test[:plan.nll_images]
        out["nll"] = -float(inference.iwae_log_likelihood(model, x, plan.nll_k).mean())
    return out


def run(plan: Plan = FULL, log=print, workdir: Path | None = None, on_case=None) -> dict[str, Any]:
    """Every (data set, latent size, model) case of `plan`: both tools' times and metrics, and their ratios.
    `on_case(results)` is called after each case, so that a run stopped after an hour keeps what it measured."""
    from latentlab.runs import load_run

    python = pythae_python()
    started = time.perf_counter()
    results: dict[str, Any] = {"plan": asdict(plan), "pythae_python": python, "cases": [], "data": {},
                               "machine": machine(), "load_average_start": load_average()}
    if python is None:
        results["note"] = ("no pythae venv: only latentlab's side ran; make one with `make bench/pythae-venv` or set "
                           "PYTHAE_PYTHON")
    with tempfile.TemporaryDirectory(prefix="latentlab-family-") as tmp:
        folder = Path(workdir or tmp)
        for name in plan.datasets:
            data, results["data"][name] = write_data(name, plan, folder)
            with np.load(data) as z:
                x_test = z["x_test"]
            for latent in plan.latents:
                for model in plan.models:
                    log(f"  family: {model}, {latent}-D, on {name}")
                    case: dict[str, Any] = {"model": model, "latent": latent, "dataset": name}
                    run_dir = folder / f"{name}-{model}-{latent}"
                    case["latentlab"] = train_latentlab(model, latent, data, plan, run_dir / "latentlab")
                    ours = load_run(run_dir / "latentlab")
                    case["latentlab"]["test"] = evaluate(ours.model, x_test, plan)
                    if python is not None:
                        case["pythae"] = train_pythae(python, model, latent, data, plan, run_dir / "pythae")
                        theirs = load_pythae(ours.config.model, run_dir / "pythae" / "weights.npz")
                        case["pythae"]["mapping_max_abs_diff"] = check_probe(theirs, run_dir / "pythae" / "probe.npz")
                        case["pythae"]["test"] = evaluate(theirs, x_test, plan)
                        case["ratios"] = ratios(case)
                    results["cases"].append(case)
                    if on_case is not None:
                        on_case({**results, "wall_s": time.perf_counter() - started, "partial": True})
    results["wall_s"] = time.perf_counter() - started
    results["load_average_end"] = load_average()
    return results


def ratios(case: dict[str, Any]) -> dict[str, Any]:
    """pythae's time over latentlab's (above 1: latentlab faster), and latentlab's metric minus pythae's (below 0:
    latentlab better), for the NLL where both have one, else the reconstruction at the code."""
    a, b = case["latentlab"], case["pythae"]
    key = "nll" if a["test"]["nll"] is not None and b["test"]["nll"] is not None else "bce_at_code"
    return {"process": b["process_s"] / a["process_s"], "train": b["train_s"] / a["train_s"] if a["train_s"] else None,
            "metric": key, "delta": a["test"][key] - b["test"][key]}


def markdown(results: dict[str, Any]) -> str:
    """The comparison as one markdown table (nats per image; times in seconds)."""
    head = ("| data | z | model | latentlab process / train s | pythae process / train s | speed-up process / train "
            "| test NLL latentlab / pythae | recon at code latentlab / pythae |\n|---|---|---|---|---|---|---|---|")
    lines = [machine_line(results["machine"], results["load_average_start"], results["load_average_end"])
             + f"; {results['wall_s'] / 60:.1f} minutes in all", "", head]
    for c in results["cases"]:
        a, b, r = c["latentlab"], c.get("pythae"), c.get("ratios")

        def pair(key: str, a=a, b=b) -> str:
            x, y = a["test"][key], (b or {}).get("test", {}).get(key)
            return " / ".join("–" if v is None else f"{v:.2f}" for v in (x, y))

        times_b = f"{b['process_s']:.1f} / {b['train_s']:.1f}" if b else "not run"
        speed = f"{r['process']:.2f}x / {r['train']:.2f}x" if r and r["train"] else "–"
        lines.append(f"| {c['dataset']} | {c['latent']} | {c['model']} | {a['process_s']:.1f} / {a['train_s']:.1f} "
                     f"| {times_b} | {speed} | {pair('nll')} | {pair('bce_at_code')} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--smoke", action="store_true", help="tiny sizes: check that every path runs")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results-family.json")
    args = p.parse_args(argv)
    def keep(partial: dict[str, Any]) -> None:
        args.out.with_suffix(".partial.json").write_text(json.dumps(partial, indent=2) + "\n")

    results = run(SMOKE if args.smoke else FULL, log=lambda m: print(m, file=sys.stderr, flush=True), on_case=keep)
    args.out.with_suffix(".partial.json").unlink(missing_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    table = markdown(results)
    args.out.with_suffix(".md").write_text(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
