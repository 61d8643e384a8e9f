"""Held-out negative log-likelihood by importance sampling, and what a model without a likelihood reports instead.

`estimate_nll` gives, on a fixed subset (the first `n_images` images given, 1,000 by default), the importance-sampled
estimate of -log p(x) with K = 1,000 draws per image by default (Burda et al. 2016's estimator, the bound that tends
to -log p(x) as K grows: an upper bound on the NLL in expectation, tight for large K), in nats per image, with the
ELBO, the KL and the active units on the same images. A VQ-VAE, a WAE or a plain autoencoder has no density over
images to bound: it reports its reconstruction terms and says so (`no_bound`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from torch import nn

from latentlab.analysis.inference import SCORE_SEED, iwae_log_likelihood, per_image
from latentlab.analysis.posterior import diagnose_posterior
from latentlab.config import check_count
from latentlab.models import has_likelihood

NLL_K = 1000
NLL_IMAGES = 1000


def no_bound(model: nn.Module) -> str:
    """Why `model` has no likelihood bound, in a sentence; "" when it has one."""
    if has_likelihood(model):
        return ""
    name = type(model).__name__
    return (f"a {name} has no likelihood bound: it is deterministic (or its codes are discrete) with no density q(z|x) "
            "to importance-sample, so only its reconstruction terms are reported")


def estimate_nll(model: nn.Module, x: np.ndarray, k: int = NLL_K, n_images: int = NLL_IMAGES,
                 seed: int = SCORE_SEED) -> dict[str, Any]:
    """Importance-sampled negative log-likelihood and ELBO terms on the first `n_images` of `x`.

    Parameters
    ----------
    model : nn.Module
        A trained latent model; one without a likelihood (no bound) gets only its reconstruction terms.
    x : ndarray
        Images, uint8 as stored, of shape (N, H, W) or (N, H, W, 3).
    k : int
        Importance samples per image, at least 1.
    n_images : int
        How many of the first images of `x` to estimate on, at least 1.
    seed : int
        Seeds the importance samples and the one-draw ELBO terms.

    Returns
    -------
    dict[str, Any]
        "nll" (mean -log p(x), nats per image, importance sampled with `k` draws each) and its standard error
        "nll_sem", "elbo" and "kl" (one-draw ELBO terms, nats per image), "active_units" of "latent_dim",
        the reconstruction "bce" (nats per image) and "mse" (per pixel), "k", "n_images", "subset" (which images)
        and "no_bound" (""). For a model without a likelihood, "nll", "nll_sem", "elbo", "kl" and "active_units"
        are None and "no_bound" gives the reason.

    Raises
    ------
    ConfigError
        `k` or `n_images` below 1 (from `check_count`).
    """
    check_count("k", k, "importance samples per image, at least 1")
    check_count("n_images", n_images, "test images to estimate on, at least 1")
    xs = x[:n_images]
    terms = per_image(model, xs, seed=seed)
    out: dict[str, Any] = {"k": k, "n_images": len(xs), "subset": f"the first {len(xs):,} images of the split given",
                           "bce": _mean(terms["bce"]), "mse": _mean(terms["mse"])}
    reason = no_bound(model)
    if reason:
        return {**out, "nll": None, "nll_sem": None, "elbo": None, "kl": None, "active_units": None,
                "no_bound": reason}
    ll = iwae_log_likelihood(model, xs, k=k, seed=seed)
    diag = diagnose_posterior(model, xs, max_images=len(xs)) if len(xs) >= 2 else None
    sem = float(ll.std(ddof=1) / math.sqrt(len(ll))) if len(ll) > 1 else None
    return {**out, "nll": _mean(-ll), "nll_sem": sem, "elbo": _mean(-terms["neg_elbo"]), "kl": _mean(terms["kl"]),
            "active_units": None if diag is None else diag.active_units, "latent_dim": model.latent_dim,
            "no_bound": ""}


def _mean(v: np.ndarray) -> float | None:
    m = float(np.mean(v)) if len(v) else math.nan
    return m if math.isfinite(m) else None
