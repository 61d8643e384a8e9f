"""Generation: codes drawn by a sampler from the `SAMPLERS` registry, decoded into images.

- "prior": the model's own prior (`prior_codes`): N(0, I) for a VAE, IWAE, conditional VAE or WAE, the mixture of
  pseudo-input posteriors for a VampPrior VAE, the codes' training frequencies for a VQ-VAE. A plain autoencoder
  has none.
- "gmm": a Gaussian mixture (scikit-learn, full covariances, `n_components` 10 by default) fitted to the codes of
  the training images, as pythae's GaussianMixtureSampler does (Ghosh et al. 2020 propose it for deterministic
  autoencoders); it works for every model with codes, a plain autoencoder too.

A conditional model draws its style code from the sampler and is told the class `label` (default: classes in turn).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from sklearn.mixture import GaussianMixture
from torch import nn

from latentlab.analysis.inference import embed, model_device, to_float, to_images
from latentlab.config import MAX_SAMPLES, check_count
from latentlab.errors import ConfigError, choose
from latentlab.models import can_sample, is_conditional

#: The most training images whose codes the mixture is fitted to: a full-covariance fit of 10 components on 20,000
#: codes takes about a second, and more do not move it.
GMM_IMAGES = 20_000
N_COMPONENTS = 10


def prior_sampler(model: nn.Module, n: int, seed: int = 0, **_: object) -> np.ndarray:
    """`n` codes (n, latent_dim) float32 from the model's prior; ConfigError for a model without one."""
    if not can_sample(model):
        raise ConfigError(f"a {type(model).__name__} has no prior to sample from: use --sampler gmm (a Gaussian "
                          "mixture fitted to its training codes) or a model with a prior (vae, iwae, vamp, vqvae, "
                          "wae, cvae)", field="sampler", value="prior")
    device = model_device(model)
    gen = torch.Generator(device=device).manual_seed(seed)
    with torch.inference_mode():
        return model.prior_codes(n, gen).float().cpu().numpy()


def gmm_sampler(model: nn.Module, n: int, seed: int = 0, x_train: np.ndarray | None = None,
                y_train: np.ndarray | None = None, n_components: int = N_COMPONENTS, **_: object) -> np.ndarray:
    """`n` codes (n, latent_dim) float32 from a Gaussian mixture of `n_components` fitted to the codes of (at most
    GMM_IMAGES of) `x_train`, uint8 as stored (with their labels `y_train` for a conditional model)."""
    check_count("n_components", n_components, "mixture components, at least 1")
    if x_train is None or len(x_train) < n_components:
        raise ConfigError(f"the gmm sampler fits {n_components} components to the training codes and needs at least "
                          f"that many training images (got {0 if x_train is None else len(x_train)}); pass the "
                          "run's data (--data-dir) or use --sampler prior",
                          field="x_train", value=0 if x_train is None else len(x_train), related=("data_dir",))
    # float64: fitted on float32 codes, the mixture's weights are float32 and their sum can exceed 1 in float64,
    # which `sample` refuses (seen on a VQ-VAE whose codes took two distinct values after one epoch).
    codes = training_codes(model, x_train[:GMM_IMAGES], None if y_train is None else y_train[:GMM_IMAGES])
    codes = codes.astype(np.float64)
    gmm = GaussianMixture(n_components, covariance_type="full", random_state=seed, reg_covar=1e-5).fit(codes)
    return gmm.sample(n)[0][np.random.default_rng(seed).permutation(n)].astype(np.float32)


SAMPLERS: dict[str, Callable[..., np.ndarray]] = {"prior": prior_sampler, "gmm": gmm_sampler}


@torch.inference_mode()
def training_codes(model: nn.Module, x: np.ndarray, y: np.ndarray | None = None) -> np.ndarray:
    """Codes (N, latent_dim) float32 of uint8 images `x`; a conditional model's given labels `y` when there are."""
    if not is_conditional(model) or y is None:
        return embed(model, x)
    model.eval()
    device = model_device(model)
    parts = [model.encode(to_float(x[i:i + 4096], model.image_shape).to(device),
                          torch.as_tensor(np.asarray(y[i:i + 4096]), dtype=torch.long, device=device))
             for i in range(0, len(x), 4096)]
    return torch.cat(parts).float().cpu().numpy() if parts else np.zeros((0, model.latent_dim), np.float32)


def generate(model: nn.Module, n: int = 16, *, sampler: str = "prior", seed: int = 0, label: int | None = None,
             x_train: np.ndarray | None = None, y_train: np.ndarray | None = None,
             n_components: int = N_COMPONENTS) -> np.ndarray:
    """Images decoded from codes drawn by a sampler of the `SAMPLERS` registry; reproducible for a given `seed`.

    Parameters
    ----------
    model : nn.Module
        A trained latent model (it is put in eval mode); a conditional one (model.kind "cvae") draws classes.
    n : int
        The number of images to draw, 1 to `MAX_SAMPLES`.
    sampler : str
        "prior" (the model's own prior) or "gmm" (a Gaussian mixture fitted to the codes of `x_train`).
    seed : int
        Seeds the sampler's draws.
    label : int or None
        For a conditional model, the class to draw, in [0, n_classes); None draws classes 0, 1, ... in turn.
        Must be None for any other model.
    x_train : ndarray or None
        Training images, uint8 as stored, (N, H, W) or (N, H, W, 3); the "gmm" sampler needs at least
        `n_components` of them (it fits to at most `GMM_IMAGES`). Ignored by "prior".
    y_train : ndarray or None
        Integer labels (N,) of `x_train`, used by the "gmm" sampler to encode them with a conditional model.
    n_components : int
        The number of mixture components of the "gmm" sampler, at least 1.

    Returns
    -------
    ndarray
        `n` images, float32 in [0, 1], of shape (n, H, W) (grayscale) or (n, H, W, 3) (colour).

    Raises
    ------
    ConfigError
        `n` out of range, an unknown `sampler`, a `label` for a model that is not conditional or outside
        [0, n_classes), a "prior" sampler for a model without a prior, or too few `x_train` for "gmm".
    """
    check_count("n", n, f"images to draw, 1 to {MAX_SAMPLES:,}")
    if n > MAX_SAMPLES:
        raise ConfigError(f"n={n!r} is out of range: draw 1 to {MAX_SAMPLES:,} images", field="n", value=n)
    draw = choose(SAMPLERS, sampler, "sampler")
    conditional = is_conditional(model)
    check_label(model, label)
    z = torch.as_tensor(draw(model, n, seed=seed, x_train=x_train, y_train=y_train, n_components=n_components))
    model.eval()
    device = model_device(model)
    with torch.inference_mode():
        if conditional:
            y = torch.full((n,), label) if label is not None else torch.arange(n) % model.n_classes
            images = model.decode(z.to(device), y.to(device))
        else:
            images = model.decode(z.to(device))
    return to_images(images)


@torch.inference_mode()
def interpolate(model: nn.Module, a: np.ndarray, b: np.ndarray, n: int = 10, label: int | None = None
                ) -> np.ndarray:
    """Images decoded at evenly spaced points of the straight line from the code of image `a` to that of `b`.

    The first and last images are the reconstructions of `a` and `b`.

    Parameters
    ----------
    model : nn.Module
        A trained latent model (it is put in eval mode).
    a : ndarray
        The start image, uint8 or float as stored, of shape (H, W) or (H, W, 3).
    b : ndarray
        The end image, of the same shape and dtype as `a`.
    n : int
        The number of images along the path, at least 2.
    label : int or None
        For a conditional model, the class to decode along the whole path; None infers the class of each end
        (`classify`) and moves the condition from `a`'s class to `b`'s with the code (class weights (1 - t, t)),
        so that the ends are the reconstructions of `a` and `b`. Must be None for any other model.

    Returns
    -------
    ndarray
        `n` images, float32 in [0, 1], of shape (n, H, W) (grayscale) or (n, H, W, 3) (colour).

    Raises
    ------
    ConfigError
        `n` below 2, a `label` for a model that is not conditional, or one outside [0, n_classes).
    """
    check_count("n", n, "images along the path, at least 2")
    if n < 2:
        raise ConfigError(f"n={n!r} is invalid: images along the path, at least 2", field="n", value=n)
    check_label(model, label)
    model.eval()
    device = model_device(model)
    pair = to_float(np.stack([np.asarray(a), np.asarray(b)]), model.image_shape).to(device)
    codes = model.encode(pair)
    t = torch.linspace(0.0, 1.0, n, device=device, dtype=codes.dtype)[:, None]
    path = (1 - t) * codes[0] + t * codes[1]
    if is_conditional(model):
        if label is not None:
            return to_images(model.decode(path, label))
        ends = model.one_hot(model.classify(pair), 2, device).to(codes.dtype)  # each end's own class
        return to_images(model.decode(path, (1 - t) * ends[0] + t * ends[1]))
    return to_images(model.decode(path))


def check_label(model: nn.Module, label: int | None) -> None:
    """Raise `ConfigError` for a class `label` that `model` cannot decode: any label for a model that is not
    conditional, one outside [0, n_classes) for one that is (None is always fine)."""
    if label is None:
        return
    if not is_conditional(model):
        raise ConfigError(f"label={label!r} needs a conditional model (model.kind='cvae'); this one is a "
                          f"{type(model).__name__}, which decodes no class on request", field="label", value=label)
    if not 0 <= label < model.n_classes:
        raise ConfigError(f"label={label!r} is invalid: choose one in [0, {model.n_classes - 1}]",
                          field="label", value=label)
