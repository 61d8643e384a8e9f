"""Models: plain `nn.Module`s behind one contract (`LatentModel`), built from a `ModelConfig` by the registry.

Adding a model is adding one entry to `MODELS`; everything else (trainer, detector, figures, web page) takes any
model that honours the contract in `latentlab.models.base`.
"""

from __future__ import annotations

from collections.abc import Callable

from latentlab.config import ModelConfig
from latentlab.errors import choose
from latentlab.models.autoencoder import Autoencoder, ConvAutoencoder, DenseAutoencoder
from latentlab.models.base import LatentModel, can_sample, has_likelihood, has_prior, is_conditional
from latentlab.models.cvae import CVAE
from latentlab.models.iwae import IWAE
from latentlab.models.vae import VAE
from latentlab.models.vamp import VampPrior
from latentlab.models.vqvae import VQVAE
from latentlab.models.wae import WAE

MODELS: dict[str, Callable[[ModelConfig], LatentModel]] = {
    "dense": DenseAutoencoder.from_config,
    "conv": ConvAutoencoder.from_config,
    "vae": VAE.from_config,  # beta-VAE too: model.beta
    "iwae": IWAE.from_config,
    "vamp": VampPrior.from_config,
    "vqvae": VQVAE.from_config,
    "wae": WAE.from_config,
    "cvae": CVAE.from_config,
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
    return choose(MODELS, cfg.kind, "model.kind")(cfg)


__all__ = ["CVAE", "IWAE", "MODELS", "VAE", "VQVAE", "WAE", "Autoencoder", "ConvAutoencoder", "DenseAutoencoder",
           "LatentModel", "VampPrior", "build_model", "can_sample", "has_likelihood", "has_prior", "is_conditional"]
