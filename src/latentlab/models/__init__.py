"""Models: plain `nn.Module`s behind one contract (`LatentModel`), built from a `ModelConfig` by the registry.

Adding a model is adding one entry to `MODELS`; everything else (trainer, detector, figures, web page) takes any
model that honours the contract in `latentlab.models.base`.
"""

from __future__ import annotations

from collections.abc import Callable

from latentlab.config import ModelConfig
from latentlab.errors import ConfigError
from latentlab.models.autoencoder import Autoencoder, ConvAutoencoder, DenseAutoencoder
from latentlab.models.base import LatentModel, has_prior
from latentlab.models.vae import VAE

MODELS: dict[str, Callable[[ModelConfig], LatentModel]] = {
    "dense": DenseAutoencoder.from_config,
    "conv": ConvAutoencoder.from_config,
    "vae": VAE.from_config,
}
"""The model registry: `ModelConfig.kind` -> a factory taking the config and returning a fresh `LatentModel`."""


def build_model(cfg: ModelConfig) -> LatentModel:
    """A freshly initialised model for a config, from the `MODELS` registry.

    Parameters
    ----------
    cfg : ModelConfig
        The architecture; `cfg.kind` picks the registry entry.

    Returns
    -------
    LatentModel
        On the CPU, in training mode; the weights come from torch's global RNG (seed it for reproducible weights).

    Raises
    ------
    ConfigError
        An unknown `cfg.kind`, listing the registry's names.
    """
    try:
        factory = MODELS[cfg.kind]
    except KeyError:
        raise ConfigError(f"model.kind={cfg.kind!r} is invalid: choose one of {', '.join(MODELS)}") from None
    return factory(cfg)


__all__ = ["MODELS", "VAE", "Autoencoder", "ConvAutoencoder", "DenseAutoencoder", "LatentModel", "build_model",
           "has_prior"]
