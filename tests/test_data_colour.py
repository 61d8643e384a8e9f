"""The user's images at their own size and colour: folders and .npz keep both; `image_size` and `grayscale` convert
on purpose and say so; mixed sizes go to the most common one; the model's side limit gives an error that says what
to pass."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from latentlab.config import MAX_MODEL_SIDE as MAX_SIDE
from latentlab.data import DatasetError, ImageData, load_dataset
from latentlab.data.base import image_data
from latentlab.data.convert import parse_size, to_grey
from latentlab.errors import ConfigError
from latentlab.images import read_image


def _colour(path: Path, seed: int, size: tuple[int, int] = (64, 48)) -> None:
    """A random colour picture of `size` (width, height) at `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)


def test_colour_folder_keeps_its_size_and_colour(tmp_path):
    for i in range(10):
        _colour(tmp_path / "pics" / "red" / f"{i}.png", i)
        _colour(tmp_path / "pics" / "blue" / f"{i}.png", 100 + i)
    data = load_dataset(str(tmp_path / "pics"), progress=False)
    assert data.image_shape == (3, 48, 64) and data.x_train.shape[1:] == (48, 64, 3)
    assert data.x_train.dtype == np.uint8 and len(data.x_train) + len(data.x_test) == 20
    assert "colour and size kept, colour 48x64 (height x width): nothing changed" in data.source
    # Pixel for pixel the file, as `read_image` gives it for a run of that shape (detect, the web page).
    index = data.classes.index("blue")
    first = np.asarray(Image.open(tmp_path / "pics" / "blue" / "0.png"))
    assert any(np.array_equal(first, x) for x in data.x_train[data.y_train == index])
    assert np.array_equal(read_image(tmp_path / "pics" / "blue" / "0.png", shape=(3, 48, 64)).pixels, first)


def test_mixed_sizes_and_grey_files_join_the_common_shape(tmp_path):
    for i in range(4):
        _colour(tmp_path / "mixed" / f"{i}.png", i)
    _colour(tmp_path / "mixed" / "odd.png", 9, size=(32, 40))
    Image.new("L", (64, 48), 128).save(tmp_path / "mixed" / "grey.png")
    data = load_dataset(str(tmp_path / "mixed"), progress=False)
    assert data.image_shape == (3, 48, 64) and data.y_train is None
    assert "resized to the most common size 1 of 6" in data.source
    assert "grey copied to the 3 colour channels 1 of 6" in data.source


def test_image_size_and_grayscale_convert_folders_on_purpose(tmp_path):
    for i in range(6):
        _colour(tmp_path / "pics" / "a" / f"{i}.png", i)
    grey = load_dataset(str(tmp_path / "pics"), progress=False, grayscale=True, image_size="24x40")
    assert grey.image_shape == (1, 24, 40) and "grey on purpose" in grey.source
    assert "resized on purpose 6 of 6" in grey.source
    small = load_dataset(str(tmp_path / "pics"), progress=False, image_size=(16, 16))
    assert small.image_shape == (3, 16, 16)
    expected = read_image(tmp_path / "pics" / "a" / "0.png", shape=(3, 16, 16)).pixels
    assert any(np.array_equal(expected, x) for x in np.concatenate([small.x_train, small.x_test]))


def test_images_over_the_limit_say_what_to_pass(tmp_path):
    for i in range(3):
        _colour(tmp_path / "big" / f"{i}.png", i, size=(640, 427))
    with pytest.raises(DatasetError, match=rf"427x640 \(height x width\), over the {MAX_SIDE}x{MAX_SIDE} limit.*"
                                           r"--image-size 43x64"):
        load_dataset(str(tmp_path / "big"), progress=False)
    assert load_dataset(str(tmp_path / "big"), progress=False, image_size=(43, 64)).image_shape == (3, 43, 64)


def test_npz_colour_and_conversions(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8)
    np.savez(tmp_path / "rgb.npz", x=x, y=np.arange(40) % 2)
    data = load_dataset(str(tmp_path / "rgb.npz"), progress=False)
    assert data.image_shape == (3, 32, 32) and data.x_train.shape == (34, 32, 32, 3)
    grey = load_dataset(str(tmp_path / "rgb.npz"), progress=False, grayscale=True, image_size=28)
    assert grey.image_shape == (1, 28, 28) and "converted to grey on purpose" in grey.source
    assert "resized from 32x32 to 28x28 (height x width) on purpose" in grey.source
    np.savez(tmp_path / "one.npz", x=x[..., :1])
    one = load_dataset(str(tmp_path / "one.npz"), progress=False)
    assert one.image_shape == (1, 32, 32) and "taken as grey" in one.source


def test_grey_conversion_is_pillows_bit_for_bit():
    x = np.random.default_rng(1).integers(0, 256, (5, 9, 11, 3), dtype=np.uint8)
    pil = np.stack([np.asarray(Image.fromarray(img).convert("L")) for img in x])
    np.testing.assert_array_equal(to_grey(x), pil)


def test_registered_sets_convert_on_purpose():
    data = load_dataset("fashion-mnist-sample", progress=False, image_size=(32, 32))
    assert data.image_shape == (1, 32, 32) and data.x_test.shape[1:] == (32, 32)
    assert "resized from 28x28 to 32x32" in data.source


@pytest.mark.parametrize("value, size", [("32x32", (32, 32)), ("64X48", (64, 48)), ("40", (40, 40)), (16, (16, 16)),
                                         ((24, 40), (24, 40)), (None, None)])
def test_parse_size(value, size):
    assert parse_size(value) == size


@pytest.mark.parametrize("value", ["big", "4x4", "32x300", (32,)])
def test_parse_size_refuses(value):
    with pytest.raises(ConfigError, match="image_size="):
        parse_size(value)


def test_image_data_needs_one_shape_for_both_splits():
    with pytest.raises(DatasetError, match="give both splits one size and colour"):
        image_data("x", np.zeros((2, 8, 8), np.uint8), None, np.zeros((2, 8, 8, 3), np.uint8), None, (), "")
    data = ImageData("d", np.zeros((2, 9, 8, 3), np.uint8), None, np.zeros((0, 9, 8, 3), np.uint8), None, (), "")
    assert data.image_shape == (3, 9, 8)


def test_photo_tiles_are_real_colour_split_without_overlap(monkeypatch):
    from types import SimpleNamespace

    from sklearn import datasets

    from latentlab.data.tiles import photo_tiles

    data = load_dataset("photo-tiles", progress=False)
    assert data.image_shape == (3, 32, 32) and data.classes == ("china", "flower")
    assert np.bincount(data.y_train).tolist() == [523, 523] and np.bincount(data.y_test).tolist() == [170, 170]
    assert np.ptp(data.x_train.astype(int), axis=3).mean() > 10  # the channels really differ: colour photographs
    # On a photograph whose every pixel is told apart by its colour, no test pixel is in a training tile.
    ids = np.arange(40 * 80).reshape(40, 80)
    unique = np.stack([ids % 256, ids // 256, np.zeros_like(ids)], -1).astype(np.uint8)
    monkeypatch.setattr(datasets, "load_sample_images", lambda: SimpleNamespace(images=[unique]))
    small = photo_tiles(tile=8, stride=4, block=16)
    train_pixels = {tuple(p) for p in small.x_train.reshape(-1, 3)}
    assert len(small.x_test) > 0 and train_pixels.isdisjoint({tuple(p) for p in small.x_test.reshape(-1, 3)})


def test_tinted_digits_differ_in_colour_only():
    data = load_dataset("tinted-digits", progress=False)
    pink, blue = data.x_train[data.y_train == 0], data.x_train[data.y_train == 1]
    assert data.image_shape == (3, 28, 28) and len(pink) == len(blue) == 1000
    assert np.abs(to_grey(pink).astype(int) - to_grey(blue)).max() <= 1  # in grey the two classes are one
    assert np.abs(pink.astype(int) - blue).max() > 100  # in colour they are far apart


def test_npz_over_the_limit_loads_when_resized_on_purpose(tmp_path):
    np.savez(tmp_path / "big.npz", x=np.zeros((4, 300, 260, 3), np.uint8))
    with pytest.raises(DatasetError, match=r"300x260 \(height x width\), over the 256x256 limit"):
        load_dataset(str(tmp_path / "big.npz"), progress=False)
    assert load_dataset(str(tmp_path / "big.npz"), progress=False, image_size="30x26").image_shape == (3, 30, 26)
