"""`--only colour`: the conv autoencoder on 32x32 colour images against a plain PyTorch loop of the same architecture,
side by side, and the peak memory of training on 50,000 colour images.

The data: CIFAR-10 when it is on disk (never downloaded here), else tiles of scikit-learn's two sample photographs
every 4 pixels (about 25,000; `latentlab.data.tiles`). The plain loop is written as pytorch/examples writes one: a
`DataLoader` over a `TensorDataset` of float32 (N, 3, 32, 32) images, shuffled, Adam, the model with a sigmoid output
and `F.mse_loss` on it, torch's default initialisation; the same layers and sizes as the `cifar10-conv` preset's
model, and the same loss units (mean squared error per value). Engine and plain loop alternate, repetition by
repetition; throughput is the median over every epoch but each run's first.

Step times: the same two training steps timed in short alternating rounds on one thread (median ms per step over
the rounds), which a busy machine disturbs far less than whole epochs: on 2 shared cores torch's two threads
collapse whenever another process runs, and the epoch numbers then measure the neighbours.

Memory: `latentlab train cifar10-conv` on 50,000 colour images (the tiles, flipped and repeated) for one epoch in a
child process under /usr/bin/time -v; "Maximum resident set size" is its peak RSS. The images stay uint8 (150 MiB);
only a batch is ever float.

    python bench/colour.py memory N   # the child: write N images to an .npz and train on them
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

ROOT = Path(__file__).resolve().parent.parent
PRESET = "cifar10-conv"
MEMORY_IMAGES = 50_000
MEMORY_LIMIT_MIB = 1.5e9 / 2**20  # 1.5 GB


def load_colour(n_train: int | None = None, n_test: int | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """(x_train, x_test, where from): CIFAR-10 if on disk, else photo tiles every 4 pixels; uint8 (N, 32, 32, 3)."""
    from latentlab.data import DatasetError, load_dataset
    from latentlab.data.tiles import photo_tiles

    try:
        d = load_dataset("cifar10", download=False, progress=False)
    except DatasetError:
        d = photo_tiles(stride=4)
    return d.x_train[:n_train], d.x_test[:n_test], f"{d.name}: {d.source}"


class PlainConvAutoencoder(nn.Module):
    """The cifar10-conv preset's layers, examples style: 3x3 stride-2 convs, a dense code, transposed convs back."""

    def __init__(self, channels: tuple[int, int], latent_dim: int) -> None:
        super().__init__()
        c1, c2 = channels
        self.encoder = nn.Sequential(
            nn.Conv2d(3, c1, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(c1, c2, 3, stride=2, padding=1), nn.ReLU(),
            nn.Flatten(), nn.Linear(c2 * 8 * 8, latent_dim))
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, c2 * 8 * 8), nn.ReLU(), nn.Unflatten(1, (c2, 8, 8)),
            nn.ConvTranspose2d(c2, c1, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
            nn.ConvTranspose2d(c1, 3, 3, stride=2, padding=1, output_padding=1), nn.Sigmoid())

    def forward(self, x: Tensor) -> Tensor:
        return self.decoder(self.encoder(x))


def _floats(x: np.ndarray) -> Tensor:
    """uint8 (N, H, W, 3) -> float32 (N, 3, H, W) in [0, 1], what a torchvision ToTensor() pipeline yields."""
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2), np.float32) / 255.0)


def plain_run(x_train: np.ndarray, x_test: np.ndarray, epochs: int, batch_size: int, seed: int = 0,
              lr: float = 1e-3) -> list[dict[str, Any]]:
    """The plain loop; per epoch: samples/s (training only) and the test MSE per value."""
    from latentlab.presets import preset_config

    m = preset_config(PRESET).model
    torch.manual_seed(seed)
    model = PlainConvAutoencoder(m.hidden, m.latent_dim)  # type: ignore[arg-type]
    train_loader = DataLoader(TensorDataset(_floats(x_train)), batch_size=batch_size, shuffle=True)
    test_loader = DataLoader(TensorDataset(_floats(x_test)), batch_size=1000)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    out = []
    for epoch in range(1, epochs + 1):
        model.train()
        t0 = time.perf_counter()
        for (data,) in train_loader:
            optimizer.zero_grad()
            F.mse_loss(model(data), data).backward()
            optimizer.step()
        elapsed = time.perf_counter() - t0
        model.eval()
        with torch.no_grad():
            val = sum(F.mse_loss(model(d), d).item() * len(d) for (d,) in test_loader) / len(x_test)
        out.append({"epoch": epoch, "samples_per_s": len(x_train) / elapsed, "time_s": elapsed, "val": val})
    return out


def engine_run(x_train: np.ndarray, x_test: np.ndarray, epochs: int, seed: int = 0) -> list[dict[str, Any]]:
    from latentlab.presets import preset_config
    from latentlab.training import train

    cfg = preset_config(PRESET, "full")
    cfg = replace(cfg, train=replace(cfg.train, epochs=epochs, device="cpu", seed=seed))
    result = train(cfg, x_train, x_test, None, quiet=True)
    return [{"epoch": h["epoch"], "samples_per_s": h["samples_per_s"], "time_s": h["time_s"],
             "val": h["val"]["loss"]} for h in result.history]


def compare(epochs: int, reps: int, n_train: int | None = None, n_test: int | None = None) -> dict[str, Any]:
    """Engine and plain loop, alternated `reps` times for `epochs` epochs each, on the colour data."""
    from latentlab.presets import preset_config

    x_train, x_test, source = load_colour(n_train, n_test)
    batch = preset_config(PRESET).train.batch_size
    runs: dict[str, list[list[dict[str, Any]]]] = {"engine": [], "plain": []}
    for rep in range(reps):
        for side in (("engine", "plain") if rep % 2 == 0 else ("plain", "engine")):
            runs[side].append(engine_run(x_train, x_test, epochs, rep) if side == "engine" else
                              plain_run(x_train, x_test, epochs, batch, rep))

    def steady(side: str) -> float:
        values = [h["samples_per_s"] for run in runs[side] for h in run[1:]] or \
                 [h["samples_per_s"] for run in runs[side] for h in run]
        return float(np.median(values))

    def final(side: str) -> float:
        return float(np.median([run[-1]["val"] for run in runs[side]]))

    return {"data": source, "n_train": len(x_train), "n_test": len(x_test), "epochs": epochs, "reps": reps,
            "batch_size": batch, "loss": "mean squared error per value (test split)",
            "engine_samples_per_s": steady("engine"), "plain_samples_per_s": steady("plain"),
            "ratio": steady("engine") / steady("plain"), "val_loss_engine": final("engine"),
            "val_loss_plain": final("plain"), "val_loss_ratio": final("engine") / final("plain"), "runs": runs}


def step_times(x_train: np.ndarray, rounds: int = 8, steps: int = 10, batch_size: int = 128,
               threads: int = 1) -> dict[str, Any]:
    """Median seconds per training step of the engine's step (uint8 rows gathered, made float per batch, fused Adam)
    and the plain loop's (float rows, Adam), alternating rounds of `steps` steps on `threads` threads."""
    from latentlab.models import build_model
    from latentlab.presets import preset_config
    from latentlab.training.optim import build_optimizer
    from latentlab.training.steps import to_float

    cfg = preset_config(PRESET)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)  # as the engine's loop does on a CPU
    try:
        torch.manual_seed(0)
        uint8, floats = torch.from_numpy(np.ascontiguousarray(x_train)), _floats(x_train)
        engine = build_model(cfg.model)
        engine_opt = build_optimizer(engine, cfg.train)
        plain = PlainConvAutoencoder(cfg.model.hidden, cfg.model.latent_dim)  # type: ignore[arg-type]
        plain_opt = torch.optim.Adam(plain.parameters(), lr=cfg.train.lr)

        def engine_step() -> None:
            xb = to_float(uint8.index_select(0, torch.randint(0, len(uint8), (batch_size,))))
            loss = engine.loss(xb, xb)["loss"]
            engine_opt.zero_grad(set_to_none=True)
            loss.backward()
            engine_opt.step()

        def plain_step() -> None:
            xb = floats[torch.randint(0, len(floats), (batch_size,))]
            plain_opt.zero_grad()
            F.mse_loss(plain(xb), xb).backward()
            plain_opt.step()

        times: dict[str, list[float]] = {"engine": [], "plain": []}
        for step in (engine_step, plain_step):  # warm-up
            for _ in range(3):
                step()
        for _ in range(rounds):
            for name, step in (("engine", engine_step), ("plain", plain_step)):
                t0 = time.perf_counter()
                for _ in range(steps):
                    step()
                times[name].append((time.perf_counter() - t0) / steps)
    finally:
        torch.set_num_threads(previous)
        torch.set_flush_denormal(False)
    med = {k: float(np.median(v)) for k, v in times.items()}
    return {"threads": threads, "batch_size": batch_size, "rounds": rounds, "steps_per_round": steps,
            "engine_ms_per_step": 1000 * med["engine"], "plain_ms_per_step": 1000 * med["plain"],
            "ratio": med["plain"] / med["engine"], "per_round_s": times}


def peak_memory(n: int = MEMORY_IMAGES, epochs: int = 1) -> dict[str, Any]:
    """Peak RSS (MiB, /usr/bin/time -v) of `latentlab train cifar10-conv` on `n` colour images for `epochs`."""
    with tempfile.TemporaryDirectory(prefix="latentlab-colour-") as tmp:
        npz = Path(tmp) / "colour.npz"
        x_train, x_test, source = load_colour()
        reps = -(-n // (2 * len(x_train)))
        x = np.concatenate([x_train, x_train[:, :, ::-1]] * reps)[:n]  # flipped and repeated up to n
        np.savez(npz, x=x, x_test=x_test[:2000])
        del x
        cmd = ["/usr/bin/time", "-v", sys.executable, "-m", "latentlab", "train", PRESET, "--dataset", str(npz),
               "--epochs", str(epochs), "--out", str(Path(tmp) / "run"), "--quiet"]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"the memory run failed ({proc.returncode}): {proc.stderr[-2000:]}")
    kib = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)[1])  # type: ignore[index]
    return {"n_train": n, "epochs": epochs, "data": f"{source}, flipped and repeated", "peak_rss_mib": kib / 1024,
            "limit_mib": MEMORY_LIMIT_MIB, "met": kib / 1024 <= MEMORY_LIMIT_MIB, "wall_s": wall,
            "uint8_images_mib": n * 32 * 32 * 3 / 2**20}


def run(epochs: int, reps: int, memory_images: int, n_train: int | None = None,
        n_test: int | None = None) -> dict[str, Any]:
    x_train = load_colour(n_train, n_test)[0]
    return {"throughput": compare(epochs, reps, n_train, n_test), "steps": step_times(x_train),
            "memory": peak_memory(memory_images)}


def line(r: dict[str, Any]) -> str:
    t, m, s = r["throughput"], r["memory"], r.get("steps")
    steps = (f"; one thread, alternating steps: {s['engine_ms_per_step']:.0f} vs {s['plain_ms_per_step']:.0f} ms, "
             f"x{s['ratio']:.2f}" if s else "")
    return (f"colour conv AE ({t['n_train']:,} images, {t['epochs']} epochs x {t['reps']}): engine "
            f"{t['engine_samples_per_s']:,.0f}/s vs plain loop {t['plain_samples_per_s']:,.0f}/s, x{t['ratio']:.2f}"
            f"{steps}; test MSE {t['val_loss_engine']:.5f} vs {t['val_loss_plain']:.5f} ({t['val_loss_ratio']:.3f}); "
            f"peak RSS on {m['n_train']:,} images {m['peak_rss_mib']:,.0f} MiB (limit {m['limit_mib']:,.0f})")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    print(peak_memory(int(sys.argv[2]) if len(sys.argv) > 2 else MEMORY_IMAGES))
