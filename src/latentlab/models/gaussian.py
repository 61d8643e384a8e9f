"""The Gaussian posterior the VAE family shares (vae, iwae, vamp, cvae): q(z|x) = N(mu, diag(exp(logvar))) from one
linear layer of two heads, its reparameterised draw, its KL and the one-draw ELBO that trains it.

What differs between the family's models is a hook each: the prior (`log_prior`, `prior_codes`, and `_kl_at`, the KL
at a draw: closed form for N(0, I), an estimate for the VampPrior) and the conditioning (`*cond`, the labels of the
conditional VAE, passed on to `posterior` and `decode_logits`). The training loss and the per-image terms are
written once, here.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

LOG_2PI = math.log(2 * math.pi)


def gaussian_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, exp(logvar)) || N(0, 1)) in closed form, nats, per image and dimension: the shape of `mu`."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)


def gaussian_log_density(z: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    """log N(z; mu, exp(logvar)) per dimension, nats, broadcast over the three (sum the last axis for a diagonal
    Gaussian's density)."""
    return -0.5 * ((z - mu).pow(2) * torch.exp(-logvar) + logvar + LOG_2PI)


class GaussianPosterior:
    """Mixin of a `LatentModel` with `heads` (a linear layer of 2 * latent_dim outputs on the encoder's features) and
    `beta`: the posterior, its draw and KL, the ELBO loss and the per-image terms. Keeps no parameters itself, so a
    saved run's weight names are the model's own."""

    heads: nn.Linear
    encoder: nn.Module
    beta: float
    latent_dim: int
    LOSS_UNITS = "nats per image"

    def posterior(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """The posterior q(z|x).

        Parameters
        ----------
        x : torch.Tensor
            Images, float32 (B, C, H, W) in [0, 1].

        Returns
        -------
        mu, logvar : torch.Tensor
            Mean and log-variance, each float32 (B, latent_dim).
        """
        mu, logvar = self.heads(self.encoder(x)).chunk(2, dim=1)
        return mu, logvar

    def encode(self, x: Tensor) -> Tensor:
        """The posterior mean: the point in latent space that stands for each image.

        Parameters
        ----------
        x : torch.Tensor
            Images, float32 (B, C, H, W) in [0, 1].

        Returns
        -------
        torch.Tensor
            Codes, float32 (B, latent_dim).
        """
        return self.posterior(x)[0]

    @staticmethod
    def _draw(mu: Tensor, logvar: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One reparameterised draw z ~ q(z|x)."""
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return mu + eps * torch.exp(0.5 * logvar)

    @staticmethod
    def _kl(mu: Tensor, logvar: Tensor) -> Tensor:
        return gaussian_kl(mu, logvar).sum(1)

    def _kl_at(self, z: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
        """KL(q(z|x) || p(z)) per image (B,) for a model whose draw is `z`: in closed form for N(0, I), so `z` is
        unused here; a prior without a closed form estimates it at `z`."""
        return self._kl(mu, logvar)

    def kl(self, mu: Tensor, logvar: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """KL(q(z|x) || p(z)) per image: in closed form for the standard normal prior.

        Parameters
        ----------
        mu, logvar : torch.Tensor
            Posterior mean and log-variance, each float32 (B, latent_dim).
        generator : torch.Generator, optional
            Unused here (the closed form draws nothing); subclasses whose KL is estimated draw with it.

        Returns
        -------
        torch.Tensor
            float32 (B,), nats.
        """
        return self._kl(mu, logvar)

    def _elbo_loss(self, x: Tensor, target: Tensor | None, *cond: Tensor) -> dict[str, Tensor]:
        """The negative ELBO (for beta = 1) at one draw z ~ q(z|x) per image: batch means "loss" = recon + beta *
        kl, "recon" and "kl", nats per image; `cond` (the labels) goes to `posterior` and `decode_logits`."""
        target = x if target is None else target
        mu, logvar = self.posterior(x, *cond)
        z = self._draw(mu, logvar)
        recon = self.p_x.batch_sum(self.decode_logits(z, *cond), target) / len(x)
        kl = self._kl_at(z, mu, logvar).mean()
        return {"loss": recon + self.beta * kl, "recon": recon, "kl": kl}

    def _elbo_terms(self, x: Tensor, generator: torch.Generator | None, *cond: Tensor) -> dict[str, Tensor]:
        """`per_image`'s terms at the posterior mean; with a generator also the one-sample "recon" and "neg_elbo"
        (the KL is taken first, so a model that estimates it draws for it before the reconstruction's draw)."""
        mu, logvar = self.posterior(x, *cond)
        out = {"code": mu, **self.reconstruction_terms(self.decode_logits(mu, *cond), x),
               "kl": self.kl(mu, logvar, generator)}
        if generator is not None:
            out["recon"] = self.p_x.per_image(self.decode_logits(self._draw(mu, logvar, generator), *cond), x)
            out["neg_elbo"] = out["recon"] + out["kl"]
        return out
