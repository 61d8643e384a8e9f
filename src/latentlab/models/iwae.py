"""Importance-weighted autoencoder (Burda, Grosse and Salakhutdinov, ICLR 2016): the VAE's networks trained on a
tighter bound, log (1/K) sum_k p(x, z_k) / q(z_k|x) with K draws z_k ~ q(z|x), which is the ELBO at K = 1 and
tends to log p(x) as K grows."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from latentlab.models.vae import VAE


class IWAE(VAE):
    """A `VAE` whose `loss` is minus the K-sample importance-weighted bound (nats per image); `beta` is kept but
    does not apply (the bound has no separate KL term to weigh). Posterior, prior, codes and per-image terms are the
    VAE's, so every figure and metric of a VAE works unchanged.

    Parameters
    ----------
    hidden, latent_dim, encoder, image_shape, likelihood
        As for `VAE`.
    samples : int, default 5
        K, the importance samples per image of the training bound (`iwae_samples`).
    beta : float, default 1.0
        Kept for the VAE's interface; the bound does not use it.

    Raises
    ------
    ConfigError
        An unknown encoder.
    """

    CONFIG_NAMES = {"samples": "iwae_samples"}

    def __init__(self, hidden: tuple[int, ...] = (512,), latent_dim: int = 2, encoder: str = "dense",
                 samples: int = 5, image_shape: tuple[int, ...] = (1, 28, 28), likelihood: str = "bernoulli",
                 beta: float = 1.0) -> None:
        super().__init__(hidden, latent_dim, encoder, beta, image_shape, likelihood)
        self.iwae_samples = samples

    def bound(self, x: Tensor, k: int | None = None, generator: torch.Generator | None = None,
              target: Tensor | None = None) -> Tensor:
        """The K-sample bound on log p(target) given `x` per image; a logsumexp, so weights of -1e4 nats do not
        underflow. Differentiable.

        Parameters
        ----------
        x : torch.Tensor
            Images the posterior is taken at, float32 (B, C, H, W) in [0, 1].
        k : int, optional
            K, the draws per image (default, and when 0, `iwae_samples`).
        generator : torch.Generator, optional
            Seeded for reproducible draws.
        target : torch.Tensor, optional
            Images whose likelihood is bounded, same shape as `x` (default `x`).

        Returns
        -------
        torch.Tensor
            The bound, (B,), nats.
        """
        k = k or self.iwae_samples
        return torch.logsumexp(self.log_weights(x, k, generator, target=target), dim=0) - math.log(k)

    def loss(self, x: Tensor, target: Tensor | None = None) -> dict[str, Tensor]:
        """The training loss: minus the K-sample bound (K = `iwae_samples`).

        Parameters
        ----------
        x : torch.Tensor
            Input images, float32 (B, C, H, W) in [0, 1].
        target : torch.Tensor, optional
            Images to reconstruct, same shape (default `x`).

        Returns
        -------
        dict of str to torch.Tensor
            Scalars, batch means in nats per image: "loss" = -bound; "recon" (mean over the K draws of
            -log p(x|z)) and "kl" (closed form) are the ELBO's terms, logged to compare with a VAE, not optimised
            (detached).
        """
        k = self.iwae_samples
        log_px_z, log_pz, neg_log_qz, mu, logvar = self._weight_terms(x, k, None, 1 << 30, target)
        bound = torch.logsumexp(log_px_z + log_pz + neg_log_qz, dim=0) - math.log(k)
        return {"loss": -bound.mean(), "recon": -log_px_z.detach().mean(), "kl": self._kl(mu, logvar).detach().mean()}
