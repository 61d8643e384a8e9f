"""Every size of data a user can give (0, 1, 2 images in a split; a batch larger than the data) trains, plots,
evaluates and serves, or is refused with a message: never a traceback. Driven through the command line on .npz
files made here, as a user would."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import make_images
from latentlab.cli import main
from latentlab.errors import TrainingError
from latentlab.presets import preset_config
from latentlab.training import train

FIGURES = ("curves", "recon", "latent", "manifold", "samples")


def write_npz(path: Path, n_train: int, n_test: int, labels: bool = True) -> Path:
    x, y = make_images(n_train + n_test, seed=n_train * 10 + n_test)
    arrays = {"x": x[:n_train], "x_test": x[n_train:]}
    if labels:
        arrays |= {"y": y[:n_train], "y_test": y[n_train:]}
    np.savez(path, **arrays)
    return path


def run_cli(args: list[str], capsys) -> tuple[int, str]:
    code = main(args)
    out = capsys.readouterr()
    text = out.out + out.err
    assert "Traceback" not in text and "Error:" not in text.replace("error:", ""), text
    return code, text


@pytest.mark.parametrize("n_train, n_test", [(1, 0), (1, 1), (2, 1), (2, 2), (3, 0), (5, 2)])
@pytest.mark.parametrize("preset", ["mnist-vae", "mnist-simple"])
def test_tiny_splits_train_plot_and_evaluate_or_say_why_not(tmp_path, capsys, n_train, n_test, preset, one_thread):
    data = write_npz(tmp_path / "tiny.npz", n_train, n_test)
    run = tmp_path / "run"
    code, text = run_cli(["train", preset, "--dataset", str(data), "--epochs", "2", "--batch-size", "64", "--quiet",
                          "--out", str(run), "--device", "cpu"], capsys)
    assert code == 0, text  # a batch of 64 over 1 to 5 images: one short batch an epoch
    history = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in history] == [1, 2]
    assert all(np.isfinite(h["train"]["loss"]) for h in history)
    assert (history[0]["val"] is None) == (n_test == 0)
    for kind in FIGURES:
        if preset == "mnist-simple" and kind in ("manifold", "samples"):
            continue
        out = tmp_path / f"{kind}.png"
        code, text = run_cli(["plot", kind, str(run), "--out", str(out)], capsys)
        if code == 0:
            assert out.stat().st_size > 0
        else:  # refused up front, with what to do
            assert code == 2 and "latentlab plot: error:" in text, text
            projected = kind == "latent" and preset == "mnist-simple"  # 32-D codes: PCA needs 2 points
            assert (n_test == 0 and kind in ("recon", "latent")) or (projected and n_test < 2), (kind, text)
            assert "test images" in text
    code, text = run_cli(["evaluate", str(run)], capsys)
    if n_test == 0:
        assert code == 2 and "no test images" in text
    else:
        assert code == 0, text
        assert (run / "metrics.json").is_file()


@pytest.mark.parametrize("n_test", [0, 1, 2])
def test_tiny_runs_are_served(tmp_path, n_test, one_thread):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from latentlab.web import create_app

    data = write_npz(tmp_path / "tiny.npz", 2, n_test)
    assert main(["train", "mnist-vae", "--dataset", str(data), "--epochs", "1", "--quiet", "--out",
                 str(tmp_path / "run"), "--device", "cpu"]) == 0
    client = TestClient(create_app([tmp_path / "run"]), base_url="http://127.0.0.1")
    (summary,) = client.get("/api/runs").json()
    assert summary["n_test"] == n_test and "error" not in summary
    latent = client.get("/api/runs/run/latent")
    assert latent.status_code == 200 and len(latent.json()["points"]) == n_test
    assert client.get("/api/runs/run/decode", params={"x": 0, "y": 0}).status_code == 200
    image = client.get("/api/runs/run/images/0")
    assert image.status_code == (200 if n_test else 404)


def test_no_training_images_is_refused_with_a_message(tmp_path, capsys):
    data = write_npz(tmp_path / "none.npz", 0, 2)
    code, text = run_cli(["train", "mnist-vae", "--dataset", str(data), "--epochs", "1", "--quiet",
                          "--out", str(tmp_path / "run")], capsys)
    assert code == 2 and "latentlab train: error: none has no training images" in text, text
    with pytest.raises(TrainingError, match=r"x_train holds no images \(shape \(0, 28, 28\)\)"):
        train(preset_config("mnist-simple"), np.zeros((0, 28, 28), np.uint8), None, None, quiet=True)
    assert not (tmp_path / "run" / "model.safetensors").exists()
