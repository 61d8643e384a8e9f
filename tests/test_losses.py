import pytest
import torch
import torch.nn.functional as F

from latentlab.config import ModelConfig
from latentlab.models import build_model
from latentlab.models.losses import bce_with_logits_sum


def _aten(z, y):
    return F.binary_cross_entropy_with_logits(z, y, reduction="sum")


@pytest.mark.parametrize("shape", [(256, 1, 28, 28), (3, 7), (1, 64), (65,), (1,)])
def test_sum_and_gradient_match_aten(shape):
    g = torch.Generator().manual_seed(0)
    z = (torch.randn(shape, generator=g) * 6).requires_grad_()
    y = torch.rand(shape, generator=g)
    ours = bce_with_logits_sum(z, y)
    (grad,) = torch.autograd.grad(ours, z)
    z2 = z.detach().clone().requires_grad_()
    ref = _aten(z2, y)
    ref.backward()
    assert ours.item() == pytest.approx(ref.item(), rel=1e-5, abs=1e-6)
    torch.testing.assert_close(grad, z2.grad)


def test_saturated_logits_stay_exact_where_exp_underflows():
    z = torch.tensor([100.0, -100.0, 0.0, 20.0, -20.0, 88.0, -88.0, 1e-4, 30.0, -30.0])
    y = torch.tensor([0.0, 1.0, 0.5, 0.3, 0.9, 0.0, 1.0, 0.2, 1.0, 0.0])
    assert bce_with_logits_sum(z, y).item() == pytest.approx(_aten(z, y).item(), rel=1e-6)
    # Confident and right: log1p(exp(-|z|)) is below float32's resolution next to 1 and is dropped, an error
    # under 6e-8 nats per pixel (the documented bound), never more.
    z = torch.linspace(16.0, 40.0, 1000)
    err = (bce_with_logits_sum(z, torch.ones_like(z)) - _aten(z, torch.ones_like(z))).abs().item()
    assert err <= 6e-8 * len(z)


def test_gradcheck_in_float64():
    z = torch.randn(5, 130, dtype=torch.float64, requires_grad=True)
    y = torch.rand(5, 130, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda t: bce_with_logits_sum(t, y), (z,))


def test_low_precision_logits_are_summed_in_float32():
    z = torch.randn(4, 784) * 3
    y = torch.rand(4, 784)
    out = bce_with_logits_sum(z.bfloat16(), y)
    assert out.dtype == torch.float32
    assert out.item() == pytest.approx(_aten(z.bfloat16().float(), y).item(), rel=1e-5)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="same shape"):
        bce_with_logits_sum(torch.zeros(2, 3), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="must not require grad"):
        bce_with_logits_sum(torch.zeros(2), torch.zeros(2, requires_grad=True))


@pytest.mark.parametrize("kind", ["dense", "vae"])
def test_model_losses_equal_the_per_image_terms(kind):
    torch.manual_seed(0)
    model = build_model(ModelConfig(kind=kind, hidden=(16,), latent_dim=2))
    x = torch.rand(8, 1, 28, 28)
    if kind == "vae":
        t = model.per_image(x, torch.Generator().manual_seed(1))
        torch.manual_seed(1)
        out = model.loss(x)
        assert out["recon"].item() == pytest.approx(t["recon"].mean().item(), rel=1e-5)
        assert out["kl"].item() == pytest.approx(t["kl"].mean().item(), rel=1e-6)
    else:
        logits = model.decode_logits(model.encode(x))
        ref = F.binary_cross_entropy_with_logits(logits, x)
        assert model.loss(x)["loss"].item() == pytest.approx(ref.item(), rel=1e-5)
