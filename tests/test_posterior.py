"""Posterior diagnostics: exact numbers on a model whose posterior is known, then what they say about real VAEs
trained with beta 0, 1 and 100 on the bundled MNIST sample (conftest's `beta_runs`)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import Tensor

from latentlab.analysis.inference import per_image
from latentlab.analysis.posterior import (
    ACTIVE_VARIANCE,
    COLLAPSED_KL,
    beta_warnings,
    diagnose_posterior,
    posterior_stats,
    title_note,
)
from latentlab.config import ModelConfig
from latentlab.errors import ConfigError
from latentlab.models import build_model
from latentlab.models.base import LatentModel


class KnownPosterior(LatentModel):
    """q(z|x) with mu = (scale * k, 0.05, 0) and logvar = (log 0.5, 0, log 2) for an image whose pixels are all k."""

    TERMS = ("bce", "mse", "kl")

    def __init__(self, scale: float, beta: float = 1.0) -> None:
        super().__init__(latent_dim=3)
        self.scale, self.beta = scale, beta
        self.dummy = torch.nn.Parameter(torch.zeros(()))  # the device helpers look at the parameters

    def posterior(self, x: Tensor) -> tuple[Tensor, Tensor]:
        k = x.flatten(1)[:, 0] * 255
        mu = torch.stack([self.scale * k, torch.full_like(k, 0.05), torch.zeros_like(k)], 1)
        logvar = torch.tensor([math.log(0.5), 0.0, math.log(2.0)]).expand(len(x), 3)
        return mu, logvar


def _images(ks: np.ndarray) -> np.ndarray:
    return np.repeat(ks.astype(np.uint8), 28 * 28).reshape(-1, 28, 28)


def test_kl_and_variance_per_dimension_match_the_closed_form():
    ks = np.arange(10)
    model = KnownPosterior(scale=0.3)
    kl, var = posterior_stats(model, _images(ks), batch_size=3)  # batches of 3, 3, 3, 1
    mu0 = 0.3 * ks
    expected_kl = [np.mean(0.5 * (mu0**2 + 0.5 - 1 - math.log(0.5))), 0.5 * 0.05**2, 0.5 * (2 - 1 - math.log(2))]
    np.testing.assert_allclose(kl, expected_kl, rtol=1e-6)
    np.testing.assert_allclose(var, [np.var(mu0), 0.0, 0.0], atol=1e-9, rtol=1e-6)


def test_active_units_use_burdas_threshold_on_the_posterior_mean_variance():
    ks = np.array([0, 1] * 8)  # posterior means scale * {0, 1}: variance scale^2 / 4
    below = diagnose_posterior(KnownPosterior(scale=2 * math.sqrt(ACTIVE_VARIANCE) * 0.9), _images(ks))
    above = diagnose_posterior(KnownPosterior(scale=2 * math.sqrt(ACTIVE_VARIANCE) * 1.1), _images(ks))
    assert below.active_units == 0 and above.active_units == 1 and above.latent_dim == 3
    # Dimension 2 has a KL of 0.15 nats but a constant mean: it carries no information, so it is not active.
    assert above.kl_per_dim[2] > COLLAPSED_KL and above.posterior_mean_variance[2] == 0.0
    assert below.collapsed and below.warnings[0].startswith("posterior collapsed: 0 of 3 latent units active")
    assert not above.collapsed
    assert above.warnings == ["partial posterior collapse: 2 of 3 latent units inactive (posterior-mean variance "
                              "<= 0.01); the decoder ignores them."]
    assert title_note(KnownPosterior(1.0), above) == ""


def test_collapse_names_a_large_beta_and_beta_zero_is_named_without_images():
    ks = np.arange(4)
    collapsed = diagnose_posterior(KnownPosterior(scale=0.0, beta=100.0), _images(ks))
    assert collapsed.collapsed and "model.beta=100 weighs the KL term 100 times" in collapsed.warnings[0]
    assert "beta" not in diagnose_posterior(KnownPosterior(scale=0.0), _images(ks)).warnings[0]
    zero = KnownPosterior(scale=1.0, beta=0.0)
    assert beta_warnings(zero) == [
        "beta=0 trains a plain autoencoder: the codes are not drawn towards N(0, I), so samples from the prior do "
        "not look like the data (set model.beta=1 for a VAE)."]
    assert beta_warnings(zero)[0] in diagnose_posterior(zero, _images(ks)).warnings
    assert title_note(zero) == "beta=0: a plain autoencoder, the prior does not match the codes"
    assert beta_warnings(build_model(ModelConfig(kind="dense", hidden=(8,), latent_dim=2))) == []


def test_diagnostics_refuse_autoencoders_and_single_images():
    with pytest.raises(ConfigError, match="plain autoencoder"):
        posterior_stats(build_model(ModelConfig(kind="dense", hidden=(8,), latent_dim=2)), _images(np.arange(4)))
    with pytest.raises(ConfigError, match="at least 2 images"):
        posterior_stats(KnownPosterior(1.0), _images(np.arange(1)))


@pytest.mark.parametrize("beta", [0.0, 1.0, 100.0])
def test_trained_vaes_say_what_beta_did(beta, beta_runs, mnist_small):
    run = beta_runs[beta]
    diag = diagnose_posterior(run.model, mnist_small.x_test)
    # The per-dimension KL adds up to the model's own per-image KL term, averaged.
    assert diag.total_kl == pytest.approx(float(per_image(run.model, mnist_small.x_test)["kl"].mean()), rel=1e-5)
    assert diag.beta == beta and diag.n_images == len(mnist_small.x_test)
    collapse = [w for w in diag.warnings if "collapse" in w]
    if beta == 100:  # measured: KL 0.003 nats, posterior-mean variance <= 0.0005 per dimension
        assert diag.active_units == 0 and diag.collapsed and diag.total_kl < COLLAPSED_KL
        assert max(diag.posterior_mean_variance) < ACTIVE_VARIANCE / 10
        assert collapse and collapse[0].startswith("posterior collapsed: 0 of 2 latent units active")
        assert "model.beta=100" in collapse[0]
        assert title_note(run.model, diag) == "posterior collapsed: 0 of 2 latent units active"
    else:  # measured: beta=1 KL 10 nats, beta=0 KL 126 nats; both units active
        assert diag.active_units >= 1 and not diag.collapsed and not collapse
        assert diag.total_kl > 1.0
    assert (beta_warnings(run.model)[0] in diag.warnings) if beta == 0 else not beta_warnings(run.model)
    assert ("beta=0" in title_note(run.model, diag)) == (beta == 0)
