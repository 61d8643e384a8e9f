"""Where the VAE's training time goes in each tool: torch.profiler over one epoch of latentlab's `fit` and of
pythae's `TrainingPipeline`, the same 784-512-2 Bernoulli VAE, batch 128, Adam at lr 1e-3, on the first 20,000
Fashion-MNIST training images (no evaluation split on either side).

Both sides run the same matrix products, so the share of the epoch outside them bounds the speed-up any loop can
give: if latentlab's rest cost nothing, pythae's epoch over latentlab's matmul time is the ceiling.

    python bench/family_profile.py                  # both tools (pythae's side in its venv), prints the table
    python bench/family_profile.py --tool latentlab # one side, JSON on stdout (the pythae venv runs --tool pythae)

It imports only torch, numpy and the one tool it profiles, so the pythae venv can run it as is.
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile

FASHION = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")
N_IMAGES = 20_000
MATMUL = ("aten::mm", "aten::addmm", "aten::bmm")  # where the 784x512 products run, forward and backward


def images(n: int = N_IMAGES) -> np.ndarray:
    """The first `n` Fashion-MNIST training images, uint8 (n, 28, 28), read from the IDX file (16-byte header)."""
    with gzip.open(FASHION) as f:
        raw = np.frombuffer(f.read(), dtype=np.uint8, offset=16)
    return raw.reshape(-1, 28, 28)[:n].copy()


def _latentlab(x: np.ndarray) -> None:
    from latentlab.config import override
    from latentlab.presets import preset_config
    from latentlab.training import train

    cfg = override(preset_config("mnist-vae", "quick"), {"train.epochs": 1, "train.batch_size": 128, "train.lr": 1e-3,
                                                         "model.latent_dim": 2})
    train(cfg, x, None, None, quiet=True)


def _pythae(x: np.ndarray) -> None:
    import logging

    from pythae import models as pm
    from pythae.pipelines import TrainingPipeline
    from pythae.trainers import BaseTrainerConfig

    logging.getLogger("pythae").setLevel(logging.WARNING)
    model = pm.BetaVAE(pm.BetaVAEConfig(input_dim=(1, 28, 28), latent_dim=2, reconstruction_loss="bce", beta=1.0))
    out = Path("/tmp/latentlab-family-profile")
    config = BaseTrainerConfig(output_dir=str(out), num_epochs=1, learning_rate=1e-3, per_device_train_batch_size=128,
                               seed=0, no_cuda=True)
    TrainingPipeline(training_config=config, model=model)(train_data=(x.astype(np.float32) / 255.0)[:, None])


def measure(tool: str, n: int = N_IMAGES) -> dict:
    """One epoch of `tool` unprofiled (warm-up and wall time), then one under the profiler: the seconds, and the
    self CPU time of the matmul operators against all operators."""
    run = {"latentlab": _latentlab, "pythae": _pythae}[tool]
    x = images(n)
    run(x[:2560])  # warm-up: imports, allocator, oneDNN kernels
    t = time.perf_counter()
    run(x)
    wall = time.perf_counter() - t
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        run(x)
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events) / 1e6
    mm = sum(e.self_cpu_time_total for e in events if e.key in MATMUL) / 1e6
    return {"tool": tool, "epoch_s": wall, "images": len(x), "profiled_self_cpu_s": total, "matmul_self_cpu_s": mm,
            "matmul_share": mm / total, "threads": torch.get_num_threads()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tool", choices=("latentlab", "pythae"))
    p.add_argument("--images", type=int, default=N_IMAGES, help="training images per epoch (smaller: a smoke run)")
    args = p.parse_args(argv)
    if args.tool:
        print(json.dumps(measure(args.tool, args.images)))
        return 0
    root = Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(root))
    from bench.common import load_average
    from bench.family import pythae_python

    load = load_average()
    rows = [json.loads(subprocess.run([py, __file__, "--tool", tool, "--images", str(args.images)], check=True,
                                      capture_output=True, text=True).stdout.splitlines()[-1])
            for tool, py in (("latentlab", sys.executable), ("pythae", pythae_python()))]
    a, b = rows
    ceiling = b["epoch_s"] / (a["epoch_s"] * a["matmul_share"])
    print(json.dumps({"rows": rows, "speed_up": b["epoch_s"] / a["epoch_s"], "ceiling": ceiling,
                      "load_average_start": load, "load_average_end": load_average()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
