"""Variational autoencoder, dense or convolutional, with a Bernoulli (the seed's) or Gaussian likelihood."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from latentlab.errors import choose
from latentlab.models.base import LatentModel
from latentlab.models.gaussian import LOG_2PI, GaussianPosterior, gaussian_kl
from latentlab.models.layers import ENCODERS, channels_last_, trunks

__all__ = ["ENCODERS", "VAE"]


# Decoding all k x B samples at once (65,500 images at k=100) held ~800 MB of logits, targets and per-pixel terms: a
# peak of 1,425 MiB in the Fashion-VAE's metrics. 8,192 at a time held ~100 MB, 2,048 ~25 MB, with the same values
# and no loss of speed (3,000 Fashion-MNIST test images, k=100, 2-core CPU: 1.54-1.71 s against 1.68-1.75 s).
IWAE_DECODES = 2048


class VAE(GaussianPosterior, LatentModel):
    """q(z|x) = N(mu, diag(exp(logvar))), p(z) = N(0, I), p(x|z) = Bernoulli(sigmoid(decoder(z))) (or the
    fixed-variance Gaussian of `models.likelihoods` with `likelihood="gaussian"`).

    Loss terms are in nats per image: `recon` is -E_q[log p(x|z)] (one sample), `kl` is KL(q || p)
    in closed form, and `loss` = recon + beta * kl is the negative ELBO when beta = 1.

    Parameters
    ----------
    hidden : tuple of int, default (512,)
        Encoder widths (dense) or channels (conv); the decoder mirrors them.
    latent_dim : int, default 2
        Size of the latent space.
    encoder : str, default "dense"
        "dense" or "conv".
    beta : float, default 1.0
        Weight of the KL term.
    image_shape : tuple of int, default (1, 28, 28)
        (channels, height, width).
    likelihood : str, default "bernoulli"
        "bernoulli" or "gaussian".

    Raises
    ------
    ConfigError
        An unknown encoder.
    """

    TERMS = ("nll", "bce", "mse", "kl")

    def __init__(self, hidden: tuple[int, ...] = (512,), latent_dim: int = 2, encoder: str = "dense",
                 beta: float = 1.0, image_shape: tuple[int, ...] = (1, 28, 28), likelihood: str = "bernoulli") -> None:
        super().__init__(latent_dim, image_shape, likelihood)
        choose(ENCODERS, encoder, "model.encoder")
        self.beta = beta
        self.encoder, width, self.decoder = trunks(hidden, latent_dim, encoder, image_shape)
        # One layer for both heads: a single matmul instead of two on the hot path.
        self.heads = nn.Linear(width, 2 * latent_dim)
        # torch's default initialisation, not the autoencoders' Glorot: measured here it trains to a lower negative
        # ELBO (MNIST 784-512-2, 20 epochs, two seeds: 161.0 / 159.8 against 164.5 / 163.2 nats).
        channels_last_(self)

    def log_prior(self, z: Tensor) -> Tensor:
        """log p(z) in nats under the standard normal prior.

        Parameters
        ----------
        z : torch.Tensor
            Codes, float32 (..., latent_dim).

        Returns
        -------
        torch.Tensor
            log p(z), float32 (...), nats.
        """
        return -0.5 * (z.pow(2) + LOG_2PI).sum(-1)

    def prior_codes(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Draws of the prior p(z) = N(0, I).

        Parameters
        ----------
        n : int
            Number of codes.
        generator : torch.Generator, optional
            Seeded for reproducible draws.

        Returns
        -------
        torch.Tensor
            Codes (n, latent_dim), on the model's device and dtype.
        """
        p = next(self.parameters())
        return torch.randn(n, self.latent_dim, generator=generator, device=p.device, dtype=p.dtype)

    @staticmethod
    def kl_per_dim(mu: Tensor, logvar: Tensor) -> Tensor:
        """KL(q(z_d|x) || p(z_d)) per image and latent dimension, in closed form.

        Parameters
        ----------
        mu, logvar : torch.Tensor
            Posterior mean and log-variance, each float32 (B, latent_dim).

        Returns
        -------
        torch.Tensor
            float32 (B, latent_dim), nats.
        """
        return gaussian_kl(mu, logvar)

    def per_image(self, x: Tensor, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """Per-image terms at the posterior mean, and with a generator the one-sample ELBO terms.

        Parameters
        ----------
        x : torch.Tensor
            Images, float32 (B, C, H, W) in [0, 1].
        generator : torch.Generator, optional
            When given, also draws z ~ q(z|x) once per image, reproducibly for a seeded generator.

        Returns
        -------
        dict of str to torch.Tensor
            "code" (B, latent_dim), "nll", "bce" (nats per image), "mse" (per pixel) and "kl" (KL(q(z|x) || p(z))
            in closed form, nats), each (B,); with a generator also "recon" (-log p(x|z)) and "neg_elbo" = recon +
            kl (nats per image).
        """
        return self._elbo_terms(x, generator)

    def loss(self, x: Tensor, target: Tensor | None = None) -> dict[str, Tensor]:
        """The training loss: the negative ELBO (for beta = 1) at one draw z ~ q(z|x) per image.

        Parameters
        ----------
        x : torch.Tensor
            Input images, float32 (B, C, H, W) in [0, 1].
        target : torch.Tensor, optional
            Images to reconstruct, same shape (default `x`).

        Returns
        -------
        dict of str to torch.Tensor
            Scalars, batch means in nats per image: "loss" = recon + beta * kl, "recon", "kl".
        """
        return self._elbo_loss(x, target)

    def log_weights(self, x: Tensor, k: int, generator: torch.Generator | None = None,
                    max_decodes: int = IWAE_DECODES, target: Tensor | None = None, y: Tensor | None = None
                    ) -> Tensor:
        """Log importance weights log p(x|z) + log p(z) - log q(z|x) at `k` draws z ~ q(z|x) per image
        (differentiable: the IWAE objective trains on them).

        Parameters
        ----------
        x : torch.Tensor
            Images the posterior is taken at, float32 (B, C, H, W) in [0, 1].
        k : int
            Draws per image.
        generator : torch.Generator, optional
            Seeded for reproducible draws.
        max_decodes : int, default IWAE_DECODES
            Images decoded at a time (whole draws of the batch: at least one draw), to bound memory.
        target : torch.Tensor, optional
            Images whose likelihood is weighed, same shape as `x` (default `x`).
        y : torch.Tensor, optional
            Labels, int64 (B,), for a conditional model (the `CVAE`); None otherwise.

        Returns
        -------
        torch.Tensor
            Log weights, (k, B), nats.
        """
        return sum(self._weight_terms(x, k, generator, max_decodes, target, y)[:3])  # type: ignore[return-value]

    def _weight_terms(self, x: Tensor, k: int, generator: torch.Generator | None, max_decodes: int,
                      target: Tensor | None, y: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """(log p(x|z), log p(z), -log q(z|x)), each (k, B), and the posterior's (mu, logvar)."""
        target = x if target is None else target
        cond = () if y is None else (y,)
        mu, logvar = self.posterior(x, *cond)
        eps = torch.randn((k, *mu.shape), generator=generator, device=mu.device, dtype=mu.dtype)
        z = mu + eps * torch.exp(0.5 * logvar)  # (k, B, D)
        parts = []
        for zs in z.split(max(1, max_decodes // max(1, x.shape[0]))):  # whole samples: rows decode independently
            logits = self.decode_logits(zs.reshape(-1, self.latent_dim), *(() if y is None else (y.repeat(len(zs)),)))
            expanded = target.unsqueeze(0).expand(len(zs), *target.shape).reshape(logits.shape)
            parts.append(-self.p_x.per_image(logits, expanded).view(len(zs), x.shape[0]))
        neg_log_qz = 0.5 * (eps.pow(2) + logvar + LOG_2PI).sum(2)
        return torch.cat(parts), self.log_prior(z), neg_log_qz, mu, logvar

    @torch.no_grad()
    def iwae_log_likelihood(self, x: Tensor, k: int = 100, max_decodes: int = IWAE_DECODES,
                            generator: torch.Generator | None = None) -> Tensor:
        """Importance-weighted estimate of log p(x) per image with `k` samples (Burda et al. 2016): logsumexp of the
        log weights minus log k, which never overflows. Runs without gradients.

        Parameters
        ----------
        x : torch.Tensor
            Images, float32 (B, C, H, W) in [0, 1].
        k : int, default 100
            Importance samples per image.
        max_decodes : int, default IWAE_DECODES
            Images decoded at a time, to bound memory; does not change the values.
        generator : torch.Generator, optional
            Seeded for reproducible draws.

        Returns
        -------
        torch.Tensor
            log p(x) estimates, (B,), nats.
        """
        return torch.logsumexp(self.log_weights(x, k, generator, max_decodes), dim=0) - math.log(k)
