"""Deterministic autoencoders: dense (the seed's 784-32-784 and deep stack) and convolutional."""

from __future__ import annotations

from torch import Tensor, nn

from latentlab.config import ModelConfig
from latentlab.models.base import LatentModel
from latentlab.models.layers import PIXELS, channels_last_, conv_decoder, conv_encoder, glorot_, mlp
from latentlab.models.losses import bce_with_logits_sum


class Autoencoder(LatentModel):
    """Images (B, 1, 28, 28) in [0, 1] -> code (B, latent_dim) -> logits of the same shape."""

    encoder: nn.Module

    def encode(self, x: Tensor) -> Tensor:
        return self.encoder(x)

    def loss(self, x: Tensor, target: Tensor | None = None) -> dict[str, Tensor]:
        """Mean per-pixel binary cross-entropy of the reconstruction of `x` against `target` (default `x`)."""
        target = x if target is None else target
        logits = self.decode_logits(self.encode(x))
        # From logits, not sigmoid-then-BCE: stable where the output saturates.
        recon = bce_with_logits_sum(logits, target) / target.numel()
        return {"loss": recon, "recon": recon}


class DenseAutoencoder(Autoencoder):
    """784 -> hidden... -> latent_dim (ReLU code) -> reversed hidden -> 784 (sigmoid)."""

    def __init__(self, hidden: tuple[int, ...] = (), latent_dim: int = 32) -> None:
        super().__init__(latent_dim)
        sizes = [PIXELS, *hidden, latent_dim]
        # ReLU on the code, as in the seed's Keras models.
        self.encoder = nn.Sequential(nn.Flatten(), mlp(sizes, last_activation=True))
        self.decoder = mlp(sizes[::-1], last_activation=False)
        glorot_(self)

    @classmethod
    def from_config(cls, cfg: ModelConfig) -> DenseAutoencoder:
        return cls(hidden=cfg.hidden, latent_dim=cfg.latent_dim)


class ConvAutoencoder(Autoencoder):
    """Stride-2 conv encoder and transposed-conv decoder around a dense code of `latent_dim` units."""

    def __init__(self, channels: tuple[int, ...] = (32, 64), latent_dim: int = 32) -> None:
        super().__init__(latent_dim)
        trunk, width = conv_encoder(channels)
        self.encoder = nn.Sequential(trunk, nn.Linear(width, latent_dim))
        self.decoder = conv_decoder(channels, latent_dim)
        glorot_(self)
        channels_last_(self)

    @classmethod
    def from_config(cls, cfg: ModelConfig) -> ConvAutoencoder:
        return cls(channels=cfg.hidden or (32, 64), latent_dim=cfg.latent_dim)
