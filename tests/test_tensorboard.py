"""`train(..., callbacks=[TensorBoardLogger(...)])` and `latentlab train --tensorboard DIR`, checked by reading the
event files and the projector's files back with TensorBoard's own reader."""

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
from latentlab.training.tensorboard import TensorBoardLogger, tsv_cell

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
    logger = TensorBoardLogger(tmp_path_factory.mktemp("tb"), x_test, y_test, CLASSES, name="vae")
    train(cfg, x_train, x_test, None, quiet=True, callbacks=[logger])
    assert logger.log_dir is not None and logger.log_dir.name == "vae"
    return logger.log_dir


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
    train(cfg, x_train, x_test, None, quiet=True, callbacks=[TensorBoardLogger(tmp_path, x_test, y_test)])
    tmp_path = tmp_path / "run"
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
    events = read_events(tmp_path / "tb" / "run")  # one folder per training, named after the run directory
    assert [e.step for e in events.Scalars("loss/val")] == [1]
    _, rows = read_projector(tmp_path / "tb" / "run")
    assert rows[0] == ["class", "label"] and len(rows) == 1 + 2000
    assert {r[0] for r in rows[1:]} == {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                                       "Sneaker", "Bag", "Ankle boot"}


def test_without_tensorboard_the_flag_says_how_to_install_it(bars, tmp_path, monkeypatch, capsys):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a))
    x_train, _, x_test, _ = bars
    with pytest.raises(ConfigError, match=r"pip install 'latentlab\[tensorboard\]'"):
        train(preset_config("mnist-simple"), x_train, x_test, None, quiet=True,
              callbacks=[TensorBoardLogger(tmp_path, x_test)])
    assert main(["train", "mnist-simple", "--dataset", "mnist-sample", "--tensorboard", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "latentlab[tensorboard]" in err and "--tensorboard" in err and "Traceback" not in err
    assert "tensorboard" not in [p.name for p in tmp_path.iterdir()] and not list(tmp_path.glob("events.*"))



def _colour(x: np.ndarray) -> np.ndarray:
    """Grey bars as (N, H, W, 3) colour: the bar red, a fixed blue tint behind it."""
    return np.stack([x, x // 2, np.full_like(x, 40)], axis=-1)


def _resize(x: np.ndarray, side: int) -> np.ndarray:
    return np.stack([np.asarray(Image.fromarray(img).resize((side, side))) for img in x])


@pytest.mark.parametrize("shape", [(1, 32, 32), (3, 28, 28), (3, 64, 64), (1, 20, 36)])
def test_every_shape_and_colour_of_a_2d_vae_is_logged(bars, tmp_path, shape):
    c, h, w = shape
    x_train, _, x_test, y_test = bars
    x_train, x_test = x_train[:128], x_test[:16]
    if (h, w) != (28, 28):
        x_train, x_test = (np.stack([np.asarray(Image.fromarray(i).resize((w, h))) for i in x])
                           for x in (x_train, x_test))
    if c == 3:
        x_train, x_test = _colour(x_train), _colour(x_test)
    cfg = override(preset_config("mnist-vae"), {"train.epochs": 1, "train.batch_size": 64, "model.hidden": [16]})
    logger = TensorBoardLogger(tmp_path, x_test, y_test[:16], CLASSES)
    train(cfg, x_train, x_test, tmp_path / "runs" / "r", quiet=True, callbacks=[logger])
    events = read_events(logger.log_dir)
    recon = events.Images("reconstruction")[0]
    assert (recon.width, recon.height) == (8 * w, 2 * h)
    manifold = events.Images("manifold")[0]
    assert (manifold.width, manifold.height) == (15 * w, 15 * h)
    png = tmp_path / "m.png"
    png.write_bytes(manifold.encoded_image_string)
    pixels = np.asarray(Image.open(png).convert("RGB")).astype(int)
    grey = (pixels[..., 0] == pixels[..., 1]).all() and (pixels[..., 1] == pixels[..., 2]).all()
    assert grey == (c == 1)  # TensorBoard stores grey as RGB; colour must differ between channels
    config, rows = read_projector(logger.log_dir)
    assert list(config.embeddings[0].sprite.single_image_dim) == [w, h]  # the projector says width first
    assert len(rows) == 1 + 16
    assert (tmp_path / "runs" / "r" / "model.safetensors").is_file()


def test_each_training_gets_its_own_run_and_a_resume_continues_its_steps(bars, tmp_path):
    x_train, _, x_test, y_test = bars
    cfg = override(preset_config("mnist-simple"), {"train.epochs": 2, "train.batch_size": 128})
    root = tmp_path / "tb"
    folders = []
    for _ in range(2):
        logger = TensorBoardLogger(root, x_test, y_test, name="r")
        train(cfg, x_train, x_test, tmp_path / "r", quiet=True, callbacks=[logger])
        folders.append(logger.log_dir)
    assert folders == [root / "r", root / "r-2"]
    for folder in folders:
        assert [e.step for e in read_events(folder).Scalars("loss/train")] == [1, 2]
    # A third training stops after one epoch; its resume goes on in the same folder at step 2.
    logger = TensorBoardLogger(root, x_test, y_test, name="r")
    train(cfg, x_train, x_test, tmp_path / "r3", quiet=True, max_steps=4, callbacks=[logger])
    assert logger.log_dir == root / "r-3"
    resumed = TensorBoardLogger(root, x_test, y_test, name="r")
    train(cfg, x_train, x_test, tmp_path / "r3", resume=True, quiet=True, callbacks=[resumed])
    assert resumed.log_dir == root / "r-3"
    # two event files (the first training's, the resume's), read in an order TensorBoard does not promise
    assert sorted(e.step for e in read_events(root / "r-3").Scalars("loss/train")) == [1, 2]


def test_class_names_with_tabs_newlines_and_undecodable_bytes_are_escaped_in_the_metadata(bars, tmp_path):
    x_train, _, x_test, y_test = bars
    latin1 = b"caf\xe9".decode("utf-8", "surrogateescape")  # a Latin-1 folder name as Python reads it
    classes = ["tab\there", "two\nlines", "back\\slash", latin1, *CLASSES[4:]]
    assert [tsv_cell(c) for c in classes[:4]] == ["tab\\there", "two\\nlines", "back\\slash", "caf\\xe9"]
    cfg = override(preset_config("mnist-simple"), {"train.epochs": 1, "train.batch_size": 128})
    logger = TensorBoardLogger(tmp_path, x_test, y_test, classes)
    train(cfg, x_train, x_test, None, quiet=True, callbacks=[logger])
    _, rows = read_projector(logger.log_dir)
    assert all(len(r) == 2 for r in rows) and len(rows) == 1 + len(y_test)
    assert rows[1:] == [[tsv_cell(classes[y]), str(y)] for y in y_test]
