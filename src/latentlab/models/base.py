"""The one contract every latentlab model honours; the trainer, the detector, the figures and the web page rely
on nothing else.

A model maps images (B, C, H, W) float32 in [0, 1] to codes (B, latent_dim) and back:
- `encode(x) -> codes`: the point in latent space that stands for `x` (a VAE's posterior mean);
- `decode_logits(z)` and `decode(z) = sigmoid(decode_logits(z))`: images at latent positions `z`;
- `loss(x, target) -> dict`: batch means, "loss" is what the optimizer minimises, other keys are its terms;
- `per_image(x) -> dict`: named per-image terms, deterministic (no sampling unless a generator is passed).

Capabilities come from the terms a model declares in `TERMS` and the methods it has, not from flags: a model with
"kl" has a posterior and a prior (ELBO scores, the manifold of a VAE) and `iwae_log_likelihood`, a likelihood; a
model with `prior_codes(n, generator)` can be sampled from its prior (a VAE, a WAE, a VQ-VAE's code frequencies).
A model with `conditional = True` (the conditional VAE) also takes class labels `y` (B,) int64 in `loss` (required,
so `fit` passes them) and in `per_image`, `encode` and `decode` (optional: it infers or assumes a class without).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from latentlab.models.likelihoods import bernoulli_nll
from latentlab.models.likelihoods import likelihood as get_likelihood


class LatentModel(nn.Module):
    """Base class of the models: images (B, C, H, W) in [0, 1] <-> codes (B, latent_dim)."""

    #: Per-image terms `per_image` returns (besides "code"): "nll" nats per image under the model's likelihood,
    #: "bce" nats per image, "mse" per pixel, and for models with a posterior "kl" nats.
    TERMS: tuple[str, ...] = ("nll", "bce", "mse")
    image_shape: tuple[int, ...] = (1, 28, 28)
    decoder: nn.Module
    #: True for a model that is trained on class labels (see the module doc).
    conditional: bool = False

    def __init__(self, latent_dim: int, image_shape: tuple[int, ...] = (1, 28, 28),
                 likelihood: str = "bernoulli") -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.image_shape = tuple(image_shape)
        self.likelihood = likelihood
        self.p_x = get_likelihood(likelihood)  # ConfigError for an unknown name

    @property
    def loss_units(self) -> str:
        """The unit of `loss(...)["loss"]`, for axes and logs."""
        return f"{self.p_x.pixel_loss} per pixel"

    def encode(self, x: Tensor) -> Tensor:
        """Codes (B, latent_dim) of images `x` (B, C, H, W)."""
        raise NotImplementedError

    def decode_logits(self, z: Tensor) -> Tensor:
        """Logits (B, C, H, W) of the images at latent positions `z` (B, latent_dim)."""
        return self.decoder(z).view(-1, *self.image_shape)

    def decode(self, z: Tensor) -> Tensor:
        """Images (B, C, H, W) in [0, 1] at latent positions `z` (B, latent_dim)."""
        return torch.sigmoid(self.decode_logits(z))

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x))

    def loss(self, x: Tensor, target: Tensor | None = None) -> dict[str, Tensor]:
        """Batch-mean loss terms of reconstructing `target` (default `x`) from `x`; "loss" is minimised."""
        raise NotImplementedError

    def per_image(self, x: Tensor, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """Per-image terms of images `x`: "code" (B, latent_dim), "bce" (B,) the Bernoulli negative log-likelihood
        of `x` under the decoded code in nats per image, "mse" (B,) the mean squared error per pixel."""
        code = self.encode(x)
        return {"code": code, **self.reconstruction_terms(self.decode_logits(code), x)}

    def reconstruction_terms(self, logits: Tensor, target: Tensor) -> dict[str, Tensor]:
        """"nll" under the model's likelihood and "bce" (nats per image), "mse" (per pixel), each (B,)."""
        logits = logits.float()
        bce = bernoulli_nll(logits, target)
        nll = bce if self.likelihood == "bernoulli" else self.p_x.per_image(logits, target)
        return {"nll": nll, "bce": bce, "mse": (torch.sigmoid(logits) - target).pow(2).flatten(1).mean(1)}


def has_prior(model: nn.Module) -> bool:
    """True for models with a Gaussian posterior and a prior they measure a KL to (they declare a "kl" term): a VAE,
    an IWAE, a VampPrior VAE, a conditional VAE."""
    return "kl" in getattr(model, "TERMS", ())


def can_sample(model: nn.Module) -> bool:
    """True for models with a prior over their codes to draw from (`prior_codes`)."""
    return callable(getattr(model, "prior_codes", None))


def has_likelihood(model: nn.Module) -> bool:
    """True for models with an importance-sampled estimate of log p(x) (`iwae_log_likelihood`)."""
    return has_prior(model) and callable(getattr(model, "iwae_log_likelihood", None))


def is_conditional(model: nn.Module) -> bool:
    """True for models trained on class labels (`conditional = True`)."""
    return bool(getattr(model, "conditional", False))
