"""The yardsticks: training loops written the way the official PyTorch examples write them.

A `DataLoader` over a `TensorDataset` of float32 images, shuffled, default workers; one zero_grad / backward /
step per batch; Adam; a `test()` pass over the held-out images after each epoch. Two variants:

- `style="examples"` (the yardstick of `make bench`): the model is written as pytorch/examples writes one, with
  the same layers and sizes as latentlab's, a sigmoid output and `F.binary_cross_entropy` on it (the VAE as in
  examples/vae: `fc21`/`fc22` heads, the loss summed over the batch), torch's default initialisation. This is
  the code a user would otherwise write.
- `style="same-model"`: the same loop running latentlab's own model and `model.loss`, from the engine's initial
  weights. The ratio against it measures the loop alone, with the model's math shared.

Validation losses are in latentlab's units either way: mean BCE per pixel for autoencoders, nats per image
(negative ELBO) for the VAE. Nothing here is tuned.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from latentlab.config import ModelConfig
from latentlab.models import build_model

TEST_BATCH = 1000  # as in pytorch/examples mnist
# Adam's default, as examples/vae uses it: the loop a user would otherwise write. Fixed here, not taken from the
# preset, so that a preset's own learning rate is part of what time to quality measures.
LR = 1e-3
STYLES = ("examples", "same-model")


class Autoencoder(nn.Module):
    """Dense autoencoder, examples style: Linear/ReLU stacks, a sigmoid on the output."""

    def __init__(self, hidden: tuple[int, ...], latent_dim: int) -> None:
        super().__init__()
        sizes = [784, *hidden, latent_dim]
        enc: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:], strict=True):
            enc += [nn.Linear(a, b), nn.ReLU()]
        dec: list[nn.Module] = []
        back = sizes[::-1]
        for i, (a, b) in enumerate(zip(back[:-1], back[1:], strict=True)):
            dec += [nn.Linear(a, b), nn.ReLU() if i < len(back) - 2 else nn.Sigmoid()]
        self.encoder = nn.Sequential(*enc)
        self.decoder = nn.Sequential(*dec)

    def forward(self, x: Tensor) -> Tensor:
        return self.decoder(self.encoder(x.view(-1, 784)))


class ConvAutoencoder(nn.Module):
    """latentlab's conv layout (3x3 stride-2 convs, dense code, transposed convs), examples style."""

    def __init__(self, channels: tuple[int, ...], latent_dim: int) -> None:
        super().__init__()
        c1, c2 = channels
        self.encoder = nn.Sequential(
            nn.Conv2d(1, c1, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(c1, c2, 3, stride=2, padding=1), nn.ReLU(),
            nn.Flatten(), nn.Linear(c2 * 7 * 7, latent_dim))
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, c2 * 7 * 7), nn.ReLU(), nn.Unflatten(1, (c2, 7, 7)),
            nn.ConvTranspose2d(c2, c1, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
            nn.ConvTranspose2d(c1, 1, 3, stride=2, padding=1, output_padding=1), nn.Sigmoid())

    def forward(self, x: Tensor) -> Tensor:
        return self.decoder(self.encoder(x))


class VAE(nn.Module):
    """examples/vae/main.py with latentlab's sizes (one hidden layer)."""

    def __init__(self, hidden: int, latent_dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(784, hidden)
        self.fc21 = nn.Linear(hidden, latent_dim)
        self.fc22 = nn.Linear(hidden, latent_dim)
        self.fc3 = nn.Linear(latent_dim, hidden)
        self.fc4 = nn.Linear(hidden, 784)

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu: Tensor, logvar: Tensor) -> Tensor:
        std = torch.exp(0.5 * logvar)
        eps = torch.randn_like(std)
        return mu + eps * std

    def decode(self, z: Tensor) -> Tensor:
        h3 = F.relu(self.fc3(z))
        return torch.sigmoid(self.fc4(h3))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        mu, logvar = self.encode(x.view(-1, 784))
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


def vae_loss_function(recon_x: Tensor, x: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    bce = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce + kld


def examples_model(cfg: ModelConfig) -> tuple[nn.Module, Callable[[nn.Module, Tensor], Tensor], bool]:
    """The examples-style model for `cfg`, its loss(model, data), and whether that loss is a batch sum."""
    if cfg.kind == "vae":
        if cfg.encoder != "dense" or len(cfg.hidden) != 1:
            raise ValueError("the examples-style VAE has one dense hidden layer")

        def vae_loss(model: nn.Module, data: Tensor) -> Tensor:
            recon, mu, logvar = model(data)
            return vae_loss_function(recon, data, mu, logvar)

        return VAE(cfg.hidden[0], cfg.latent_dim), vae_loss, True
    model: nn.Module
    if cfg.kind == "conv":
        model = ConvAutoencoder(cfg.hidden or (32, 64), cfg.latent_dim)
    else:
        model = Autoencoder(cfg.hidden, cfg.latent_dim)

    def ae_loss(model: nn.Module, data: Tensor) -> Tensor:
        out = model(data)
        return F.binary_cross_entropy(out, data.view_as(out))

    return model, ae_loss, False


def same_model(cfg: ModelConfig) -> tuple[nn.Module, Callable[[nn.Module, Tensor], Tensor], bool]:
    """latentlab's model for `cfg` (its initial weights follow the seed, as in the engine) and its loss."""
    return build_model(cfg), lambda model, data: model.loss(data)["loss"], False


def to_float(x: np.ndarray) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float32 (N, 1, 28, 28) in [0, 1], the tensor a torchvision ToTensor() pipeline yields."""
    return torch.from_numpy(np.array(x, np.float32) / 255.0).unsqueeze(1)


def train_epoch(model: nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer,
                loss_fn: Callable[[nn.Module, Tensor], Tensor]) -> None:
    model.train()
    for (data,) in loader:
        optimizer.zero_grad()
        loss = loss_fn(model, data)
        loss.backward()
        optimizer.step()


def test(model: nn.Module, loader: DataLoader, loss_fn: Callable[[nn.Module, Tensor], Tensor],
         summed: bool) -> float:
    """Mean loss per image (VAE) or per pixel (autoencoders) over the loader's images."""
    model.eval()
    total = 0.0
    with torch.no_grad():
        for (data,) in loader:
            loss = loss_fn(model, data).item()
            total += loss if summed else loss * len(data)
    return total / len(loader.dataset)


def epochs(model_cfg: ModelConfig, x_train: np.ndarray, x_test: np.ndarray, n_epochs: int, batch_size: int,
           seed: int = 0, lr: float = LR, style: str = "examples") -> Iterator[dict[str, Any]]:
    """Train for `n_epochs`, yielding one record per epoch: samples_per_s, time_s (training only), val loss."""
    if style not in STYLES:
        raise ValueError(f"style must be one of {STYLES}, not {style!r}")
    torch.manual_seed(seed)
    model, loss_fn, summed = (examples_model if style == "examples" else same_model)(model_cfg)
    train_loader = DataLoader(TensorDataset(to_float(x_train)), batch_size=batch_size, shuffle=True)
    test_loader = DataLoader(TensorDataset(to_float(x_test)), batch_size=TEST_BATCH)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for epoch in range(1, n_epochs + 1):
        t0 = time.perf_counter()
        train_epoch(model, train_loader, optimizer, loss_fn)
        elapsed = time.perf_counter() - t0
        val = test(model, test_loader, loss_fn, summed)
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
          seed: int = 0, lr: float = LR, style: str = "examples") -> list[dict[str, Any]]:
    """All epochs' records (see `epochs`)."""
    return list(epochs(model_cfg, x_train, x_test, n_epochs, batch_size, seed, lr, style))
