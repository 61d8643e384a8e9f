"""Colour and any size, end to end: `latentlab train`, `evaluate`, `plot`, `decode`, `detect`, `report` and `serve`
on a 32x32 RGB .npz, a 64x48 RGB image folder and CIFAR-10-format files downloaded from a server on 127.0.0.1.
Tiny data and one epoch each: these pin the shape paths, not the quality."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from latentlab.analysis.inference import decode_points, reconstruct, to_float
from latentlab.analysis.quality import psnr, ssim
from latentlab.cli import main
from latentlab.config import ModelConfig, RunConfig, TrainConfig
from latentlab.data import ARCHIVES, load_dataset
from latentlab.errors import TrainingError
from latentlab.figures import as_unit_images
from latentlab.models import build_model
from latentlab.report.experiments import sections_for
from latentlab.runs import load_run, load_run_data
from latentlab.training import fit, train
from latentlab.training.steps import to_float as batch_to_float

pytestmark = pytest.mark.usefixtures("one_thread", "no_data_env")


@pytest.fixture
def no_data_env(tmp_path, monkeypatch):
    """No user data dir, an empty cache: CIFAR-10 is never found on this machine by accident."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("LATENTLAB_DATA", raising=False)


@pytest.fixture(scope="module")
def tiles():
    return load_dataset("photo-tiles", progress=False)


def _npz(tiles, path: Path) -> Path:
    np.savez(path, x=tiles.x_train[:200], y=tiles.y_train[:200], x_test=tiles.x_test[::10], y_test=tiles.y_test[::10],
             classes=np.array(tiles.classes))
    return path


def _folder(root: Path) -> Path:
    """Two classes of 64 wide x 48 tall colour pictures: warm and cool noise."""
    rng = np.random.default_rng(0)
    for name, base in (("warm", (200, 80, 40)), ("cool", (40, 90, 200))):
        for i in range(12):
            image = np.clip(np.array(base) + rng.normal(0, 30, (48, 64, 3)), 0, 255).astype(np.uint8)
            (root / name).mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(root / name / f"{i}.png")
    return root


def _png(data: bytes | str) -> np.ndarray:
    if isinstance(data, str):
        data = base64.b64decode(data.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(data)))


# ---- the pieces -------------------------------------------------------------------------------------------------


def test_batches_become_channels_first_floats_only_per_batch():
    x = np.arange(2 * 8 * 9 * 3, dtype=np.uint8).reshape(2, 8, 9, 3)
    t = batch_to_float(torch.from_numpy(x))
    assert t.shape == (2, 3, 8, 9) and t.dtype == torch.float32
    assert torch.equal(t, to_float(x)) and float(t[1, 2, 7, 8]) == pytest.approx(x[1, 7, 8, 2] / 255)


def test_fit_checks_the_images_against_the_model(tiles):
    model = build_model(ModelConfig(kind="dense", image_shape=(3, 32, 32)))
    cfg = RunConfig(train=TrainConfig(epochs=1, device="cpu"))
    with pytest.raises(TrainingError, match=r"uint8 images \(N, 32, 32, 3\).*got uint8 \(5, 32, 32\)"):
        fit(model, np.zeros((5, 32, 32), np.uint8), None, cfg, quiet=True)


def test_train_builds_the_model_for_the_data_and_says_so(tiles, tmp_path):
    cfg = RunConfig(name="t", preset="mnist-simple", train=TrainConfig(epochs=1, batch_size=64, device="cpu"))
    result = train(cfg, tiles.x_train[:128], tiles.x_test[:32], tmp_path / "run", quiet=True)
    run = load_run(tmp_path / "run")
    assert run.model.image_shape == (3, 32, 32) and run.config.model.image_shape == (3, 32, 32)
    assert run.meta["image_shape_note"] == ("model.image_shape set to (3, 32, 32) from the data (the preset "
                                            "mnist-simple said (1, 28, 28))")
    rec = reconstruct(result.model, tiles.x_test[:5])
    assert rec.shape == (5, 32, 32, 3) and decode_points(result.model, np.zeros((2, 32))).shape == (2, 32, 32, 3)


def test_quality_is_per_channel_averaged():
    rng = np.random.default_rng(0)
    clean = rng.integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    other = clean.copy()
    other[..., 0] = 255 - other[..., 0]  # only red differs
    per_channel = [psnr(clean[..., c], other[..., c]) for c in range(3)]
    np.testing.assert_allclose(psnr(clean, other), np.mean(per_channel, axis=0))
    assert np.all(np.isinf(per_channel[1]))  # identical channels count as infinitely good
    grey_ssim = [ssim(clean[..., c], other[..., c]) for c in range(3)]
    np.testing.assert_allclose(ssim(clean, other), np.mean(grey_ssim, axis=0))


def test_figures_take_colour():
    rgb = np.random.default_rng(0).integers(0, 256, (4, 8, 9, 3), dtype=np.uint8)
    assert as_unit_images(rgb).shape == (4, 8, 9, 3)
    assert as_unit_images(rgb.transpose(0, 3, 1, 2)).shape == (4, 8, 9, 3)


def test_colour_section_is_in_the_full_report_only():
    assert "cifar10-conv" not in [s.preset for s in sections_for("quick")]
    assert [s.preset for s in sections_for("full")][-1] == "cifar10-conv"
    assert [s.preset for s in sections_for("quick", ["cifar10-conv"])] == ["cifar10-conv"]


# ---- end to end ---------------------------------------------------------------------------------------------


def test_npz_32x32_rgb_train_evaluate_plot_serve(tiles, tmp_path, capsys):
    from fastapi.testclient import TestClient

    from latentlab.web import create_app

    data = _npz(tiles, tmp_path / "rgb.npz")
    run = tmp_path / "runs" / "rgb"
    assert main(["train", "cifar10-conv", "--dataset", str(data), "--epochs", "1", "--out", str(run),
                 "--quiet"]) == 0
    assert main(["evaluate", str(run), "--quiet"]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    # The detector takes colour (how well it separates is pinned in test_novelty; one epoch tells little).
    assert "membership_skipped" not in metrics
    rows = {(r["score"], r["ood"]): r["auroc"] for r in metrics["membership"]["rows"]}
    assert {"uniform-noise", "gaussian-blobs", "inverted", "rotated-90"} <= {ood for _, ood in rows}
    assert all(0 <= auroc <= 1 for auroc in rows.values()) and ("combined", "inverted") in rows
    assert 0 < metrics["reconstruction"]["mse_per_pixel"] < 1 and metrics["latent"]["knn_accuracy"] is not None
    for kind in ("recon", "denoise", "latent", "curves"):
        assert main(["plot", kind, str(run), "-o", str(tmp_path / f"{kind}.png")]) == 0
    assert _png((tmp_path / "recon.png").read_bytes()).shape[2] == 4  # a figure; RGB cells inside
    capsys.readouterr()
    client = TestClient(create_app([run]), base_url="http://127.0.0.1")
    summary = client.get("/api/runs").json()[0]
    assert summary["image_shape"] == [3, 32, 32] and summary["draw"] is False and summary["membership"] == ""
    assert _png(client.get("/api/runs/rgb/images/0").content).shape == (32, 32, 3)
    assert _png(client.get("/api/runs/rgb/decode", params={"x": 0, "y": 0}).content).shape == (32, 32, 3)
    assert _png(client.get("/api/runs/rgb/manifold", params={"n": 2}).content).shape == (64, 64, 3)
    noisy = client.get("/api/runs/rgb/denoise", params={"index": 1}).json()
    assert _png(noisy["noisy"]).shape == (32, 32, 3)
    upload = io.BytesIO()
    Image.fromarray(tiles.x_test[0]).resize((50, 40)).save(upload, "PNG")
    answer = client.post("/api/runs/rgb/reconstruct", files={"file": ("x.png", upload.getvalue())}).json()
    assert _png(answer["input"]).shape == (32, 32, 3) and answer["steps"] == [
        "resized 40x50 -> 32x32 (height x width, as --image-size)"]
    judged = client.post("/api/runs/rgb/detect", files={"file": ("x.png", upload.getvalue())})
    assert judged.status_code == 200 and judged.json()["member"] in (True, False)


def test_64x48_rgb_folder_with_a_2d_vae(tmp_path, capsys):
    from fastapi.testclient import TestClient

    from latentlab.web import create_app

    folder = _folder(tmp_path / "pics")
    run = tmp_path / "runs" / "pics"
    assert main(["train", "mnist-vae", "--dataset", str(folder), "--epochs", "1", "--out", str(run), "--quiet",
                 "--set", "model.hidden=[32]"]) == 0
    assert load_run(run).model.image_shape == (3, 48, 64)
    assert main(["evaluate", str(run), "--quiet", "--iwae-k", "4"]) == 0
    bits = json.loads((run / "metrics.json").read_text())["vae"]["iwae_bits_per_dim"]
    assert bits is not None and bits > 0
    for kind in ("recon", "manifold", "samples", "point", "latent"):
        assert main(["plot", kind, str(run), "-o", str(tmp_path / f"{kind}.png")]) == 0
    assert main(["decode", str(run), "0", "0", "-o", str(tmp_path / "z.png"), "--scale", "2"]) == 0
    assert _png((tmp_path / "z.png").read_bytes()).shape == (96, 128, 3)
    capsys.readouterr()
    assert main(["detect", str(run), str(folder / "warm" / "0.png")]) == 0
    err = capsys.readouterr().err
    # A few dozen training pictures fit the default detector (it needs no held-out split), and detect says how few.
    assert "latentlab detect: warning: the combined detector's threshold is the 5% quantile of only " in err
    assert "so it is unreliable; 100 or more images give a reliable one" in err
    client = TestClient(create_app([run]), base_url="http://127.0.0.1")
    export = client.get("/api/runs/pics/decoder").json()
    assert export["shape"] == [3, 48, 64] and export["layers"][-1]["out"] == 3 * 48 * 64
    assert _png(client.get("/api/runs/pics/manifold", params={"n": 2}).content).shape == (96, 128, 3)


def test_grey_folder_at_its_own_size_and_converted_on_purpose(tmp_path, capsys):
    folder = tmp_path / "grey"
    for i in range(8):
        (folder / "a").mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((40, 30), 20 * i, np.uint8)).save(folder / "a" / f"{i}.png")
    run = tmp_path / "runs" / "grey"
    assert main(["train", "mnist-simple", "--dataset", str(folder), "--epochs", "1", "--out", str(run), "--quiet",
                 "--image-size", "16x24"]) == 0
    loaded = load_run(run)
    assert loaded.model.image_shape == (1, 16, 24)
    assert loaded.meta["data_options"] == {"image_size": [16, 24], "grayscale": False, "auto": True}
    # The run's data come back as it was trained on: resized on purpose again.
    assert load_run_data(loaded).image_shape == (1, 16, 24)
    assert main(["plot", "recon", str(run), "-o", str(tmp_path / "r.png")]) == 0


def test_colour_report_section_falls_back_to_photo_tiles(tmp_path):
    from latentlab.report import build_report

    page = build_report(tmp_path / "report", "full", presets=["cifar10-conv"], progress=False, iwae_k=2,
                        overrides={"train.epochs": 1, "train.batch_size": 256})
    text = page.read_text()
    assert "photo-tiles" in text and "Membership check skipped" not in text and "uniform-noise" in text
    assert "A convolutional autoencoder on colour" in text
    assert (tmp_path / "report" / "figures" / "cifar10-conv-recon.png").is_file()


class _Archive(BaseHTTPRequestHandler):
    body = b""

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


def test_cifar_format_from_a_local_server_trains_and_serves(tmp_path, monkeypatch, capsys):
    from fastapi.testclient import TestClient

    from latentlab.data.archive import write_archive, write_records
    from latentlab.web import create_app

    spec = ARCHIVES["cifar10"]
    rng = np.random.default_rng(3)
    members = {name: write_records(rng.integers(0, 256, (20, 32, 32, 3), dtype=np.uint8), np.arange(20) % 10)
               for name in (*spec.train_members, *spec.test_members)}
    write_archive(tmp_path / spec.archive[0], spec, members)
    _Archive.body = (tmp_path / spec.archive[0]).read_bytes()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Archive)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        monkeypatch.setitem(ARCHIVES, "cifar10", dataclasses.replace(
            spec, archive=(spec.archive[0], hashlib.md5(_Archive.body).hexdigest()),
            mirrors=(f"http://127.0.0.1:{httpd.server_address[1]}/",)))
        run = tmp_path / "runs" / "cifar"
        assert main(["train", "cifar10-vae", "--epochs", "1", "--out", str(run), "--quiet"]) == 0
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert load_run(run).meta["data_source"].startswith("downloaded into cache")
    assert main(["evaluate", str(run), "--quiet", "--iwae-k", "2", "--no-membership"]) == 0
    assert main(["plot", "samples", str(run), "-o", str(tmp_path / "s.png")]) == 0
    capsys.readouterr()
    # The cache holds it now: serving never downloads.
    client = TestClient(create_app([run]), base_url="http://127.0.0.1")
    summary = client.get("/api/runs").json()[0]
    assert summary["n_test"] == 20 and summary["classes"][0] == "airplane" and summary["image_shape"] == [3, 32, 32]


def test_colour_is_learnt_tinted_digits_part_only_in_colour():
    """The same digits in two tints of one luminance: codes tell the tints apart in colour, not in grey."""
    from sklearn.neighbors import KNeighborsClassifier

    from latentlab.analysis.inference import embed

    cfg = RunConfig(name="t", model=ModelConfig(kind="dense", latent_dim=16),
                    train=TrainConfig(epochs=2, batch_size=64, lr=3e-3, device="cpu"))
    accuracy = {}
    for grey in (False, True):
        data = load_dataset("tinted-digits", progress=False, grayscale=grey)
        model = train(cfg, data.x_train, None, None, quiet=True).model
        knn = KNeighborsClassifier(5).fit(embed(model, data.x_train), data.y_train)
        accuracy[grey] = float((knn.predict(embed(model, data.x_test)) == data.y_test).mean())
    assert accuracy[False] >= 0.95 and accuracy[True] <= 0.65, accuracy


def test_detector_tells_one_photograph_from_the_other(tiles, tmp_path):
    # #14's target, pinned on the real colour tiles: trained on the china photograph's tiles, the default detector
    # rejects the flower's (measured 99.7 with the benchmark's training, 93.0 before the colour view).
    from latentlab.analysis.novelty import NoveltyDetector
    from latentlab.analysis.ood import separation
    from latentlab.config import override
    from latentlab.presets import preset_config
    from latentlab.training import train

    china = tiles.x_train[tiles.y_train == 0]
    cfg = override(preset_config("cifar10-conv"), {"train.epochs": 2, "train.device": "cpu", "name": "china"})
    train(cfg, china, None, tmp_path, quiet=True, meta={"dataset": "photo-tiles", "data_source": "built"})
    det = NoveltyDetector(load_run(tmp_path)).fit(china)
    scores = det.score_samples(tiles.x_test)
    assert separation(scores[tiles.y_test == 0], scores[tiles.y_test == 1])["auroc"] >= 0.99


def test_a_short_colour_run_rejects_noise(tiles, tmp_path):
    # Fault: after the quick profile's 2 epochs the default detector of a photo-tiles run accepted every uniform-noise
    # image (AUROC 0.690): the blur of view A makes noise smooth and the barely trained model's veto never fired.
    # The colour view's roughness sees the grain (measured 0.992).
    from latentlab.analysis.novelty import NoveltyDetector
    from latentlab.analysis.ood import separation, uniform_noise
    from latentlab.config import override
    from latentlab.presets import preset_config
    from latentlab.training import train

    cfg = override(preset_config("cifar10-conv"), {"train.epochs": 1, "train.device": "cpu", "name": "short"})
    train(cfg, tiles.x_train, None, tmp_path, quiet=True, meta={"dataset": "photo-tiles", "data_source": "built"})
    det = NoveltyDetector(load_run(tmp_path)).fit(tiles.x_train)
    noise = uniform_noise(len(tiles.x_test), np.random.default_rng(0), (32, 32, 3))
    assert separation(det.score_samples(tiles.x_test), det.score_samples(noise))["auroc"] > 0.98
    assert (det.predict(noise) == -1).mean() > 0.9
