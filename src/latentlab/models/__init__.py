"""Model registry: a `ModelConfig.kind` names one entry; adding a model is adding one line."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from latentlab.config import ConfigError, ModelConfig
from latentlab.models.autoencoder import Autoencoder, ConvAutoencoder, DenseAutoencoder
from latentlab.models.vae import VAE

MODELS: dict[str, Callable[[ModelConfig], nn.Module]] = {
    "dense": DenseAutoencoder.from_config,
    "conv": ConvAutoencoder.from_config,
    "vae": VAE.from_config,
}


def build_model(cfg: ModelConfig) -> nn.Module:
    """A freshly initialised model for `cfg` (uses torch's global RNG for the weights)."""
    try:
        factory = MODELS[cfg.kind]
    except KeyError:
        raise ConfigError(f"unknown model kind {cfg.kind!r}; choose one of {', '.join(MODELS)}") from None
    return factory(cfg)


__all__ = ["MODELS", "VAE", "Autoencoder", "ConvAutoencoder", "DenseAutoencoder", "build_model"]
