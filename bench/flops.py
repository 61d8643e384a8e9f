"""How close the engine gets to the machine's limit: training FLOPs per sample against sustained matmul GFLOP/s.

FLOPs are counted from the layers a forward pass actually runs (hooks on Linear, Conv2d, ConvTranspose2d):
forward = 2 x multiply-accumulates, training = 3 x forward (backward ~ 2 x forward). Element-wise work
(activations, the loss, Adam) is not counted: it is memory traffic, not arithmetic, and is where the
profiler shows the rest of the time going.
"""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import nn

from bench.common import median

# GEMM shapes (M, K, N) like the models' own at their preset batch sizes, and a large square one.
GEMMS: dict[str, tuple[int, int, int]] = {
    "square 2048": (2048, 2048, 2048),
    "vae 128x784x512": (128, 784, 512),
    "deep 256x784x128": (256, 784, 128),
    "simple 256x784x32": (256, 784, 32),
}


def macs_per_sample(model: nn.Module, x: torch.Tensor) -> int:
    """Multiply-accumulates of one forward pass (encoder and decoder, via `model.loss`), per image of `x`."""
    total = 0

    def hook(m: nn.Module, inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(m, nn.Linear):
            total += out.numel() * m.in_features
        elif isinstance(m, nn.Conv2d):
            # every output element sums over (in_channels / groups) x kernel taps
            total += out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
        elif isinstance(m, nn.ConvTranspose2d):
            # every input element is scattered to (out_channels / groups) x kernel taps
            x_in = inputs[0]
            total += x_in.numel() * (m.out_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, nn.Linear | nn.Conv2d | nn.ConvTranspose2d)]
    try:
        with torch.no_grad():
            model.loss(x)
    finally:
        for h in handles:
            h.remove()
    return total // len(x)


def train_flops_per_sample(model: nn.Module) -> int:
    macs = macs_per_sample(model, torch.rand(4, 1, 28, 28))
    return 3 * 2 * macs


def matmul_gflops(m: int, k: int, n: int, seconds: float = 1.0, reps: int = 3) -> float:
    """Sustained float32 torch.mm GFLOP/s for (m, k) @ (k, n): the median of `reps` timed windows."""
    a, b = torch.randn(m, k), torch.randn(k, n)
    out = torch.empty(m, n)
    inner = max(1, int(2e8 / (2 * m * k * n)))  # ~0.2 GFLOP per timing check
    for _ in range(3):
        torch.mm(a, b, out=out)
    rates = []
    for _ in range(reps):
        done, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds / reps:
            for _ in range(inner):
                torch.mm(a, b, out=out)
            done += inner
        rates.append(2 * m * k * n * done / (time.perf_counter() - t0) / 1e9)
    return median(rates)


def square_gflops(seconds: float = 1.0, shapes: dict[str, tuple[int, int, int]] | None = None) -> float:
    """GFLOP/s of the first shape (default the large square): a quick reading of the machine's current speed."""
    return matmul_gflops(*next(iter((shapes or GEMMS).values())), seconds=seconds)


def peak(seconds: float = 1.0, shapes: dict[str, tuple[int, int, int]] | None = None) -> dict[str, Any]:
    """GFLOP/s of each shape (default GEMMS); `peak_gflops` is the best of them (the machine's practical limit)."""
    rates = {name: matmul_gflops(*shape, seconds=seconds) for name, shape in (shapes or GEMMS).items()}
    return {"gemm_gflops": rates, "peak_gflops": max(rates.values())}
