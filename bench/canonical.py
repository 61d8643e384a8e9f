"""The baseline: a training loop written the way the official PyTorch examples write one.

A `DataLoader` over a `TensorDataset` of float32 images, shuffled, default workers; one zero_grad / backward /
step per batch; Adam; a `test()` pass over the held-out images after each epoch. The model comes from
`latentlab.models.build_model` after the same seed as the engine uses, so both start from identical weights.
Nothing here is tuned: it is the yardstick the engine is measured against.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from latentlab.config import ModelConfig
from latentlab.models import build_model

TEST_BATCH = 1000  # as in pytorch/examples mnist


def to_float(x: np.ndarray) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float32 (N, 1, 28, 28) in [0, 1], the tensor a torchvision ToTensor() pipeline yields."""
    return torch.from_numpy(np.array(x, np.float32) / 255.0).unsqueeze(1)


def train_epoch(model: nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer) -> None:
    model.train()
    for (data,) in loader:
        optimizer.zero_grad()
        loss = model.loss(data)["loss"]
        loss.backward()
        optimizer.step()


def test(model: nn.Module, loader: DataLoader) -> float:
    """Mean loss over the loader's images."""
    model.eval()
    total = 0.0
    with torch.no_grad():
        for (data,) in loader:
            total += model.loss(data)["loss"].item() * len(data)
    return total / len(loader.dataset)


def epochs(model_cfg: ModelConfig, x_train: np.ndarray, x_test: np.ndarray, n_epochs: int, batch_size: int,
           seed: int = 0, lr: float = 1e-3) -> Iterator[dict[str, Any]]:
    """Train for `n_epochs`, yielding one record per epoch: samples_per_s, time_s (training only), val loss."""
    torch.manual_seed(seed)
    model = build_model(model_cfg)
    train_loader = DataLoader(TensorDataset(to_float(x_train)), batch_size=batch_size, shuffle=True)
    test_loader = DataLoader(TensorDataset(to_float(x_test)), batch_size=TEST_BATCH)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for epoch in range(1, n_epochs + 1):
        t0 = time.perf_counter()
        train_epoch(model, train_loader, optimizer)
        elapsed = time.perf_counter() - t0
        val = test(model, test_loader)
        yield {"epoch": epoch, "samples_per_s": len(x_train) / elapsed, "time_s": elapsed, "val": val,
               "eval_s": time.perf_counter() - t0 - elapsed}


def loader_seconds(x_train: np.ndarray, batch_size: int, reps: int = 3) -> float:
    """Median seconds to iterate one epoch of the canonical DataLoader with no model: its fixed cost per epoch."""
    loader = DataLoader(TensorDataset(to_float(x_train)), batch_size=batch_size, shuffle=True)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in loader:
            pass
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def train(model_cfg: ModelConfig, x_train: np.ndarray, x_test: np.ndarray, n_epochs: int, batch_size: int,
          seed: int = 0, lr: float = 1e-3) -> list[dict[str, Any]]:
    """All epochs' records (see `epochs`)."""
    return list(epochs(model_cfg, x_train, x_test, n_epochs, batch_size, seed, lr))
