"""Is a VAE still a VAE? Posterior diagnostics from its encoder: KL per latent dimension, the variance of the
posterior mean, active units, and warnings in plain words when the posterior collapsed or beta = 0.

A unit (latent dimension) is *active* when the posterior mean moves with the image: its activity
A_d = Var_x(E_q[z_d | x]) > 0.01 (Burda, Grosse and Salakhutdinov, "Importance Weighted Autoencoders", ICLR 2016,
who count active units this way to compare VAEs and IWAEs). A collapsed posterior, q(z|x) = p(z) for every image,
has no active unit and a KL of zero: the decoder draws one average image whatever the code, so the manifold and
the prior samples show the same blur everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from latentlab.analysis.inference import batches
from latentlab.errors import ConfigError
from latentlab.models import VAE, Autoencoder, has_prior
from latentlab.models.gaussian import gaussian_kl

#: Burda et al. (2016): a unit is active when the variance of its posterior mean over the data exceeds this.
ACTIVE_VARIANCE = 0.01
#: Below this mean KL (nats per image) the codes carry almost no information about the images: the data-mean KL
#: bounds the mutual information I(x; z) from above, and 0.1 nats is worth e^0.1 = 1.1 codes the decoder can tell
#: apart, i.e. one. Measured here: 2-D VAEs on the MNIST sample at beta=1 sit at 6-10 nats, at beta=100 near 0.003.
COLLAPSED_KL = 0.1
#: Diagnose on at most this many images: the variance and mean KL are stable long before, and it stays cheap.
MAX_IMAGES = 5000


@dataclass(frozen=True)
class PosteriorDiagnostics:
    """What a VAE's posterior says about collapse, as `diagnose_posterior` measures it.

    Parameters
    ----------
    kl_per_dim : list of float
        KL(q(z|x) || p(z)) per latent dimension, nats, mean over images.
    posterior_mean_variance : list of float
        Variance over images of the posterior mean, per dimension.
    active_units : int
        Dimensions whose posterior mean varies by more than 0.01 (Burda et al. 2016).
    latent_dim : int
        Dimensions in all.
    total_kl : float
        Sum of `kl_per_dim`, nats per image.
    beta : float or None
        The model's KL weight, if it has one.
    n_images : int
        Images measured.
    collapsed : bool
        No active unit, or under 0.1 nats of KL per image.
    warnings : list of str, default []
        Plain-words warnings (collapse, beta = 0).
    """

    kl_per_dim: list[float]
    posterior_mean_variance: list[float]
    active_units: int
    latent_dim: int
    total_kl: float
    beta: float | None
    n_images: int
    collapsed: bool
    warnings: list[str] = field(default_factory=list)


def posterior_stats(model: nn.Module, x: np.ndarray, batch_size: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """(KL per dimension in nats, mean over images; variance over images of the posterior mean per dimension),
    each (latent_dim,) float64, from `model.posterior(x) -> (mu, logvar)` over uint8 images as stored."""
    if not has_prior(model):
        what = "a plain autoencoder" if isinstance(model, Autoencoder) else f"a {type(model).__name__}, which has none"
        raise ConfigError("posterior diagnostics need a model with a Gaussian posterior and a prior (vae, iwae, vamp, "
                          f"cvae); this one is {what}", field="model", value=what)
    if len(x) < 2:
        raise ConfigError(f"posterior diagnostics need at least 2 images to measure a variance, got {len(x)}",
                          field="x", value=len(x))
    model.eval()
    mus, kls = [], []
    with torch.inference_mode():
        for xb in batches(model, x, batch_size):
            mu, logvar = model.posterior(xb)
            # The model's own on its device (an estimate for a VampPrior's mixture), else the N(0, I) closed form.
            kl = model.kl_per_dim(mu, logvar) if _own_kl(model) else None
            # float64 on the host (MPS has none); (N, latent_dim) is small enough to keep whole.
            mu, logvar = (t.float().cpu().double() for t in (mu, logvar))
            mus.append(mu)
            kls.append(kl.float().cpu().double() if kl is not None else gaussian_kl(mu, logvar))
    return torch.cat(kls).mean(0).numpy(), torch.cat(mus).var(0, correction=0).numpy()


def _own_kl(model: nn.Module) -> bool:
    """True when the model's KL per dimension is not the standard normal's closed form (computed here in float64)."""
    own = getattr(type(model), "kl_per_dim", None)
    return own is not None and own is not VAE.kl_per_dim


def diagnose_posterior(model: nn.Module, x: np.ndarray, max_images: int = MAX_IMAGES) -> PosteriorDiagnostics:
    """Posterior diagnostics of a model with a prior.

    Parameters
    ----------
    model : torch.nn.Module
        A model with a posterior (a VAE).
    x : numpy.ndarray
        uint8 images as stored, (N, H, W) or (N, H, W, 3); at least 2.
    max_images : int, default MAX_IMAGES
        Only the first this many are measured.

    Returns
    -------
    PosteriorDiagnostics
        KL and posterior-mean variance per dimension, active units, collapse and warnings.

    Raises
    ------
    ConfigError
        A model without a prior, or fewer than 2 images.
    """
    x = x[:max_images]
    kl, variance = posterior_stats(model, x)
    beta = _beta(model)
    active, total, d = int((variance > ACTIVE_VARIANCE).sum()), float(kl.sum()), len(kl)
    collapsed = active == 0 or total < COLLAPSED_KL
    return PosteriorDiagnostics(
        kl_per_dim=[float(v) for v in kl], posterior_mean_variance=[float(v) for v in variance],
        active_units=active, latent_dim=d, total_kl=total, beta=beta, n_images=len(x), collapsed=collapsed,
        warnings=_collapse_warnings(active, d, total, beta, collapsed) + beta_warnings(model))


def _beta(model: nn.Module) -> float | None:
    beta = getattr(model, "beta", None)
    return None if beta is None else float(beta)


def _beta_cause(beta: float | None) -> str:
    if beta is None or beta <= 1:
        return ""
    return (f" model.beta={beta:g} weighs the KL term {beta:g} times (1 is the ELBO), so carrying information "
            "in the code costs more than it saves in reconstruction: lower model.beta.")


def _collapse_warnings(active: int, d: int, total: float, beta: float | None, collapsed: bool) -> list[str]:
    if collapsed:
        return [f"posterior collapsed: {active} of {d} latent units active, KL {total:.2g} nats per image: the "
                "codes carry almost no information about the images, so every code decodes to about the same "
                "average image (the manifold and the prior samples show one blur)." + _beta_cause(beta)]
    if active < d:
        return [f"partial posterior collapse: {d - active} of {d} latent units inactive (posterior-mean variance "
                f"<= {ACTIVE_VARIANCE:g}); the decoder ignores them." + _beta_cause(beta)]
    return []


def beta_warnings(model: nn.Module) -> list[str]:
    """The warning that needs no images: a model with a prior trained with beta = 0 is not a VAE."""
    if not has_prior(model) or _beta(model) != 0:
        return []
    return ["beta=0 trains a plain autoencoder: the codes are not drawn towards N(0, I), so samples from the prior "
            "do not look like the data (set model.beta=1 for a VAE)."]


def title_note(model: nn.Module, diag: PosteriorDiagnostics | None = None) -> str:
    """A few words for a figure title when the posterior collapsed or beta = 0, else "". Without `diag` (no
    images at hand) only beta is checked."""
    parts = []
    if diag is not None and diag.collapsed:
        parts.append(f"posterior collapsed: {diag.active_units} of {diag.latent_dim} latent units active")
    if beta_warnings(model):
        parts.append("beta=0: a plain autoencoder, the prior does not match the codes")
    return "; ".join(parts)
