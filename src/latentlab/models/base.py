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

import inspect
from typing import Self

import torch
from torch import Tensor, nn

from latentlab.config import ModelConfig
from latentlab.models.likelihoods import bernoulli_nll
from latentlab.models.likelihoods import likelihood as get_likelihood


class LatentModel(nn.Module):
    """Base class of the models: images (B, C, H, W) float32 in [0, 1] <-> codes (B, latent_dim).

    Parameters
    ----------
    latent_dim : int
        Size of the code.
    image_shape : tuple of int, default (1, 28, 28)
        (channels, height, width) of the images.
    likelihood : str, default "bernoulli"
        The decoder's distribution: "bernoulli" or "gaussian".

    Raises
    ------
    ConfigError
        An unknown likelihood.
    """

    #: Per-image terms `per_image` returns (besides "code"): "nll" nats per image under the model's likelihood,
    #: "bce" nats per image, "mse" per pixel, and for models with a posterior "kl" nats.
    TERMS: tuple[str, ...] = ("nll", "bce", "mse")
    image_shape: tuple[int, ...] = (1, 28, 28)
    decoder: nn.Module
    #: True for a model that is trained on class labels (see the module doc).
    conditional: bool = False
    #: Constructor arguments read from a config field of another name by `from_config` (IWAE: samples).
    CONFIG_NAMES: dict[str, str] = {}
    #: The unit of the loss where it is not the likelihood's per-pixel loss ("nats per image" for the VAE family
    #: and the WAE, whose losses sum over the pixels of an image).
    LOSS_UNITS: str | None = None

    def __init__(self, latent_dim: int, image_shape: tuple[int, ...] = (1, 28, 28),
                 likelihood: str = "bernoulli") -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.image_shape = tuple(image_shape)
        self.likelihood = likelihood
        self.p_x = get_likelihood(likelihood)  # ConfigError for an unknown name

    @classmethod
    def from_config(cls, cfg: ModelConfig) -> Self:
        """The model a config describes (the class's `MODELS` entry): each constructor argument is read from the
        config field of its name, or of the name `CONFIG_NAMES` gives it.

        Parameters
        ----------
        cfg : ModelConfig
            The architecture: hidden, latent_dim, image_shape, likelihood and the fields of the kind.

        Returns
        -------
        LatentModel
            Freshly initialised, on the CPU (the weights come from torch's global RNG).
        """
        names = list(inspect.signature(cls.__init__).parameters)[1:]  # past self
        return cls(**{name: getattr(cfg, cls.CONFIG_NAMES.get(name, name)) for name in names})

    @property
    def loss_units(self) -> str:
        """The unit of `loss(...)["loss"]`, for axes and logs.

        Returns
        -------
        str
            E.g. "binary cross-entropy per pixel", or "nats per image" for a VAE.
        """
        return self.LOSS_UNITS or f"{self.p_x.pixel_loss} per pixel"

    def encode(self, x: Tensor) -> Tensor:
        """Codes of images; each model defines it.

        Parameters
        ----------
        x : torch.Tensor
            Images, float32 (B, C, H, W) in [0, 1].

        Returns
        -------
        torch.Tensor
            Codes, float32 (B, latent_dim).

        Raises
        ------
        NotImplementedError
            On the base class.
        """
        raise NotImplementedError

    def decode_logits(self, z: Tensor) -> Tensor:
        """Logits of the images at latent positions.

        Parameters
        ----------
        z : torch.Tensor
            Codes, float32 (B, latent_dim).

        Returns
        -------
        torch.Tensor
            Logits, float32 (B, C, H, W); `decode` applies the sigmoid.
        """
        return self.decoder(z).view(-1, *self.image_shape)

    def decode(self, z: Tensor) -> Tensor:
        """Images at latent positions.

        Parameters
        ----------
        z : torch.Tensor
            Codes, float32 (B, latent_dim).

        Returns
        -------
        torch.Tensor
            Images, float32 (B, C, H, W) in [0, 1].
        """
        return torch.sigmoid(self.decode_logits(z))

    def forward(self, x: Tensor) -> Tensor:
        """The reconstruction ``decode(encode(x))``.

        Parameters
        ----------
        x : torch.Tensor
            Images, float32 (B, C, H, W) in [0, 1].

        Returns
        -------
        torch.Tensor
            Reconstructions, float32 (B, C, H, W) in [0, 1].
        """
        return self.decode(self.encode(x))

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Images decoded from draws of the model's prior over its codes (`prior_codes`).

        Parameters
        ----------
        n : int
            Number of images.
        generator : torch.Generator, optional
            Seeded for reproducible draws.

        Returns
        -------
        torch.Tensor
            Images, (n, C, H, W) in [0, 1], on the model's device and dtype.

        Raises
        ------
        TypeError
            The model has no prior over its codes (a plain autoencoder): fit one to its codes instead
            (`latentlab.generate(..., sampler="gmm")`).
        """
        if not callable(getattr(self, "prior_codes", None)):
            raise TypeError(f"{type(self).__name__} has no prior over its codes to sample from; use "
                            "latentlab.generate(model, n, sampler='gmm', x_train=...) instead")
        return self.decode(self.prior_codes(n, generator))

    def loss(self, x: Tensor, target: Tensor | None = None) -> dict[str, Tensor]:
        """Batch-mean loss terms of reconstructing `target` from `x`; each model defines it.

        Parameters
        ----------
        x : torch.Tensor
            Input images, float32 (B, C, H, W) in [0, 1] (noisy ones for a denoiser).
        target : torch.Tensor, optional
            The images to reconstruct, same shape (default `x`).

        Returns
        -------
        dict of str to torch.Tensor
            Scalars: "loss" (what the optimizer minimises, in `loss_units`) and its terms.

        Raises
        ------
        NotImplementedError
            On the base class.
        """
        raise NotImplementedError

    def per_image(self, x: Tensor, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """Per-image terms, deterministic (at the code, no sampling).

        Parameters
        ----------
        x : torch.Tensor
            Images, float32 (B, C, H, W) in [0, 1].
        generator : torch.Generator, optional
            Unused by deterministic models; a VAE draws its one-sample ELBO terms with it.

        Returns
        -------
        dict of str to torch.Tensor
            "code" (B, latent_dim); "nll" (B,) nats per image under the model's likelihood; "bce" (B,) the
            Bernoulli negative log-likelihood in nats per image; "mse" (B,) the mean squared error per pixel.
        """
        code = self.encode(x)
        return {"code": code, **self.reconstruction_terms(self.decode_logits(code), x)}

    def reconstruction_terms(self, logits: Tensor, target: Tensor) -> dict[str, Tensor]:
        """The reconstruction terms of logits against target images.

        Parameters
        ----------
        logits : torch.Tensor
            Decoder logits, (B, C, H, W).
        target : torch.Tensor
            Images, float32 (B, C, H, W) in [0, 1].

        Returns
        -------
        dict of str to torch.Tensor
            "nll" under the model's likelihood and "bce" (nats per image), "mse" (per pixel), each (B,).
        """
        logits = logits.float()
        bce = bernoulli_nll(logits, target)
        nll = bce if self.likelihood == "bernoulli" else self.p_x.per_image(logits, target)
        return {"nll": nll, "bce": bce, "mse": (torch.sigmoid(logits) - target).pow(2).flatten(1).mean(1)}


def has_prior(model: nn.Module) -> bool:
    """Whether a model has a Gaussian posterior and a prior it measures a KL to.

    Parameters
    ----------
    model : torch.nn.Module
        Any model; the answer comes from its `TERMS`.

    Returns
    -------
    bool
        True when it declares a "kl" term (a VAE, an IWAE, a VampPrior VAE, a conditional VAE): ELBO scores, prior
        samples and the manifold apply.
    """
    return "kl" in getattr(model, "TERMS", ())


def can_sample(model: nn.Module) -> bool:
    """Whether a model has a prior over its codes to draw from.

    Parameters
    ----------
    model : torch.nn.Module
        Any model; the answer comes from whether it has a callable `prior_codes`.

    Returns
    -------
    bool
        True for models with a prior over their codes to draw from (`prior_codes`).
    """
    return callable(getattr(model, "prior_codes", None))


def has_likelihood(model: nn.Module) -> bool:
    """Whether a model has an importance-sampled estimate of log p(x).

    Parameters
    ----------
    model : torch.nn.Module
        Any model.

    Returns
    -------
    bool
        True when it has a prior (`has_prior`) and a callable `iwae_log_likelihood`.
    """
    return has_prior(model) and callable(getattr(model, "iwae_log_likelihood", None))


def is_conditional(model: nn.Module) -> bool:
    """Whether a model is trained on class labels.

    Parameters
    ----------
    model : torch.nn.Module
        Any model; the answer comes from its `conditional` attribute (False when it has none).

    Returns
    -------
    bool
        True for models trained on class labels (`conditional = True`).
    """
    return bool(getattr(model, "conditional", False))
