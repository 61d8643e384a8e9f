"""Models: plain `nn.Module`s behind one contract (`LatentModel`), built from a `ModelConfig` by the registry.

Adding a model is adding one entry to `MODELS`; everything else (trainer, detector, figures, web page) takes any
model that honours the contract in `latentlab.models.base`.
"""

from __future__ import annotations

from collections.abc import Callable

from latentlab.config import ModelConfig
from latentlab.errors import choose
from latentlab.models.autoencoder import Autoencoder, ConvAutoencoder, DenseAutoencoder
from latentlab.models.base import LatentModel, has_prior
from latentlab.models.vae import VAE

MODELS: dict[str, Callable[[ModelConfig], LatentModel]] = {
    "dense": DenseAutoencoder.from_config,
    "conv": ConvAutoencoder.from_config,
    "vae": VAE.from_config,
}


def build_model(cfg: ModelConfig) -> LatentModel:
    """A freshly initialised model for `cfg` (uses torch's global RNG for the weights); ConfigError for an unknown
    `cfg.kind`, listing the registry's names."""
    return choose(MODELS, cfg.kind, "model.kind")(cfg)


__all__ = ["MODELS", "VAE", "Autoencoder", "ConvAutoencoder", "DenseAutoencoder", "LatentModel", "build_model",
           "has_prior"]
