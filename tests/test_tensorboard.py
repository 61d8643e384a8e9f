"""`train(..., tensorboard_dir=...)` and `latentlab train --tensorboard DIR`, checked by reading the event files
and the projector's files back with TensorBoard's own reader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from google.protobuf import text_format
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.projector.projector_config_pb2 import ProjectorConfig

from latentlab.cli import main
from latentlab.config import override
from latentlab.errors import ConfigError
from latentlab.presets import preset_config
from latentlab.training import train

CLASSES = tuple(f"bar {k * 18} degrees" for k in range(10))


def read_events(log_dir: Path) -> EventAccumulator:
    return EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "images": 0}).Reload()


def read_projector(log_dir: Path) -> tuple[ProjectorConfig, list[list[str]]]:
    config = text_format.Parse((log_dir / "projector_config.pbtxt").read_text(), ProjectorConfig())
    metadata = (log_dir / config.embeddings[0].metadata_path).read_text().splitlines()
    return config, [line.split("\t") for line in metadata]


@pytest.fixture(scope="module")
def vae_log(bars, tmp_path_factory) -> Path:
    x_train, _, x_test, y_test = bars
    cfg = override(preset_config("mnist-vae"), {"train.epochs": 3, "train.batch_size": 64, "model.hidden": [32],
                                                  "train.lr": 7e-4})  # the config's lr, not a preset's default
    log_dir = tmp_path_factory.mktemp("tb") / "vae"
    train(cfg, x_train, x_test, None, quiet=True, tensorboard_dir=log_dir, y_val=y_test, classes=CLASSES)
    return log_dir


def test_every_loss_term_lr_and_speed_are_logged_once_per_epoch(vae_log):
    events = read_events(vae_log)
    expected = {f"{term}/{split}" for term in ("loss", "recon", "kl") for split in ("train", "val")}
    expected |= {"schedule/lr", "speed/samples_per_s"}
    assert set(events.Tags()["scalars"]) == expected
    for tag in expected:
        assert [e.step for e in events.Scalars(tag)] == [1, 2, 3], tag
    assert all(np.isfinite(e.value) for e in events.Scalars("loss/val"))
    assert events.Scalars("schedule/lr")[0].value == pytest.approx(7e-4)
    assert all(e.value > 0 for e in events.Scalars("speed/samples_per_s"))


def test_reconstructions_every_epoch_and_the_manifold_first_and_last(vae_log):
    events = read_events(vae_log)
    recon = events.Images("reconstruction")
    assert [e.step for e in recon] == [1, 2, 3]
    assert (recon[0].width, recon[0].height) == (8 * 28, 2 * 28)  # originals over reconstructions
    manifold = events.Images("manifold")
    assert [e.step for e in manifold] == [1, 3]
    assert (manifold[0].width, manifold[0].height) == (15 * 28, 15 * 28)
    png = Path(vae_log / "manifold.png")
    png.write_bytes(manifold[-1].encoded_image_string)
    assert Image.open(png).size == (420, 420)


def test_the_projector_gets_codes_class_names_and_sprites_of_the_validation_set(vae_log, bars):
    y_test = bars[3]
    config, rows = read_projector(vae_log)
    assert len(config.embeddings) == 1
    emb = config.embeddings[0]
    assert emb.tensor_name == "latent:00003"
    assert rows[0] == ["class", "label"]
    assert rows[1:] == [[CLASSES[y], str(y)] for y in y_test]
    codes = np.loadtxt(vae_log / emb.tensor_path, delimiter="\t")
    assert codes.shape == (len(y_test), 2)
    assert list(emb.sprite.single_image_dim) == [28, 28]
    side = int(np.ceil(np.sqrt(len(y_test))))
    assert Image.open(vae_log / emb.sprite.image_path).size == (side * 28, side * 28)


def test_an_autoencoder_gets_no_manifold_and_unnamed_labels(bars, tmp_path):
    x_train, _, x_test, y_test = bars
    cfg = override(preset_config("mnist-simple"), {"train.epochs": 2, "train.batch_size": 128})
    train(cfg, x_train, x_test, None, quiet=True, tensorboard_dir=tmp_path, y_val=y_test)
    events = read_events(tmp_path)
    assert events.Tags()["images"] == ["reconstruction"]
    assert {"loss/train", "loss/val", "recon/train", "recon/val"} <= set(events.Tags()["scalars"])
    assert [e.step for e in events.Scalars("recon/val")] == [1, 2]
    config, rows = read_projector(tmp_path)
    assert [r[0] for r in rows] == [str(y) for y in y_test]
    assert np.loadtxt(tmp_path / config.embeddings[0].tensor_path, delimiter="\t").shape == (len(y_test), 32)


def test_the_command_line_flag_logs_the_run_with_the_data_sets_class_names(tmp_path, capsys):
    args = ["train", "fashion-simple", "--dataset", "fashion-mnist-sample", "--epochs", "1", "--quiet",
            "--out", str(tmp_path / "run"), "--tensorboard", str(tmp_path / "tb")]
    assert main(args) == 0
    events = read_events(tmp_path / "tb")
    assert [e.step for e in events.Scalars("loss/val")] == [1]
    _, rows = read_projector(tmp_path / "tb")
    assert rows[0] == ["class", "label"] and len(rows) == 1 + 2000
    assert {r[0] for r in rows[1:]} == {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                                       "Sneaker", "Bag", "Ankle boot"}


def test_without_tensorboard_the_flag_says_how_to_install_it(bars, tmp_path, monkeypatch, capsys):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a))
    x_train, _, x_test, _ = bars
    with pytest.raises(ConfigError, match=r"pip install 'latentlab\[tensorboard\]'"):
        train(preset_config("mnist-simple"), x_train, x_test, None, quiet=True, tensorboard_dir=tmp_path)
    assert main(["train", "mnist-simple", "--dataset", "mnist-sample", "--tensorboard", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "latentlab[tensorboard]" in err and "--tensorboard" in err and "Traceback" not in err
    assert "tensorboard" not in [p.name for p in tmp_path.iterdir()] and not list(tmp_path.glob("events.*"))

