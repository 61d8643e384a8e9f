"""VAE with a VampPrior (Tomczak and Welling, AISTATS 2018): the prior is the mixture of the encoder's posteriors at
K learned pseudo-inputs, p(z) = (1/K) sum_k q(z|u_k), which lets the prior fit the aggregate posterior instead of
pulling every code towards N(0, I)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from latentlab.config import ModelConfig
from latentlab.models.vae import LOG_2PI, VAE

# Rows of codes whose mixture densities are computed at once: (rows, K) floats, never (rows, K, D).
_ROWS = 4096


class VampPrior(VAE):
    """A `VAE` whose prior is a mixture of posteriors at learned pseudo-inputs u_k (K, C, H, W) in [0, 1] (a
    hard-tanh keeps them there, as in the paper; initialised near 0.05, the paper's MNIST setting).

    The KL has no closed form: `loss` and `per_image` estimate it with one draw z ~ q(z|x), log q(z|x) - log p(z),
    as the paper does. Without a generator, `per_image` draws with a fixed seed (0), so its terms are reproducible.
    Samples from the prior pick a pseudo-input uniformly, encode it and draw from its posterior."""

    def __init__(self, hidden: tuple[int, ...] = (512,), latent_dim: int = 2, encoder: str = "dense",
                 beta: float = 1.0, image_shape: tuple[int, ...] = (1, 28, 28), likelihood: str = "bernoulli",
                 pseudo_inputs: int = 500) -> None:
        super().__init__(hidden, latent_dim, encoder, beta, image_shape, likelihood)
        self.pseudo_inputs = pseudo_inputs
        self.pseudo = nn.Parameter(0.05 + 0.01 * torch.randn(pseudo_inputs, *image_shape))

    @classmethod
    def from_config(cls, cfg: ModelConfig) -> VampPrior:
        return cls(hidden=cfg.hidden, latent_dim=cfg.latent_dim, encoder=cfg.encoder, beta=cfg.beta,
                   image_shape=cfg.image_shape, likelihood=cfg.likelihood, pseudo_inputs=cfg.pseudo_inputs)

    def pseudo_images(self) -> Tensor:
        """The pseudo-inputs as images (K, C, H, W) in [0, 1]."""
        return nn.functional.hardtanh(self.pseudo, 0.0, 1.0)

    def components(self) -> tuple[Tensor, Tensor]:
        """Means and log-variances (K, latent_dim) of the prior's mixture components."""
        return self.posterior(self.pseudo_images())

    def log_prior(self, z: Tensor) -> Tensor:
        """log p(z) (...,) in nats for codes (..., latent_dim): a logsumexp over the K components, expanded as
        matmuls so that memory grows with rows x K, not rows x K x latent_dim."""
        m, logvar = self.components()
        inv = torch.exp(-logvar)  # (K, D)
        const = (m.pow(2) * inv).sum(1) + logvar.sum(1) + self.latent_dim * LOG_2PI  # (K,)
        flat = z.reshape(-1, self.latent_dim)
        out = []
        for rows in flat.split(_ROWS):
            quad = rows.pow(2) @ inv.T - 2.0 * rows @ (m * inv).T + const  # (rows, K)
            out.append(torch.logsumexp(-0.5 * quad, dim=1) - math.log(self.pseudo_inputs))
        return torch.cat(out).view(z.shape[:-1])

    def prior_codes(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        m, logvar = self.components()
        pick = torch.randint(self.pseudo_inputs, (n,), generator=generator, device=m.device)
        eps = torch.randn((n, self.latent_dim), generator=generator, device=m.device, dtype=m.dtype)
        return m[pick] + eps * torch.exp(0.5 * logvar[pick])

    def _log_q(self, z: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
        return -0.5 * ((z - mu).pow(2) * torch.exp(-logvar) + logvar + LOG_2PI).sum(-1)

    def kl(self, mu: Tensor, logvar: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One-draw Monte Carlo estimate of KL(q(z|x) || p(z)) per image (B,), nats (unbiased; one image's may be
        negative). Without a generator the draw is seeded with 0."""
        gen = generator or torch.Generator(device=mu.device).manual_seed(0)
        z = self._draw(mu, logvar, gen)
        return self._log_q(z, mu, logvar) - self.log_prior(z)

    def kl_per_dim(self, mu: Tensor, logvar: Tensor) -> Tensor:  # type: ignore[override]
        """Per latent dimension (B, latent_dim): the one-draw (seed 0) estimate of the KL between the marginals
        q(z_d|x) and p(z_d), a 1-D mixture; their sum is not the joint KL, but each shows how much dimension d
        carries."""
        gen = torch.Generator(device=mu.device).manual_seed(0)
        z = self._draw(mu, logvar, gen)
        m, lv = self.components()
        log_q = -0.5 * ((z - mu).pow(2) * torch.exp(-logvar) + logvar + LOG_2PI)
        out = []
        for rows in z.split(max(1, _ROWS * 16 // self.pseudo_inputs)):
            comp = -0.5 * ((rows[:, None, :] - m).pow(2) * torch.exp(-lv) + lv + LOG_2PI)  # (rows, K, D)
            out.append(torch.logsumexp(comp, dim=1) - math.log(self.pseudo_inputs))
        return log_q - torch.cat(out)

    def loss(self, x: Tensor, target: Tensor | None = None) -> dict[str, Tensor]:
        """Batch means (nats per image) of -log p(x|z) and of log q(z|x) - log p(z) at one draw z ~ q(z|x)."""
        target = x if target is None else target
        mu, logvar = self.posterior(x)
        z = self._draw(mu, logvar)
        recon = self.p_x.batch_sum(self.decode_logits(z), target) / len(x)
        kl = (self._log_q(z, mu, logvar) - self.log_prior(z)).mean()
        return {"loss": recon + self.beta * kl, "recon": recon, "kl": kl}
