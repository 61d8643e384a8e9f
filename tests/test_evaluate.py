"""Batched inference helpers, PSNR/SSIM against hand-computed values, and metrics.json on a tiny trained run."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.neighbors import KNeighborsClassifier

from helpers.ssim import gaussian_window
from latentlab.analysis.evaluate import compute_metrics, other_dataset, write_metrics
from latentlab.analysis.inference import decode_points, embed, iwae_log_likelihood, reconstruct, to_float
from latentlab.analysis.inference import per_image as per_image_scores
from latentlab.analysis.novelty import valid_scores
from latentlab.analysis.quality import psnr, ssim
from latentlab.cli.tables import format_summary
from latentlab.config import ModelConfig, override
from latentlab.data import ImageData
from latentlab.errors import ConfigError
from latentlab.models import build_model, has_prior
from latentlab.presets import preset_config
from latentlab.runs import Run, load_run
from latentlab.training import train

MODELS = {
    "dense": ModelConfig(kind="dense", hidden=(16,), latent_dim=4),
    "conv": ModelConfig(kind="conv", hidden=(4, 8), latent_dim=3),
    "vae": ModelConfig(kind="vae", hidden=(16,), latent_dim=2),
}


@pytest.fixture(params=list(MODELS))
def model(request: pytest.FixtureRequest) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(MODELS[request.param]).eval()


def test_to_float_scales_and_adds_the_channel() -> None:
    x = np.array([[[0, 255] + [51] * 26] * 28], np.uint8)
    t = to_float(x)
    assert t.shape == (1, 1, 28, 28) and t.dtype == torch.float32
    assert t[0, 0, 0, 0] == 0 and t[0, 0, 0, 1] == 1 and t[0, 0, 0, 2] == pytest.approx(0.2)
    assert torch.equal(to_float(torch.from_numpy(x)), t)
    # Any size and colour is an image; against a model's (C, H, W) another one is an error naming both.
    assert to_float(np.zeros((2, 27, 27), np.uint8)).shape == (2, 1, 27, 27)
    colour = np.arange(2 * 9 * 8 * 3, dtype=np.uint8).reshape(2, 9, 8, 3)
    assert torch.equal(to_float(colour)[:, 2], torch.from_numpy(colour[..., 2] / 255.0).float())
    with pytest.raises(ValueError, match=r"must have shape \(N, 28, 28\), got \(2, 27, 27\)"):
        to_float(np.zeros((2, 27, 27), np.uint8), (1, 28, 28))


def test_helpers_return_host_arrays_of_the_documented_shapes(model: torch.nn.Module, bars) -> None:
    x = bars[2][:37]
    codes = embed(model, x, batch_size=16)
    assert codes.shape == (37, model.latent_dim) and codes.dtype == np.float32
    rec = reconstruct(model, x, batch_size=16)
    assert rec.shape == (37, 28, 28) and rec.dtype == np.float32 and rec.min() >= 0 and rec.max() <= 1
    # Batching changes nothing, and a reconstruction is the decode of the code.
    np.testing.assert_allclose(embed(model, x, batch_size=5), codes, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(decode_points(model, codes), rec, rtol=1e-5, atol=1e-6)
    assert embed(model, x[:0]).shape == (0, model.latent_dim)
    with pytest.raises(ValueError, match="points must have shape"):
        decode_points(model, np.zeros((3, model.latent_dim + 1)))


def test_batches_shrink_for_models_with_large_activations(monkeypatch) -> None:
    # Pins the batch rule: a conv AE's layers hold ~18x the values of a dense AE's per image, so its default batch
    # is cut to keep one batch's activations near ACTIVATION_VALUES, and the results do not change.
    from latentlab.analysis import inference
    from latentlab.presets import CONV, DEEP

    torch.manual_seed(0)
    conv, deep = build_model(CONV).eval(), build_model(DEEP).eval()
    assert inference.activation_values(conv) > 10 * inference.activation_values(deep)
    x = np.random.default_rng(0).integers(0, 256, (700, 28, 28), dtype=np.uint8)
    sizes = {name: [len(b) for b in inference.batches(m, x)] for name, m in (("conv", conv), ("deep", deep))}
    assert sizes["deep"] == [700] and max(sizes["conv"]) < 700 and sum(sizes["conv"]) == 700
    assert max(sizes["conv"]) == inference.ACTIVATION_VALUES // inference.activation_values(conv)
    cut = reconstruct(conv, x)
    monkeypatch.setattr(inference, "ACTIVATION_VALUES", 10**12)
    np.testing.assert_allclose(cut, reconstruct(conv, x), rtol=1e-5, atol=1e-6)


def test_per_image_scores_match_torch(model: torch.nn.Module, bars) -> None:
    x = bars[2][:20]
    scores = per_image_scores(model, x, batch_size=7)
    xf = to_float(x)
    with torch.no_grad():
        logits = model.decode_logits(model.encode(xf))
    bce = F.binary_cross_entropy_with_logits(logits, xf, reduction="none").sum((1, 2, 3))
    np.testing.assert_allclose(scores["bce"], bce.numpy(), rtol=1e-5)
    np.testing.assert_allclose(scores["mse"], ((torch.sigmoid(logits) - xf) ** 2).mean((1, 2, 3)).numpy(),
                               rtol=1e-5)
    if has_prior(model):
        assert set(scores) == {"code", "nll", "bce", "mse", "recon", "kl", "neg_elbo"}
        np.testing.assert_allclose(scores["neg_elbo"], scores["recon"] + scores["kl"])
        assert (scores["kl"] >= 0).all()
        # A fixed generator: the one-sample ELBO is reproducible.
        np.testing.assert_array_equal(per_image_scores(model, x, batch_size=7)["neg_elbo"], scores["neg_elbo"])
        ll = iwae_log_likelihood(model, x, k=8, max_decodes=40)
        assert ll.shape == (20,) and np.isfinite(ll).all()
        np.testing.assert_array_equal(iwae_log_likelihood(model, x, k=8, max_decodes=40), ll)
        for k in (0, -5, 2.5, True):
            with pytest.raises(ConfigError, match=f"k={k!r} is invalid"):
                iwae_log_likelihood(model, x, k=k)
    else:
        assert set(scores) == {"code", "nll", "bce", "mse"}
        with pytest.raises(ValueError, match="VAE"):
            iwae_log_likelihood(model, x)


def test_iwae_bounds_the_elbo_from_above() -> None:
    torch.manual_seed(1)
    vae = build_model(MODELS["vae"]).eval()
    x = np.random.default_rng(0).integers(0, 256, (16, 28, 28), dtype=np.uint8)
    elbo = -per_image_scores(vae, x)["neg_elbo"].mean()
    assert iwae_log_likelihood(vae, x, k=200).mean() >= elbo - 1.0


def test_psnr_known_values() -> None:
    clean = np.zeros((2, 28, 28))
    other = np.full((2, 28, 28), 0.1)
    other[1] = 0.0
    out = psnr(clean, other)
    assert out[0] == pytest.approx(20.0)  # mse 0.01 -> 10 log10(1 / 0.01)
    assert math.isinf(out[1])
    # uint8 is read as 0..255: an error of 51 levels is 0.2, mse 0.04, ~13.98 dB.
    assert psnr(np.zeros((28, 28), np.uint8), np.full((28, 28), 51, np.uint8))[0] == pytest.approx(
        10 * math.log10(1 / 0.04))


def test_ssim_known_values() -> None:
    rng = np.random.default_rng(0)
    img = rng.random((3, 28, 28))
    np.testing.assert_allclose(ssim(img, img), 1.0, atol=1e-12)
    # Flat images: no variance, so only the luminance term (2ab + C1) / (a^2 + b^2 + C1) remains.
    a, b, c1 = 0.5, 0.25, 0.01**2
    flat = ssim(np.full((1, 28, 28), a), np.full((1, 28, 28), b))[0]
    assert flat == pytest.approx((2 * a * b + c1) / (a * a + b * b + c1), rel=1e-9)
    noisy = np.clip(img + rng.normal(0, 0.2, img.shape), 0, 1)
    s = ssim(img, noisy)
    assert s.shape == (3,) and (s < 0.9).all() and (s > 0).all()
    np.testing.assert_allclose(ssim(noisy, img), s)  # symmetric
    with pytest.raises(ValueError, match="differ in shape"):
        ssim(img, img[:2])


def test_ssim_matches_a_direct_window_by_window_computation() -> None:
    rng = np.random.default_rng(1)
    x = rng.random((28, 28))
    y = np.clip(x + rng.normal(0, 0.1, x.shape), 0, 1)
    w = gaussian_window().numpy()[0, 0]
    c1, c2 = 0.01**2, 0.03**2
    values = []
    for i in range(28 - 10):
        for j in range(28 - 10):
            px, py = x[i:i + 11, j:j + 11], y[i:i + 11, j:j + 11]
            mx, my = (w * px).sum(), (w * py).sum()
            vx, vy = (w * (px - mx) ** 2).sum(), (w * (py - my) ** 2).sum()
            cov = (w * (px - mx) * (py - my)).sum()
            values.append((2 * mx * my + c1) * (2 * cov + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2)))
    assert ssim(x, y)[0] == pytest.approx(np.mean(values), rel=1e-10)


def test_ssim_window_is_a_normalised_gaussian() -> None:
    w = gaussian_window()
    assert w.shape == (1, 1, 11, 11)
    assert float(w.sum()) == pytest.approx(1.0)
    assert float(w[0, 0, 5, 5]) == float(w.max())
    ratio = float(w[0, 0, 5, 6] / w[0, 0, 5, 5])
    assert ratio == pytest.approx(math.exp(-1 / (2 * 1.5**2)))


@pytest.fixture(scope="module", params=["mnist-vae", "mnist-denoise"])
def tiny_run(request: pytest.FixtureRequest, bars, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """One epoch of a small VAE and of a small denoising autoencoder on the bars, with the real engine."""
    cfg = override(preset_config(request.param), {"train.epochs": 1, "train.batch_size": 64, "train.device": "cpu",
                                                  "model.hidden": [32], "model.latent_dim": 2})
    run_dir = tmp_path_factory.mktemp(request.param)
    train(cfg, bars[0], None, run_dir, quiet=True, meta={"dataset": "bars", "data_source": "synthetic"})
    return load_run(run_dir)


def test_compute_metrics_on_a_trained_run(tiny_run: Run, bars) -> None:
    x_train, y_train, x_test, y_test = bars
    data = ImageData("bars", x_train, y_train, x_test, y_test, tuple("0123456789"), "synthetic bars")
    metrics = compute_metrics(tiny_run, data, iwae_k=100, progress=False)
    assert json.loads(json.dumps(metrics, allow_nan=False)) == metrics  # plain JSON, nothing NaN
    assert metrics["dataset"] == "bars" and metrics["data_source"] == "synthetic bars"
    assert (metrics["n_train"], metrics["n_test"]) == (512, 128)
    assert set(metrics["timings_s"]) >= {"reconstruction", "latent", "membership", "total"}

    # Independent recomputation with torch and numpy.
    model, x = tiny_run.model, to_float(x_test)
    with torch.no_grad():
        logits = model.decode_logits(model.encode(x))
    rec = metrics["reconstruction"]
    assert rec["bce_per_pixel"] == pytest.approx(F.binary_cross_entropy_with_logits(logits, x).item(), rel=1e-5)
    assert rec["mse_per_pixel"] == pytest.approx(F.mse_loss(torch.sigmoid(logits), x).item(), rel=1e-5)
    mse = ((torch.sigmoid(logits) - x) ** 2).mean((1, 2, 3)).double().numpy()
    assert rec["psnr_db"] == pytest.approx(float(np.mean(-10 * np.log10(mse))), rel=1e-5)
    assert 0 < rec["ssim"] < 1

    if has_prior(model):
        vae = metrics["vae"]
        assert vae["elbo"] == -vae["neg_elbo"] and vae["neg_elbo"] == pytest.approx(vae["recon"] + vae["kl"])
        assert vae["iwae_k"] == 100 and vae["iwae_log_likelihood"] >= vae["elbo"] - 2.0
        assert metrics["denoising"] is None
    else:
        levels = metrics["denoising"]["levels"]
        assert list(levels) == ["0.25", "0.5", "0.75"]
        noisy = [levels[f]["noisy_psnr_db"] for f in levels]
        assert noisy == sorted(noisy, reverse=True)  # more noise, lower PSNR
        assert metrics["vae"] is None

    latent = metrics["latent"]
    codes_train, codes_test = embed(model, x_train), embed(model, x_test)
    knn = KNeighborsClassifier(5).fit(codes_train, y_train)
    assert latent["knn_accuracy"] == pytest.approx(float((knn.predict(codes_test) == y_test).mean()))
    assert -1 <= latent["silhouette"] <= 1 and latent["silhouette_n"] == 128

    member = metrics["membership"]
    assert member["other_dataset"] is None  # no contrasting dataset for the synthetic bars
    assert member["rows"][0]["score"] == "combined"
    scores = {row["score"] for row in member["rows"]}
    assert scores == set(valid_scores(model)) and {"combined", "density", "pixel-knn", "hyperplane"} <= scores
    for row in member["rows"]:
        assert 0 <= row["auroc"] <= 1 and 0 <= row["fpr_at_95_tpr"] <= 1
    assert (tiny_run.path / "detector.json").is_file()

    summary = format_summary(metrics)
    assert summary.splitlines()[0].startswith(tiny_run.name) and "combined" in summary

    path = write_metrics(tiny_run.path, metrics)
    assert path == tiny_run.path / "metrics.json" and json.loads(path.read_text()) == metrics


def test_other_dataset_falls_back_to_the_bundled_sample() -> None:
    other = other_dataset("mnist-sample")
    assert other is not None and other.name.startswith("fashion-mnist")
    assert other_dataset("my-folder") is None


def test_a_model_that_produces_nan_is_named_not_scikit_learn(tiny_run, bars) -> None:
    from latentlab.errors import RunError

    broken = load_run(tiny_run.path)  # a copy: the fixture's run is shared
    with torch.no_grad():
        next(broken.model.parameters()).fill_(float("nan"))
    data = ImageData("bars", bars[0], bars[1], bars[2], bars[3], tuple("0123456789"), "synthetic bars")
    with pytest.raises(RunError, match=r"the model produces NaN or inf \(.* of 128 of 128 images, the first at"):
        compute_metrics(broken, data, iwae_k=2, progress=False)


@pytest.mark.parametrize("beta", [0.0, 1.0, 100.0])
def test_metrics_and_summary_say_when_a_vae_is_not_a_vae(beta, beta_runs, mnist_small) -> None:
    run = beta_runs[beta]
    metrics = compute_metrics(run, mnist_small, iwae_k=4, membership=False, progress=False)
    assert json.loads(json.dumps(metrics, allow_nan=False)) == metrics
    vae = metrics["vae"]
    assert vae["latent_dim"] == 2 and vae["beta"] == beta
    assert len(vae["kl_per_dim"]) == len(vae["posterior_mean_variance"]) == 2
    assert sum(vae["kl_per_dim"]) == pytest.approx(vae["kl"], rel=1e-5)  # the KL term, split by dimension
    assert vae["active_units"] == sum(v > 0.01 for v in vae["posterior_mean_variance"])
    summary = format_summary(metrics)
    collapse = [w for w in vae["warnings"] if w.startswith("posterior collapsed")]
    if beta == 100:
        assert vae["active_units"] == 0 and vae["posterior_collapsed"] and vae["kl"] < 0.1 and collapse
        assert "posterior       0 of 2 latent units active" in summary
        assert f"  warning: {collapse[0]}" in summary.splitlines()
    else:
        assert vae["active_units"] >= 1 and not vae["posterior_collapsed"] and not collapse
        assert f"posterior       {vae['active_units']} of 2 latent units active" in summary
    beta_zero = [w for w in vae["warnings"] if w.startswith("beta=0 trains a plain autoencoder")]
    assert bool(beta_zero) == (beta == 0)
    assert ("warning: beta=0" in summary) == (beta == 0)


def test_summary_of_an_older_metrics_file_has_no_posterior_line(beta_runs, mnist_small) -> None:
    metrics = compute_metrics(beta_runs[1.0], mnist_small, iwae_k=4, membership=False, progress=False)
    for key in ("active_units", "kl_per_dim", "posterior_mean_variance", "warnings", "beta", "latent_dim"):
        del metrics["vae"][key]
    assert "posterior " not in format_summary(metrics) and "warning" not in format_summary(metrics)


def test_current_metrics_is_the_one_reader_of_metrics_json(tiny_run: Run, tmp_path) -> None:
    # The web page, the report and the export's card read metrics.json through it: missing, damaged, not a dict or
    # measured on other weights all read as None; a file of these weights reads as written.
    import shutil

    from latentlab.analysis.evaluate import current_metrics
    from latentlab.runs import weights_digest

    run = load_run(shutil.copytree(tiny_run.path, tmp_path / "run"))
    path = run.path / "metrics.json"
    path.unlink(missing_ok=True)
    assert current_metrics(run) is None
    for text in ("{not json", "[1, 2]", json.dumps({"weights_sha256": "0" * 64})):
        path.write_text(text)
        assert current_metrics(run) is None, text
    path.write_text(json.dumps({"weights_sha256": weights_digest(run.meta), "n_test": 3}))
    assert current_metrics(run) == {"weights_sha256": weights_digest(run.meta), "n_test": 3}
