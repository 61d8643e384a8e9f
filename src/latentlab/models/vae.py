"""Variational autoencoder with a Bernoulli likelihood, dense or convolutional."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from latentlab.config import ModelConfig
from latentlab.models.layers import PIXELS, channels_last_, conv_decoder, conv_encoder, mlp
from latentlab.models.losses import bce_with_logits_sum


class VAE(nn.Module):
    """q(z|x) = N(mu, diag(exp(logvar))), p(z) = N(0, I), p(x|z) = Bernoulli(sigmoid(decoder(z))).

    Loss terms are in nats per image: `recon` is -E_q[log p(x|z)] (one sample), `kl` is KL(q || p)
    in closed form, and `loss` = recon + beta * kl is the negative ELBO when beta = 1.
    """

    variational = True

    def __init__(self, hidden: tuple[int, ...] = (512,), latent_dim: int = 2, encoder: str = "dense",
                 beta: float = 1.0) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.beta = beta
        if encoder == "conv":
            channels = hidden or (32, 64)
            self.encoder, width = conv_encoder(channels)
            self.decoder = conv_decoder(channels, latent_dim)
        else:
            self.encoder = nn.Sequential(nn.Flatten(), mlp([PIXELS, *hidden], last_activation=True))
            width = hidden[-1] if hidden else PIXELS
            self.decoder = mlp([latent_dim, *reversed(hidden), PIXELS], last_activation=False)
        # One layer for both heads: a single matmul instead of two on the hot path.
        self.heads = nn.Linear(width, 2 * latent_dim)
        # torch's default initialisation, not the autoencoders' Glorot: measured here it trains to a lower negative
        # ELBO (MNIST 784-512-2, 20 epochs, two seeds: 161.0 / 159.8 against 164.5 / 163.2 nats).
        channels_last_(self)

    @classmethod
    def from_config(cls, cfg: ModelConfig) -> VAE:
        return cls(hidden=cfg.hidden, latent_dim=cfg.latent_dim, encoder=cfg.encoder, beta=cfg.beta)

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and log-variance of q(z|x)."""
        mu, logvar = self.heads(self.encoder(x)).chunk(2, dim=1)
        return mu, logvar

    def decode_logits(self, z: Tensor) -> Tensor:
        return self.decoder(z).view(-1, 1, 28, 28)

    def decode(self, z: Tensor) -> Tensor:
        """Images in [0, 1] (Bernoulli means) at latent positions `z` (B, latent_dim)."""
        return torch.sigmoid(self.decode_logits(z))

    def embed(self, x: Tensor) -> Tensor:
        return self.encode(x)[0]

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """`n` images decoded from draws of the prior."""
        p = next(self.parameters())
        z = torch.randn(n, self.latent_dim, generator=generator, device=p.device, dtype=p.dtype)
        return self.decode(z)

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(self.embed(x))

    def _sample_logits(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """mu, logvar, one reparameterised draw z ~ q(z|x), and the decoder's logits at z."""
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return mu, logvar, z, self.decode_logits(z)

    @staticmethod
    def _kl(mu: Tensor, logvar: Tensor) -> Tensor:
        return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1)

    def terms(self, x: Tensor, target: Tensor | None = None) -> dict[str, Tensor]:
        """Per-image reconstruction and KL terms (nats), with the sampled z."""
        target = x if target is None else target
        mu, logvar, z, logits = self._sample_logits(x)
        recon = F.binary_cross_entropy_with_logits(logits, target, reduction="none").flatten(1).sum(1)
        return {"recon": recon, "kl": self._kl(mu, logvar), "z": z, "mu": mu, "logvar": logvar}

    def loss(self, x: Tensor, target: Tensor | None = None) -> dict[str, Tensor]:
        """Batch means of `terms`; the reconstruction is summed in one pass (the training hot path)."""
        target = x if target is None else target
        mu, logvar, _, logits = self._sample_logits(x)
        recon = bce_with_logits_sum(logits, target) / len(x)
        kl = self._kl(mu, logvar).mean()
        return {"loss": recon + self.beta * kl, "recon": recon, "kl": kl}

    @torch.no_grad()
    def iwae_log_likelihood(self, x: Tensor, k: int = 100) -> Tensor:
        """Importance-weighted estimate of log p(x) per image, in nats, with `k` samples (Burda et al. 2016)."""
        mu, logvar = self.encode(x)
        std = torch.exp(0.5 * logvar)
        eps = torch.randn(k, *mu.shape, device=mu.device, dtype=mu.dtype)
        z = mu + eps * std  # (k, B, D)
        logits = self.decode_logits(z.reshape(-1, self.latent_dim)).view(k, x.shape[0], -1)
        target = x.reshape(1, x.shape[0], -1).expand_as(logits)
        log_px_z = -F.binary_cross_entropy_with_logits(logits, target, reduction="none").sum(2)
        log_2pi = math.log(2 * math.pi)
        log_pz = -0.5 * (z.pow(2) + log_2pi).sum(2)
        log_qz = -0.5 * (eps.pow(2) + logvar + log_2pi).sum(2)
        return torch.logsumexp(log_px_z + log_pz - log_qz, dim=0) - math.log(k)
