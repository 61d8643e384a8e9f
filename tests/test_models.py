import math

import pytest
import torch

from latentlab.config import ModelConfig, NoiseConfig
from latentlab.models import MODELS, VAE, build_model
from latentlab.presets import PRESETS
from latentlab.training.noise import NOISES, corrupt

CONFIGS = [
    ModelConfig(kind="dense", hidden=(), latent_dim=32),
    ModelConfig(kind="dense", hidden=(128, 64), latent_dim=32),
    ModelConfig(kind="conv", hidden=(8, 16), latent_dim=16),
    ModelConfig(kind="conv", hidden=(8, 16, 16), latent_dim=4),
    ModelConfig(kind="conv", hidden=(8,), latent_dim=2),
    ModelConfig(kind="vae", hidden=(64,), latent_dim=2),
    ModelConfig(kind="vae", hidden=(8, 16), latent_dim=3, encoder="conv"),
]


def test_every_registered_kind_is_covered():
    assert {c.kind for c in CONFIGS} == set(MODELS)


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"{c.kind}-{c.encoder}-{'-'.join(map(str, c.hidden))}")
def test_encode_decode_shapes_and_loss(cfg):
    torch.manual_seed(0)
    model = build_model(cfg)
    x = torch.rand(5, 1, 28, 28)
    z = model.encode(x)
    assert z.shape == (5, cfg.latent_dim)
    img = model.decode(z)
    assert img.shape == (5, 1, 28, 28) and img.min() >= 0 and img.max() <= 1
    out = model.loss(x)
    assert all(torch.isfinite(v) for v in out.values())
    out["loss"].backward()
    assert all(p.grad is not None for p in model.parameters())
    if cfg.kind == "vae":
        assert set(out) == {"loss", "recon", "kl"}
        mu, logvar = model.posterior(x)
        assert mu.shape == logvar.shape == (5, cfg.latent_dim)
        assert model.sample(3).shape == (3, 1, 28, 28)
    else:
        # per-pixel BCE of an untrained sigmoid output is close to log 2
        assert abs(out["recon"].item() - math.log(2)) < 0.1


def test_decode_at_arbitrary_latent_points():
    model = build_model(ModelConfig(kind="vae", hidden=(32,), latent_dim=2))
    points = torch.tensor([[-1.0, 3.0], [0.0, 0.0], [2.5, -2.5]])
    assert model.decode(points).shape == (3, 1, 28, 28)


def test_seed_models_have_the_seed_architectures():
    simple = build_model(PRESETS["mnist-simple"].config.model)
    sizes = [m.out_features for m in simple.modules() if isinstance(m, torch.nn.Linear)]
    assert sizes == [32, 784]
    deep = build_model(PRESETS["mnist-deep"].config.model)
    sizes = [m.out_features for m in deep.modules() if isinstance(m, torch.nn.Linear)]
    assert sizes == [128, 64, 32, 64, 128, 784]


def test_vae_kl_matches_closed_form_and_loss_is_recon_plus_beta_kl():
    torch.manual_seed(0)
    model = VAE(hidden=(16,), latent_dim=2, beta=0.5)
    x = torch.rand(4, 1, 28, 28).round()
    mu, logvar = model.posterior(x)
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    expected_kl = torch.distributions.kl_divergence(q, p).sum(1).mean()
    torch.manual_seed(1)
    out = model.loss(x)
    assert torch.allclose(out["kl"], expected_kl, atol=1e-5)
    assert torch.allclose(out["loss"], out["recon"] + 0.5 * out["kl"])


def test_iwae_bound_is_tighter_than_elbo_on_average():
    torch.manual_seed(0)
    model = VAE(hidden=(16,), latent_dim=2)
    x = torch.rand(64, 1, 28, 28).round()
    with torch.no_grad():
        t = model.per_image(x, torch.Generator().manual_seed(0))
        elbo = -(t["recon"] + t["kl"]).mean()
        iwae = model.iwae_log_likelihood(x, k=200).mean()
    assert iwae >= elbo


@pytest.mark.parametrize("kind", [k for k in NOISES if k != "none"])
def test_noise_stays_in_range_and_changes_the_input(kind):
    x = torch.rand(16, 1, 28, 28)
    g = torch.Generator().manual_seed(0)
    y = corrupt(x, NoiseConfig(kind=kind, factor=0.5), g)
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1
    assert not torch.equal(x, y)
    assert torch.equal(corrupt(x, NoiseConfig(kind="none")), x)


def test_gaussian_noise_is_clipped_classic_noise():
    x = torch.full((1, 1, 28, 28), 0.5)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    y = corrupt(x, NoiseConfig(kind="gaussian", factor=0.5), g1)
    expected = (x + 0.5 * torch.randn(x.shape, generator=g2)).clamp(0, 1)
    assert torch.equal(y, expected)
