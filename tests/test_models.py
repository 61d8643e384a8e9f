import math

import pytest
import torch
import torch.nn.functional as F

from latentlab.config import ModelConfig, NoiseConfig
from latentlab.errors import ConfigError
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
    ModelConfig(kind="iwae", hidden=(32,), latent_dim=2, iwae_samples=3),
    ModelConfig(kind="vamp", hidden=(32,), latent_dim=2, pseudo_inputs=6),
    ModelConfig(kind="vqvae", hidden=(32,), latent_dim=4, code_dim=2, codebook_size=16),
    ModelConfig(kind="wae", hidden=(32,), latent_dim=3),
    ModelConfig(kind="cvae", hidden=(32,), latent_dim=2),
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
    out = model.loss(x, y=torch.arange(5)) if model.conditional else model.loss(x)
    assert all(torch.isfinite(v) for v in out.values())
    out["loss"].backward()
    # every trained parameter gets a gradient (a VQ-VAE's codebook is moved by its EMA update instead)
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    assert all(p.requires_grad for name, p in model.named_parameters() if name != "codebook")
    if cfg.kind not in ("dense", "conv"):
        assert out["recon"].item() > 100  # nats per image: about 784 log 2 before training
    if cfg.kind == "vae":
        assert set(out) == {"loss", "recon", "kl"}
        mu, logvar = model.posterior(x)
        assert mu.shape == logvar.shape == (5, cfg.latent_dim)
        assert model.sample(3).shape == (3, 1, 28, 28)
    elif cfg.kind in ("dense", "conv"):
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


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (3, 64, 48), (1, 96, 96), (3, 30, 22)])
@pytest.mark.parametrize("kind", ["dense", "conv", "vae-dense", "vae-conv"])
def test_every_model_takes_any_image_shape(kind, shape):
    """Stride-2 stages on sides that are not multiples of 4 pad the input and crop the output back."""
    model_kind, _, encoder = kind.partition("-")
    hidden = (16,) if model_kind == "dense" or encoder == "dense" else (4, 8)
    cfg = ModelConfig(kind=model_kind, encoder=encoder or "dense", hidden=hidden, latent_dim=3, image_shape=shape)
    torch.manual_seed(0)
    model = build_model(cfg)
    x = torch.rand(2, *shape)
    assert model.decode(model.encode(x)).shape == (2, *shape)
    out = model.loss(x)
    out["loss"].backward()
    assert torch.isfinite(out["loss"])
    terms = model.per_image(x)
    assert terms["nll"].shape == terms["mse"].shape == (2,)


def test_the_seed_conv_models_are_unchanged_by_any_shape_support():
    # 28 is a multiple of 4: no padding layer, the same parameter names and shapes as the first version.
    model = build_model(ModelConfig(kind="conv", hidden=(32, 64), latent_dim=32))
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert shapes["encoder.0.0.weight"] == (32, 1, 3, 3) and shapes["encoder.1.weight"] == (32, 64 * 7 * 7)
    assert shapes["decoder.5.weight"] == (32, 1, 3, 3) and len(shapes) == 12


def test_gaussian_likelihood_is_squared_error_with_a_fixed_sigma():
    from latentlab.models.likelihoods import GAUSSIAN_SIGMA

    torch.manual_seed(0)
    ae = build_model(ModelConfig(kind="dense", hidden=(8,), latent_dim=2, likelihood="gaussian"))
    x = torch.rand(4, 1, 28, 28)
    logits = ae.decode_logits(ae.encode(x))
    assert ae.loss(x)["loss"].item() == pytest.approx(F.mse_loss(torch.sigmoid(logits), x).item(), rel=1e-5)
    assert ae.loss_units == "MSE per pixel"
    vae = build_model(ModelConfig(kind="vae", hidden=(8,), latent_dim=2, likelihood="gaussian"))
    mu = vae.posterior(x)[0]
    mean = torch.sigmoid(vae.decode_logits(mu))
    expected = 0.5 * ((x - mean) ** 2).flatten(1).sum(1) / GAUSSIAN_SIGMA**2 + 0.5 * 784 * math.log(
        2 * math.pi * GAUSSIAN_SIGMA**2)
    torch.testing.assert_close(vae.per_image(x)["nll"], expected, rtol=1e-5, atol=1e-3)
    with pytest.raises(ConfigError, match="model.likelihood='poisson' is invalid: choose one of bernoulli, gaussian"):
        build_model(ModelConfig(kind="dense", likelihood="poisson"))


# What each kind keeps of its config beyond hidden, latent_dim, image_shape and likelihood (LatentModel.from_config
# reads every constructor argument from the config field of its name; IWAE's `samples` from iwae_samples).
KEPT = {"dense": {}, "conv": {}, "vae": {"beta": 0.5}, "iwae": {"iwae_samples": 3, "beta": 0.5},
        "vamp": {"pseudo_inputs": 5, "beta": 0.5}, "vqvae": {"codebook_size": 8, "code_dim": 2, "commitment": 0.5},
        "wae": {"mmd_weight": 2.0}, "cvae": {"n_classes": 4, "beta": 0.5}}


@pytest.mark.parametrize("kind", list(MODELS))
def test_from_config_reads_every_constructor_argument_from_the_config(kind):
    cfg = ModelConfig(kind=kind, hidden=(16,), latent_dim=4, beta=0.5, image_shape=(1, 12, 12), likelihood="gaussian",
                      iwae_samples=3, pseudo_inputs=5, codebook_size=8, code_dim=2, commitment=0.5, mmd_weight=2.0,
                      n_classes=4)
    model = build_model(cfg)
    assert (model.latent_dim, model.image_shape, model.likelihood) == (4, (1, 12, 12), "gaussian")
    assert {name: getattr(model, name) for name in KEPT[kind]} == KEPT[kind]
    assert set(KEPT) == set(MODELS)
