"""VAE with a VampPrior (Tomczak and Welling, AISTATS 2018): the prior is the mixture of the encoder's posteriors at
K learned pseudo-inputs, p(z) = (1/K) sum_k q(z|u_k), which lets the prior fit the aggregate posterior instead of
pulling every code towards N(0, I)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from latentlab.models.gaussian import LOG_2PI, gaussian_log_density
from latentlab.models.vae import VAE

# Rows of codes whose mixture densities are computed at once: (rows, K) floats, never (rows, K, D).
_ROWS = 4096


class VampPrior(VAE):
    """A `VAE` whose prior is a mixture of posteriors at learned pseudo-inputs u_k (K, C, H, W) in [0, 1] (a
    hard-tanh keeps them there, as in the paper; initialised near 0.05, the paper's MNIST setting).

    The KL has no closed form: `loss` and `per_image` estimate it with one draw z ~ q(z|x), log q(z|x) - log p(z),
    as the paper does. Without a generator, `per_image` draws with a fixed seed (0), so its terms are reproducible.
    Samples from the prior pick a pseudo-input uniformly, encode it and draw from its posterior.

    Parameters
    ----------
    hidden, latent_dim, encoder, beta, image_shape, likelihood
        As for `VAE`.
    pseudo_inputs : int, default 500
        K, the number of pseudo-inputs (mixture components of the prior).

    Raises
    ------
    ConfigError
        An unknown encoder.
    """

    def __init__(self, hidden: tuple[int, ...] = (512,), latent_dim: int = 2, encoder: str = "dense",
                 beta: float = 1.0, image_shape: tuple[int, ...] = (1, 28, 28), likelihood: str = "bernoulli",
                 pseudo_inputs: int = 500) -> None:
        super().__init__(hidden, latent_dim, encoder, beta, image_shape, likelihood)
        self.pseudo_inputs = pseudo_inputs
        self.pseudo = nn.Parameter(0.05 + 0.01 * torch.randn(pseudo_inputs, *image_shape))

    def pseudo_images(self) -> Tensor:
        """The pseudo-inputs as images (hard-tanh of the parameters).

        Returns
        -------
        torch.Tensor
            Images (K, C, H, W) in [0, 1].
        """
        return nn.functional.hardtanh(self.pseudo, 0.0, 1.0)

    def components(self) -> tuple[Tensor, Tensor]:
        """The prior's mixture components: the encoder's posteriors at the pseudo-inputs.

        Returns
        -------
        mu, logvar : torch.Tensor
            Means and log-variances, each (K, latent_dim).
        """
        return self.posterior(self.pseudo_images())

    def log_prior(self, z: Tensor) -> Tensor:
        """log p(z) under the mixture prior: a logsumexp over the K components, expanded as matmuls so that memory
        grows with rows x K, not rows x K x latent_dim; computed in float32 even under autocast.

        Parameters
        ----------
        z : torch.Tensor
            Codes (..., latent_dim).

        Returns
        -------
        torch.Tensor
            log p(z), float32 (...), nats.
        """
        m, logvar = (t.float() for t in self.components())
        # float32 even under a GPU's bfloat16 autocast: the expanded square cancels terms of hundreds of nats.
        with torch.autocast(z.device.type, enabled=False):
            inv = torch.exp(-logvar)  # (K, D)
            const = (m.pow(2) * inv).sum(1) + logvar.sum(1) + self.latent_dim * LOG_2PI  # (K,)
            flat = z.float().reshape(-1, self.latent_dim)
            out = []
            for rows in flat.split(_ROWS):
                quad = rows.pow(2) @ inv.T - 2.0 * rows @ (m * inv).T + const  # (rows, K)
                out.append(torch.logsumexp(-0.5 * quad, dim=1) - math.log(self.pseudo_inputs))
        return torch.cat(out).view(z.shape[:-1])

    def prior_codes(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Draws of the mixture prior: a pseudo-input picked uniformly, then a draw from its posterior.

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
        m, logvar = self.components()
        pick = torch.randint(self.pseudo_inputs, (n,), generator=generator, device=m.device)
        eps = torch.randn((n, self.latent_dim), generator=generator, device=m.device, dtype=m.dtype)
        return m[pick] + eps * torch.exp(0.5 * logvar[pick])

    def _kl_at(self, z: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
        """log q(z|x) - log p(z) at the draw `z`: the one-draw estimate of the KL, per image (B,)."""
        return gaussian_log_density(z, mu, logvar).sum(-1) - self.log_prior(z)

    def kl(self, mu: Tensor, logvar: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One-draw Monte Carlo estimate of KL(q(z|x) || p(z)) per image (unbiased; one image's may be negative).

        Parameters
        ----------
        mu, logvar : torch.Tensor
            Posterior mean and log-variance, each float32 (B, latent_dim).
        generator : torch.Generator, optional
            For the draw; without one the draw is seeded with 0.

        Returns
        -------
        torch.Tensor
            log q(z|x) - log p(z), float32 (B,), nats.
        """
        gen = generator or torch.Generator(device=mu.device).manual_seed(0)
        return self._kl_at(self._draw(mu, logvar, gen), mu, logvar)

    def kl_per_dim(self, mu: Tensor, logvar: Tensor) -> Tensor:  # type: ignore[override]
        """Per latent dimension: the one-draw (seed 0) estimate of the KL between the marginals q(z_d|x) and p(z_d),
        a 1-D mixture; their sum is not the joint KL, but each shows how much dimension d carries.

        Parameters
        ----------
        mu, logvar : torch.Tensor
            Posterior mean and log-variance, each float32 (B, latent_dim).

        Returns
        -------
        torch.Tensor
            (B, latent_dim), nats.
        """
        gen = torch.Generator(device=mu.device).manual_seed(0)
        z = self._draw(mu, logvar, gen)
        m, lv = self.components()
        log_q = gaussian_log_density(z, mu, logvar)
        out = []
        for rows in z.split(max(1, _ROWS * 16 // self.pseudo_inputs)):
            comp = gaussian_log_density(rows[:, None, :], m, lv)  # (rows, K, D)
            out.append(torch.logsumexp(comp, dim=1) - math.log(self.pseudo_inputs))
        return log_q - torch.cat(out)
