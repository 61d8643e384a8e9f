"""The decoder's distribution p(x|z) of each image pixel, a registry: "bernoulli" (the seed's, binary cross-entropy
from logits) and "gaussian" (a fixed-variance normal around sigmoid(logits): squared error, which colour photographs
often want). Each gives the negative log-likelihood summed over a batch, in nats."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from latentlab.errors import choose
from latentlab.models.losses import bce_with_logits_sum

# The Gaussian decoder's standard deviation, fixed rather than learnt: a learnt one collapses towards zero on the
# flat backgrounds of these images. 0.1 is a tenth of the pixel range, the scale of an 8-bit image's visible error.
GAUSSIAN_SIGMA = 0.1


def bernoulli_nll(logits: Tensor, target: Tensor) -> Tensor:
    """-log Bernoulli(target; sigmoid(logits)) per image (B,), nats; exact where the sigmoid saturates."""
    return F.binary_cross_entropy_with_logits(logits.float(), target.float(), reduction="none").flatten(1).sum(1)


def gaussian_nll(logits: Tensor, target: Tensor) -> Tensor:
    """-log N(target; sigmoid(logits), GAUSSIAN_SIGMA^2) per image (B,), nats."""
    squared = (target.float() - torch.sigmoid(logits.float())).pow(2).flatten(1).sum(1)
    pixels = target[0].numel() if len(target) else 0
    return 0.5 * squared / GAUSSIAN_SIGMA**2 + 0.5 * pixels * math.log(2 * math.pi * GAUSSIAN_SIGMA**2)


@dataclass(frozen=True)
class Likelihood:
    per_image: Callable[[Tensor, Tensor], Tensor]  # (B,) nats
    batch_sum: Callable[[Tensor, Tensor], Tensor]  # scalar nats: a VAE's reconstruction term, the hot path
    per_pixel: Callable[[Tensor, Tensor], Tensor]  # scalar: what an autoencoder minimises, a mean over pixels
    pixel_loss: str  # the name of `per_pixel`, for axes and logs


def _gaussian_sum(logits: Tensor, target: Tensor) -> Tensor:
    return gaussian_nll(logits, target).sum()


def _bce_per_pixel(logits: Tensor, target: Tensor) -> Tensor:
    return bce_with_logits_sum(logits, target) / target.numel()


def _mse_per_pixel(logits: Tensor, target: Tensor) -> Tensor:
    return (torch.sigmoid(logits.float()) - target.float()).pow(2).mean()


LIKELIHOODS: dict[str, Likelihood] = {
    "bernoulli": Likelihood(bernoulli_nll, bce_with_logits_sum, _bce_per_pixel, "BCE"),
    "gaussian": Likelihood(gaussian_nll, _gaussian_sum, _mse_per_pixel, "MSE"),
}


def likelihood(name: str) -> Likelihood:
    """The registry entry `name`; ConfigError listing the names otherwise."""
    return choose(LIKELIHOODS, name, "model.likelihood")
