"""The dataset layer: registry, resolution order, bundled samples, custom folders and .npz, the table."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from latentlab import data as D
from latentlab.cli.tables import format_datasets as format_table
from latentlab.data import (
    DATASETS,
    SAMPLES,
    DatasetError,
    dataset_names,
    load_dataset,
    stratified_split,
)
from latentlab.data import samples as S
from latentlab.data.idx import write_idx
from latentlab.data.listing import dataset_table
from latentlab.data.registry import ROLES

SYSTEM_FASHION = Path("/usr/share/datasets/fashion-mnist")
PUBLISHED_MD5 = {
    "mnist": ("f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
              "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c"),
    "fashion-mnist": ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
                      "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310"),
}


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Every test gets an empty cache and no LATENTLAB_DATA, whatever the machine has."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("LATENTLAB_DATA", raising=False)


def fake_release(directory: Path, gz: bool = True, n_train: int = 60, n_test: int = 10) -> D.DatasetSpec:
    """Four small IDX files named like MNIST's, and a spec whose md5s match them (no mirrors)."""
    rng = np.random.default_rng(2)
    arrays = [rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8), (np.arange(n_train) % 10).astype(np.uint8),
              rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8), (np.arange(n_test) % 10).astype(np.uint8)]
    directory.mkdir(parents=True, exist_ok=True)
    files = {}
    for (role, (filename, _)), array in zip(DATASETS["mnist"].files.items(), arrays, strict=True):
        path = directory / (filename if gz else filename.removesuffix(".gz"))
        write_idx(path, array)
        files[role] = (filename, hashlib.md5(path.read_bytes()).hexdigest())
    return dataclasses.replace(DATASETS["mnist"], name="fake", files=files, raw_md5={}, mirrors=(), system_dirs=())


# ---- registry -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(DATASETS))
def test_registry_entries_are_complete(name):
    spec = DATASETS[name]
    assert spec.name == name and len(spec.classes) == 10 and len(spec.mirrors) >= 2 and spec.licence
    assert [f for f, _ in spec.files.values()] == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                                                  "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    assert tuple(md5 for _, md5 in spec.files.values()) == PUBLISHED_MD5[name]
    assert set(spec.raw_md5) == set(ROLES)


def test_class_names_and_names():
    assert DATASETS["mnist"].classes == tuple(str(d) for d in range(10))
    assert DATASETS["fashion-mnist"].classes == ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                                                 "Shirt", "Sneaker", "Bag", "Ankle boot")
    assert dataset_names() == ["mnist", "fashion-mnist", "cifar10", "mnist-sample", "fashion-mnist-sample",
                               "photo-tiles", "tinted-digits"]


# ---- resolution order -----------------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [True, False])
def test_data_dir_with_plain_or_gzipped_files(tmp_path, gz, capsys):
    spec = fake_release(tmp_path / "mine", gz=gz)
    data = load_dataset(spec, data_dir=tmp_path / "mine", download=False)
    assert data.x_train.shape == (60, 28, 28) and data.x_train.dtype == np.uint8 and data.x_train.flags.c_contiguous
    assert data.y_test.dtype == np.int64 and data.y_test.tolist() == list(range(10))
    assert data.source == f"data dir {tmp_path / 'mine'}"
    assert capsys.readouterr().err.strip() == f"fake: data dir {tmp_path / 'mine'}"


def test_unpacked_files_under_gz_names_are_read(tmp_path):
    # The README says "gzipped or not": an unpacked copy keeping the .gz name is not "damaged gzip".
    spec = fake_release(tmp_path / "mine")
    for filename, _ in spec.files.values():
        path = tmp_path / "mine" / filename
        path.write_bytes(gzip.decompress(path.read_bytes()))
    assert load_dataset(spec, data_dir=tmp_path / "mine", progress=False).x_train.shape == (60, 28, 28)
    cache = D.cache_dir("fake")
    shutil.copytree(tmp_path / "mine", cache)
    raw = {role: hashlib.md5((cache / filename).read_bytes()).hexdigest() for role, (filename, _) in spec.files.items()}
    verified = dataclasses.replace(spec, raw_md5=raw)  # the cache is checksummed: the unpacked md5 vouches
    assert load_dataset(verified, download=False, progress=False).source == f"cache {cache}"


def test_data_dir_subfolder_env_var_and_precedence(tmp_path, monkeypatch):
    spec = fake_release(tmp_path / "root" / "fake")
    fake_release(D.cache_dir("fake"))
    monkeypatch.setenv("LATENTLAB_DATA", str(tmp_path / "root"))
    assert load_dataset(spec, progress=False).source == f"data dir {tmp_path / 'root' / 'fake'}"
    monkeypatch.delenv("LATENTLAB_DATA")
    assert load_dataset(spec, progress=False).source == f"cache {D.cache_dir('fake')}"


def test_data_dir_is_not_checksummed_but_strictly_checked(tmp_path):
    spec = fake_release(tmp_path / "mine")
    other = dataclasses.replace(spec, files={r: (f, "0" * 32) for r, (f, _) in spec.files.items()})
    assert len(load_dataset(other, data_dir=tmp_path / "mine", progress=False).x_train) == 60  # own data may differ
    labels = tmp_path / "mine" / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(gzip.compress(gzip.decompress(labels.read_bytes())[:-1]))
    with pytest.raises(DatasetError, match="truncated") as info:
        load_dataset(spec, data_dir=tmp_path / "mine", progress=False)
    assert str(labels) in str(info.value)


@pytest.mark.parametrize("labels, match", [(np.zeros(7, np.uint8), "7 labels for 10 images"),
                                           (np.full(10, 10, np.uint8), "labels range 10..10 but there are 10"),
                                           (np.zeros((10, 2), np.uint8), "1-D uint8 label file")])
def test_mismatched_files_are_errors(tmp_path, labels, match):
    spec = fake_release(tmp_path / "mine")
    write_idx(tmp_path / "mine" / "t10k-labels-idx1-ubyte.gz", labels)
    with pytest.raises(DatasetError, match=match) as info:
        load_dataset(spec, data_dir=tmp_path / "mine", progress=False)
    assert "t10k-labels-idx1-ubyte.gz" in str(info.value)


def test_images_must_be_28x28_uint8(tmp_path):
    spec = fake_release(tmp_path / "mine")
    write_idx(tmp_path / "mine" / "train-images-idx3-ubyte.gz", np.zeros((60, 32, 32), np.uint8))
    with pytest.raises(DatasetError, match="expected uint8 images of 28x28"):
        load_dataset(spec, data_dir=tmp_path / "mine", progress=False)


def test_partial_data_dir_names_the_missing_files(tmp_path):
    spec = fake_release(tmp_path / "mine")
    (tmp_path / "mine" / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(DatasetError, match="lacks t10k-images-idx3-ubyte.gz"):
        load_dataset(spec, data_dir=tmp_path / "mine", progress=False)


@pytest.mark.skipif(not SYSTEM_FASHION.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_data_dir_holding_the_other_dataset_is_caught(tmp_path):
    fake_release(tmp_path / "mine")
    shutil.copy(SYSTEM_FASHION / "train-labels-idx1-ubyte.gz", tmp_path / "mine")
    with pytest.raises(DatasetError, match="holds fashion-mnist, not mnist"):
        load_dataset("mnist", data_dir=tmp_path / "mine", download=False, progress=False)


@pytest.mark.parametrize("name", ["train-images.idx3-ubyte.gz", "train-images.idx3-ubyte", "train-images-idx3",
                                  "train-images.idx3.gz", "train-images-idx3-ubyte"])
def test_common_spellings_of_the_file_names_are_found(tmp_path, monkeypatch, name):
    # Kaggle's copies put a dot before idx; others drop -ubyte or the .gz. Each role is spelled the same way.
    spec = fake_release(tmp_path / "mine")
    for filename, _ in spec.files.values():
        base, _, rest = filename.partition("-idx")  # "train-images", "3-ubyte.gz"
        new = name.replace("train-images", base).replace("idx3", f"idx{rest[0]}")
        (tmp_path / "mine" / filename).rename(tmp_path / "mine" / new)
        if not new.endswith(".gz"):
            (tmp_path / "mine" / new).write_bytes(gzip.decompress((tmp_path / "mine" / new).read_bytes()))
    assert len(D.resolve.find_files(tmp_path / "mine", spec)) == 4
    monkeypatch.setenv("LATENTLAB_DATA", str(tmp_path / "mine"))
    assert load_dataset(spec, download=False, progress=False).source == f"data dir {tmp_path / 'mine'}"


def test_spellings_put_the_published_name_first():
    names = D.resolve.spellings("t10k-labels-idx1-ubyte.gz")
    assert names[0] == "t10k-labels-idx1-ubyte.gz" and len(names) == len(set(names)) == 8
    assert {"t10k-labels.idx1-ubyte.gz", "t10k-labels.idx1-ubyte", "t10k-labels-idx1-ubyte",
            "t10k-labels-idx1"} <= set(names)
    assert D.resolve.spellings("data.bin.gz") == ["data.bin.gz", "data.bin"]  # other names: gzipped or not only


@pytest.mark.parametrize("make, why", [(lambda d: (d.mkdir(), (d / "notes.txt").write_text("x")),
                                        "no fake files in it or in fake/ (looked for names like "
                                        "train-images-idx3-ubyte.gz)"),
                                       (lambda d: None, "no such folder")])
def test_a_skipped_data_dir_is_said_on_the_source_line(tmp_path, monkeypatch, capsys, make, why):
    # The user pointed at a folder: if it is not used, the one line that says where the data came from says why.
    spec = dataclasses.replace(fake_release(tmp_path / "sys"), system_dirs=(str(tmp_path / "sys"),))
    make(tmp_path / "mine")
    monkeypatch.setenv("LATENTLAB_DATA", str(tmp_path / "mine"))
    data = load_dataset(spec, download=False)
    assert data.source == f"system copy {tmp_path / 'sys'}; data dir {tmp_path / 'mine'} skipped: {why}"
    assert capsys.readouterr().err == f"fake: {data.source}\n"
    with pytest.raises(DatasetError, match=f"downloading is off; data dir .* skipped: {re.escape(why)}"):
        load_dataset(dataclasses.replace(spec, system_dirs=()), download=False)


def two_data_sets(tmp_path: Path, monkeypatch) -> tuple[D.DatasetSpec, D.DatasetSpec]:
    """Two more fake data sets in the registry, "a" and "b", whose files share names but not content."""
    a = dataclasses.replace(fake_release(tmp_path / "a"), name="a")
    b = dataclasses.replace(fake_release(tmp_path / "b", n_train=70), name="b")
    monkeypatch.setitem(DATASETS, "a", a)
    monkeypatch.setitem(DATASETS, "b", b)
    return a, b


def test_a_data_dir_holds_one_data_set_told_by_checksum(tmp_path, monkeypatch):
    a, b = two_data_sets(tmp_path, monkeypatch)
    monkeypatch.setenv("LATENTLAB_DATA", str(tmp_path / "b"))
    # A folder of the other data set is skipped, as a folder with nothing would be; the search goes on.
    with pytest.raises(DatasetError, match=f"downloading is off; data dir {tmp_path / 'b'} skipped: holds b, not a"):
        load_dataset("a", download=False, progress=False)
    assert load_dataset("b", download=False, progress=False).source == f"data dir {tmp_path / 'b'}"
    rows = {row["name"]: row for row in dataset_table()}
    assert rows["a"] == {"name": "a", "resolves_from": f"not found; data dir {tmp_path / 'b'} skipped: holds b, not a",
                         "train": None, "test": None, "classes": 10, "checksums": "-"}
    assert rows["b"] == {"name": "b", "resolves_from": f"data dir {tmp_path / 'b'}", "train": 70, "test": 10,
                         "classes": 10, "checksums": "ok"}
    shutil.copytree(tmp_path / "a", tmp_path / "b" / "a")  # root/<name>/ comes first, for loading and listing
    assert load_dataset("a", download=False, progress=False).source == f"data dir {tmp_path / 'b' / 'a'}"
    assert {row["name"]: row for row in dataset_table()}["a"]["resolves_from"] == f"data dir {tmp_path / 'b' / 'a'}"


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_a_data_dir_of_one_data_set_does_not_hide_the_system_copy_of_the_other(tmp_path, monkeypatch, capsys, how):
    a, b = two_data_sets(tmp_path, monkeypatch)
    monkeypatch.setitem(DATASETS, "a", dataclasses.replace(a, system_dirs=(str(tmp_path / "a"),)))
    given = {"data_dir": tmp_path / "b"} if how == "argument" else {}
    if how == "environment":
        monkeypatch.setenv("LATENTLAB_DATA", str(tmp_path / "b"))
    data = load_dataset("a", download=False, **given)
    assert data.source == f"system copy {tmp_path / 'a'}; data dir {tmp_path / 'b'} skipped: holds b, not a"
    assert len(data.x_train) == 60  # a's own 60 images, not b's 70
    assert capsys.readouterr().err == f"a: {data.source}\n"  # said once, on the source line
    assert len(load_dataset("b", download=False, progress=False, **given).x_train) == 70
    if how == "environment":
        rows = {row["name"]: row for row in dataset_table()}
        assert rows["a"]["resolves_from"] == data.source and rows["a"]["checksums"] == "ok"
        assert rows["a"]["train"] == 60


def test_the_table_names_the_damaged_file_and_skips_a_cache_of_the_other_data_set(tmp_path, monkeypatch):
    a, b = two_data_sets(tmp_path, monkeypatch)
    shutil.copytree(tmp_path / "b", D.cache_dir("a"))  # b's files where a's cache should be
    monkeypatch.setitem(DATASETS, "a", dataclasses.replace(a, system_dirs=(str(tmp_path / "a"),)))
    row = {r["name"]: r for r in dataset_table()}["a"]
    assert row["resolves_from"] == f"system copy {tmp_path / 'a'}; cache {D.cache_dir('a')} skipped: holds b, not a"
    assert row["checksums"] == "ok"
    images = tmp_path / "a" / "t10k-images-idx3-ubyte.gz"
    images.write_bytes(images.read_bytes()[:-3])
    assert {r["name"]: r for r in dataset_table()}["a"]["checksums"] == "mismatch: t10k-images-idx3-ubyte.gz"


@pytest.mark.skipif(not SYSTEM_FASHION.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_datasets_table_with_fashion_in_the_data_dir_under_kaggle_names(tmp_path, monkeypatch):
    for path in SYSTEM_FASHION.iterdir():  # links, named as Kaggle's copy names them
        (tmp_path / path.name.replace("-idx", ".idx")).symlink_to(path)
    monkeypatch.setenv("LATENTLAB_DATA", str(tmp_path))
    rows = {row["name"]: row for row in dataset_table()}
    assert rows["mnist"]["resolves_from"] == f"not found; data dir {tmp_path} skipped: holds fashion-mnist, not mnist"
    assert rows["mnist"]["checksums"] == "-"
    assert rows["fashion-mnist"] == {"name": "fashion-mnist", "resolves_from": f"data dir {tmp_path}",
                                     "train": 60_000, "test": 10_000, "classes": 10, "checksums": "ok"}
    with pytest.raises(DatasetError, match="skipped: holds fashion-mnist, not mnist"):
        load_dataset("mnist", download=False, progress=False)


def test_system_dir_is_found_and_checksummed(tmp_path, capsys):
    spec = dataclasses.replace(fake_release(tmp_path / "sys"), system_dirs=(str(tmp_path / "sys"),))
    assert load_dataset(spec, progress=False).source == f"system copy {tmp_path / 'sys'}"
    wrong = dataclasses.replace(spec, files={**spec.files, "test_labels": (spec.files["test_labels"][0], "0" * 32)})
    with pytest.raises(DatasetError, match="downloading is off"):
        load_dataset(wrong, download=False)
    assert "skipping the system copy" in capsys.readouterr().err


@pytest.mark.skipif(not SYSTEM_FASHION.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_real_system_fashion_mnist():
    data = load_dataset("fashion-mnist", download=False, progress=False)
    assert data.source == f"system copy {SYSTEM_FASHION}"
    assert data.x_train.shape == (60_000, 28, 28) and data.x_test.shape == (10_000, 28, 28)
    assert data.x_train.dtype == np.uint8 and data.y_train.dtype == np.int64 and data.classes[9] == "Ankle boot"
    assert np.bincount(data.y_train).tolist() == [6000] * 10 and np.bincount(data.y_test).tolist() == [1000] * 10


def test_nothing_found_offline_lists_every_option(monkeypatch):
    monkeypatch.setitem(DATASETS, "fashion-mnist", dataclasses.replace(DATASETS["fashion-mnist"], system_dirs=()))
    for name in ("mnist", "fashion-mnist"):
        with pytest.raises(DatasetError) as info:
            load_dataset(name, download=False, progress=False)
        message = str(info.value)
        for part in (f"'{name}' not found", "data_dir", "LATENTLAB_DATA", str(D.cache_dir(name)), "download",
                     "mnist-sample", "fashion-mnist-sample", "train-images-idx3-ubyte.gz"):
            assert part in message
        assert ("apt-get install dataset-fashion-mnist" in message) == (name == "fashion-mnist")
        assert "\n" not in message


def test_unknown_name_lists_the_choices(tmp_path):
    with pytest.raises(DatasetError, match="unknown dataset 'minst'.*mnist, fashion-mnist, cifar10, mnist-sample"):
        load_dataset("minst")
    fake_release(tmp_path / "idx")
    with pytest.raises(DatasetError, match="holds IDX files.*data_dir="):
        load_dataset(str(tmp_path / "idx"))


# ---- bundled samples ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(SAMPLES))
def test_samples_load_balanced_and_real(name, capsys):
    data = load_dataset(name)
    spec = SAMPLES[name]
    assert data.is_sample and data.name == name and data.classes == spec.classes
    assert data.x_train.shape == (spec.n_train, 28, 28) and data.x_test.shape == (spec.n_test, 28, 28)
    assert data.x_train.dtype == np.uint8 and data.y_train.dtype == np.int64 and data.x_test.flags.c_contiguous
    assert data.source.startswith(f"bundled sample ({spec.n_train + spec.n_test:,} of 70,000 images")
    assert capsys.readouterr().err.startswith(f"{name}: bundled sample")
    assert data.x_train.max() == 255 and data.x_train.mean() > 20  # real images, not blank
    for y in (data.y_train, data.y_test):
        counts = np.bincount(y, minlength=10)
        if name == "fashion-mnist-sample":
            assert (counts == len(y) // 10).all()
        else:
            assert (np.abs(counts - len(y) / 10) <= 0.2 * len(y) / 10).all()


@pytest.mark.parametrize("name", list(SAMPLES))
def test_samples_are_in_a_mixed_order_not_sorted_by_class(name):
    # As in the real files: "the first 10 test images" must not be ten zeros.
    data = load_dataset(name, progress=False)
    for y in (data.y_train, data.y_test):
        assert len(set(y[:10].tolist())) > 1 and len(set(y[:20].tolist())) >= 8


def test_corrupt_sample_says_reinstall(tmp_path, monkeypatch):
    spec = SAMPLES["mnist-sample"]
    damaged = bytearray((S.SAMPLES_DIR / spec.filename).read_bytes())
    damaged[1000] ^= 0xFF
    (tmp_path / spec.filename).write_bytes(bytes(damaged))
    monkeypatch.setattr(S, "SAMPLES_DIR", tmp_path)
    with pytest.raises(DatasetError, match="corrupt.*reinstall latentlab"):
        load_dataset("mnist-sample", progress=False)


# ---- custom data: image folders -------------------------------------------------------------------------


def _image(path: Path, value: int = 200, size: tuple[int, int] = (40, 30), mode: str = "RGB") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, (value,) * len(mode) if mode != "L" else value).save(path)


def test_image_folder_is_converted_and_split(tmp_path):
    for i in range(20):
        _image(tmp_path / "shapes" / "circle" / f"{i:02}.png", value=10 + i)
        _image(tmp_path / "shapes" / "square" / f"{i:02}.jpg", value=240, size=(28, 28), mode="L")
    _image(tmp_path / "shapes" / "square" / "big.bmp", value=240, size=(300, 90))
    (tmp_path / "shapes" / "square" / ".DS_Store").write_bytes(b"\0junk")  # hidden files are skipped
    native = load_dataset(str(tmp_path / "shapes"), progress=False)  # the default: own size and colour
    assert native.image_shape == (1, 30, 40) and "resized to the most common size 21 of 41" in native.source
    # Grey 28x28 on purpose, with the automatic steps on: the digit pipeline, as before images kept their size.
    data = load_dataset(str(tmp_path / "shapes"), progress=False, image_size=(28, 28), grayscale=True)
    assert data.name == "shapes" and data.classes == ("circle", "square") and not data.is_sample
    assert data.x_train.shape[1:] == (28, 28) and data.x_train.dtype == np.uint8
    assert len(data.x_train) + len(data.x_test) == 41
    assert np.bincount(data.y_test).tolist() == [3, 3]  # 15% of each class
    # Uniform squares hold no object: the shared pipeline gives them black, and the source line says so.
    assert not data.x_train[data.y_train == 1].any() and "blank image" in data.source and "auto=on" in data.source
    plain = load_dataset(str(tmp_path / "shapes"), progress=False, auto=False, image_size="28x28", grayscale=True)
    assert (plain.x_train[plain.y_train == 1] >= 238).all()  # auto off: grey kept, only decoded and resized
    assert "auto=off" in plain.source
    again = load_dataset(str(tmp_path / "shapes"), progress=False, image_size=(28, 28), grayscale=True)
    np.testing.assert_array_equal(again.y_test, data.y_test)  # the split is deterministic


def test_image_folder_files_give_the_input_detect_and_the_web_give(tmp_path):
    from latentlab.images import read_image

    digits = load_dataset("mnist-sample", progress=False).x_test[:6]
    for i, digit in enumerate(digits):
        big = Image.fromarray(255 - digit).resize((84, 84), Image.Resampling.LANCZOS)  # dark ink on paper, 3x
        canvas = Image.new("L", (100, 120), 255)
        canvas.paste(big, (2, 3))
        canvas.save(tmp_path / f"d{i}.png")
    data = load_dataset(str(tmp_path), progress=False, image_size=(28, 28), grayscale=True)
    pixels = np.concatenate([data.x_train, data.x_test])
    expected = {read_image(tmp_path / f"d{i}.png").pixels.tobytes() for i in range(6)}
    assert {p.tobytes() for p in pixels} == expected
    assert "inverted 6 of 6" in data.source and "cropped and centred 6 of 6" in data.source


def test_an_image_folder_of_drawings_cut_by_the_frame_is_read_as_drawings(tmp_path):
    # Fault: outlines that ran off the 40x40 canvas left under 80% of the border as paper, so those files were read
    # as photographs (not inverted, not cropped) and a detector trained on the folder accepted blank pages.
    from PIL import ImageDraw

    from latentlab.images._paper import PLAIN, fit_paper

    cut = 0
    for i in range(12):
        im = Image.new("L", (40, 40), 235)
        lo, hi = (-1, 30) if i % 2 else (8, 32)  # every other square runs off the top and left edges
        ImageDraw.Draw(im).rectangle([lo + i % 3, lo, hi, hi - i % 4], outline=20, width=3)
        im.save(tmp_path / f"s{i}.png")
        cut += fit_paper(np.asarray(im, np.float32) / 255).plain < PLAIN
    assert cut == 6
    data = load_dataset(str(tmp_path), progress=False, image_size=(28, 28), grayscale=True)
    assert "inverted 12 of 12" in data.source and "cropped and centred 12 of 12" in data.source
    pixels = np.concatenate([data.x_train, data.x_test])
    assert pixels[:, [0, -1]].max() < 30 and pixels[:, :, [0, -1]].max() < 30  # black paper, framed outlines


def test_image_folder_train_test_and_unlabeled(tmp_path):
    for split, n in (("train", 4), ("test", 2)):
        for cls in ("a", "b"):
            for i in range(n):
                _image(tmp_path / "ds" / split / cls / f"{i}.gif", mode="L")
    _image(tmp_path / "ds" / "test" / "b" / "extra.png", mode="L")
    data = load_dataset(str(tmp_path / "ds"), progress=False)
    assert (len(data.x_train), len(data.x_test)) == (8, 5) and data.y_test.tolist() == [0, 0, 1, 1, 1]
    assert "train/ and test/" in data.source

    for i in range(10):
        _image(tmp_path / "flat" / f"{i}.png")
    flat = load_dataset(str(tmp_path / "flat"), progress=False)
    assert flat.y_train is None and flat.y_test is None and flat.classes == () and len(flat.x_test) == 2


def _with_one_image(root: Path) -> Path:
    _image(root / "a" / "1.png")
    return root / "a"


BAD_FOLDERS = {
    "empty": (lambda root: root.mkdir(), "no images found"),
    "empty class": (lambda root: (root / "a").mkdir(parents=True), "no images found"),
    "text file": (lambda root: (_with_one_image(root) / "notes.txt").write_text("x"), "notes.txt: not an image"),
    "broken png": (lambda root: (_with_one_image(root) / "bad.png").write_bytes(b"nope"), "bad.png is not an image"),
    "stray file": (lambda root: (_with_one_image(root), _image(root / "stray.png")), "stray.png: a file beside"),
    "unknown test class": (lambda root: (_image(root / "train" / "a" / "1.png"), _image(root / "test" / "z" / "1.png")),
                           "'z'.*no folder"),
    "labeled train, flat test": (lambda root: (_image(root / "train" / "a" / "1.png"), _image(root / "test" / "1.png")),
                                 "must both hold class folders"),
}


def test_system_files_in_an_image_folder_are_skipped_and_counted(tmp_path):
    # Windows and macOS leave these in folders of pictures; they stopped folder training as "not an image".
    for i in range(4):
        _image(tmp_path / "shapes" / "circle" / f"{i}.png", value=10 + i)
        _image(tmp_path / "shapes" / "square" / f"{i}.png", value=240)
    (tmp_path / "shapes" / "circle" / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0junk")
    (tmp_path / "shapes" / "square" / "desktop.ini").write_text("[.ShellClassInfo]\n")
    (tmp_path / "shapes" / "Thumbs.db").write_bytes(b"junk")  # beside the class folders too
    data = load_dataset(str(tmp_path / "shapes"), progress=False)
    assert len(data.x_train) + len(data.x_test) == 8 and data.classes == ("circle", "square")
    assert data.source.endswith("; skipped 3 system files (Thumbs.db, desktop.ini)")


@pytest.mark.parametrize("case", BAD_FOLDERS)
def test_bad_image_folders(tmp_path, case):
    setup, match = BAD_FOLDERS[case]
    setup(tmp_path / "bad")
    with pytest.raises(DatasetError, match=match):
        load_dataset(str(tmp_path / "bad"), progress=False)


# ---- custom data: .npz ----------------------------------------------------------------------------------


def test_npz_with_labels_split_and_own_test(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (40, 28, 28), dtype=np.uint8)
    y = np.arange(40) % 4
    np.savez(tmp_path / "mine.npz", x=x, y=y)
    data = load_dataset(str(tmp_path / "mine.npz"), progress=False)
    assert data.name == "mine" and data.classes == ("0", "1", "2", "3") and len(data.x_test) == 8
    assert data.source.startswith(f"npz file {tmp_path / 'mine.npz'}, split 85/15 per class (seed 0)")
    assert sorted(np.concatenate([data.y_train, data.y_test]).tolist()) == sorted(y.tolist())

    np.savez(tmp_path / "own.npz", x=x, y=y, x_test=x[:5], y_test=y[:5], classes=np.array(["a", "b", "c", "d"]))
    own = load_dataset(str(tmp_path / "own.npz"), progress=False)
    assert own.classes == ("a", "b", "c", "d") and len(own.x_train) == 40 and own.y_test.dtype == np.int64

    np.savez(tmp_path / "bare.npz", x=x)
    bare = load_dataset(str(tmp_path / "bare.npz"), progress=False)
    assert bare.y_train is None and bare.classes == () and len(bare.x_train) == 34
    assert "split 85/15 at random (seed 0)" in bare.source and "per class" not in bare.source


def test_relative_paths_are_kept_absolute(tmp_path, monkeypatch):
    # What a run's config stores (ImageData.ref) must load again from any working directory.
    x = np.random.default_rng(0).integers(0, 256, (20, 28, 28), dtype=np.uint8)
    np.savez(tmp_path / "rel.npz", x=x)
    for i in range(3):
        _image(tmp_path / "shapes" / "a" / f"{i}.png")
    monkeypatch.chdir(tmp_path)
    for given, name in (("rel.npz", "rel"), ("shapes", "shapes"), ("./shapes/../shapes", "shapes")):
        data = load_dataset(given, progress=False)
        absolute = tmp_path / Path(given).name
        assert (data.name, data.path, data.ref) == (name, absolute, str(absolute))
        assert str(absolute) in data.source
    assert load_dataset("mnist-sample", progress=False).ref == "mnist-sample"  # registered names stay names
    monkeypatch.chdir(tmp_path / "shapes")
    assert len(load_dataset(str(tmp_path / "rel.npz"), progress=False).x_train) == 17


X = np.zeros((10, 28, 28), np.uint8)


@pytest.mark.parametrize("arrays, match", [
    ({"x": X.astype(np.float32) + 200}, r"'x' is float32 with values 200\.\.200, expected uint8"),
    ({"x": np.zeros((10, 300, 32), np.uint8)}, r"300x32 \(height x width\), over the 256x256 limit.*--image-size"),
    ({"x": np.zeros((10, 3, 32, 32), np.uint8)}, r"channels first.*x.transpose\(0, 2, 3, 1\)"),
    ({"x": X, "x_test": np.zeros((2, 28, 27), np.uint8)}, "'x_test' is uint8"),
    ({"x": X, "y": np.zeros(9, int)}, "'y' is .* one per image of 'x' \\(10\\)"),
    ({"x": X, "y": np.zeros(10, float)}, "must be integer labels"),
    ({"x": X, "y": np.zeros(10, int), "x_test": X}, "only one of 'y' and 'y_test'"),
    ({"x": X, "y": np.full(10, 3), "classes": np.array(["a", "b"])}, "labels range 3..3 but there are 2"),
    ({"x": X, "y_test": np.zeros(10, int)}, "'y_test' but no 'x_test'"),
    ({"images": X}, "has no array 'x'"),
    ({"x": np.array([np.zeros((28, 28)), np.zeros((20, 20))], dtype=object)}, "cannot be read as plain numeric"),
])
def test_bad_npz(tmp_path, arrays, match):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DatasetError, match=match) as info:
        load_dataset(str(tmp_path / "bad.npz"), progress=False)
    assert str(tmp_path / "bad.npz") in str(info.value)


PIXELS = np.random.default_rng(3).integers(0, 256, (10, 28, 28), dtype=np.uint8)


@pytest.mark.parametrize("x, note", [
    (PIXELS / 255, "'x' float64 in [0, 1] scaled by 255 and rounded to uint8"),
    ((PIXELS / 255).astype(np.float32), "'x' float32 in [0, 1] scaled by 255 and rounded to uint8"),
    (PIXELS.astype(np.int64), "'x' int64 in 0..255 converted to uint8"),
    (PIXELS.astype(np.uint16), "'x' uint16 in 0..255 converted to uint8"),
    (PIXELS.astype(np.int16), "'x' int16 in 0..255 converted to uint8"),
])
def test_npz_floats_in_0_1_and_integers_in_0_255_are_converted(tmp_path, x, note):
    np.savez(tmp_path / "conv.npz", x=x, x_test=PIXELS[:2].astype(x.dtype) if x.max() > 1 else PIXELS[:2] / 255)
    data = load_dataset(str(tmp_path / "conv.npz"), progress=False)
    np.testing.assert_array_equal(data.x_train, PIXELS)  # every pixel kept, none wrapped
    np.testing.assert_array_equal(data.x_test, PIXELS[:2])
    assert data.source.startswith(f"npz file {tmp_path / 'conv.npz'} (its own test split); {note}; 'x_test' ")


STRETCH = "((x - x.min()) / (x.max() - x.min()) * 255).round().astype(numpy.uint8)"


@pytest.mark.parametrize("x, what, fix", [
    (PIXELS.astype(np.float32), "float32 with values 0..255", "x.round().astype(numpy.uint8)"),
    (PIXELS.astype(np.int32) * 257, "int32 with values 0..65535",
     "(x * (255 / 65535)).round().astype(numpy.uint8), which maps the observed 0..65535 to 0..255"),
    (PIXELS.astype(np.uint16) * 257, "uint16 with values 0..65535",
     "(x * (255 / 65535)).round().astype(numpy.uint8), which maps the observed 0..65535 to 0..255 (for 16-bit "
     "images of the full 0..65535 range: (x // 257).astype(numpy.uint8))"),
    # not 16-bit: dividing by 257 would leave 0..3; the observed range is what is scaled
    (PIXELS.astype(np.int64) * 4, "int64 with values 0..1020",
     "(x * (255 / 1020)).round().astype(numpy.uint8), which maps the observed 0..1020 to 0..255"),
    (PIXELS / 127.5 - 1, "float64 with values -1..1", "((x + 1) * 127.5).round().astype(numpy.uint8)"),
    (PIXELS.astype(np.int16) - 300, "int16 with values -300..-45", STRETCH),
    (PIXELS * 2.0, "float64 with values 0..510", STRETCH),
])
def test_npz_other_ranges_are_refused_with_the_conversion_for_that_range(tmp_path, x, what, fix):
    # The old hint, (x * 255).astype(numpy.uint8), wrapped 0..255 floats silently; each range gets its own.
    np.savez(tmp_path / "bad.npz", x=x)
    with pytest.raises(DatasetError) as info:
        load_dataset(str(tmp_path / "bad.npz"), progress=False)
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'bad.npz'}: 'x' is {what}, expected uint8 pixels in 0..255")
    assert message.endswith(f"; convert with {fix}") and "\n" not in message


@pytest.mark.parametrize("x, what", [(np.full((4, 28, 28), 300.0), "float64 with every value 300"),
                                     (np.full((4, 28, 28), -5, np.int16), "int16 with every value -5")])
def test_npz_of_one_value_out_of_range_is_not_told_to_divide_by_zero(tmp_path, x, what):
    # The stretch (x - x.min()) / (x.max() - x.min()) divides by zero here: every pixel would become NaN.
    np.savez(tmp_path / "flat.npz", x=x)
    with pytest.raises(DatasetError) as info:
        load_dataset(str(tmp_path / "flat.npz"), progress=False)
    assert str(info.value) == (
        f"{tmp_path / 'flat.npz'}: 'x' is {what}, expected uint8 pixels in 0..255 (floats in [0, 1] and integers in "
        "0..255 are converted); one value has no range to stretch: every image is blank, so check how x was made "
        "(for blank images on purpose: numpy.zeros(x.shape, numpy.uint8))")


@pytest.mark.parametrize("x, match", [(PIXELS > 128, "'x' is bool, .*convert: \\(x \\* 255\\)"),
                                      (PIXELS.astype(np.complex64), "'x' is complex64, expected numbers")])
def test_npz_pixels_that_are_not_numbers_are_refused(tmp_path, x, match):
    np.savez(tmp_path / "bad.npz", x=x)
    with pytest.raises(DatasetError, match=match):
        load_dataset(str(tmp_path / "bad.npz"), progress=False)


def test_npz_nan_and_inf_pixels_are_counted_and_located(tmp_path):
    x = PIXELS / 255
    x[3, 0, :2] = np.nan
    x[7, 5, 5] = np.inf
    np.savez(tmp_path / "nan.npz", x=x)
    with pytest.raises(DatasetError, match=re.escape(
            "'x' is float64 with 3 NaN or infinite pixels in 2 images, the first in image 3; at [3, 0, 0] = nan, "
            "[3, 0, 1] = nan, [7, 5, 5] = inf; fix or drop those images")):
        load_dataset(str(tmp_path / "nan.npz"), progress=False)


def test_not_a_zip(tmp_path):
    (tmp_path / "bad.npz").write_text("hello")
    with pytest.raises(DatasetError, match=r"is text \(it starts 'hello'\), not an .npz archive"):
        load_dataset(str(tmp_path / "bad.npz"), progress=False)


def test_stratified_split_is_deterministic_and_disjoint():
    y = np.repeat(np.arange(3), [20, 40, 7])
    train, test = stratified_split(y, len(y))
    assert np.intersect1d(train, test).size == 0 and len(train) + len(test) == len(y)
    assert np.bincount(y[test]).tolist() == [3, 6, 1]
    assert all(np.array_equal(a, b) for a, b in zip(stratified_split(y, len(y)), (train, test), strict=True))


# ---- `latentlab datasets` -------------------------------------------------------------------------------


def test_dataset_table(monkeypatch):
    monkeypatch.setitem(DATASETS, "fashion-mnist", dataclasses.replace(DATASETS["fashion-mnist"], system_dirs=()))
    fake_release(D.cache_dir("mnist"))  # right names, wrong content
    rows = {row["name"]: row for row in dataset_table()}
    assert list(rows) == dataset_names()
    names = ", ".join(f for f, _ in DATASETS["mnist"].files.values())  # every file fails: each is named
    assert rows["mnist"] == {"name": "mnist", "resolves_from": f"cache {D.cache_dir('mnist')}", "train": 60,
                             "test": 10, "classes": 10, "checksums": f"mismatch: {names}"}
    assert rows["fashion-mnist"]["resolves_from"] == "not found" and rows["fashion-mnist"]["checksums"] == "-"
    assert rows["mnist-sample"]["checksums"] == "ok" and rows["fashion-mnist-sample"]["train"] == 10_000
    assert {row["checksums"] for row in dataset_table(verify=False)} == {"-"}

    lines = format_table(list(rows.values())).splitlines()
    assert lines[0].split() == ["NAME", "RESOLVES", "FROM", "TRAIN", "TEST", "CLASSES", "CHECKSUMS"]
    assert len(lines) == 8 and lines[4].startswith("mnist-sample ") and "8,500" in lines[4]
    assert lines[0].index("CHECKSUMS") == lines[1].index("mismatch") == lines[4].index("ok")  # aligned
    assert rows["cifar10"]["resolves_from"] == "not found" and rows["photo-tiles"]["classes"] == 2


@pytest.mark.skipif(not SYSTEM_FASHION.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_dataset_table_verifies_the_recompressed_system_copy():
    row = next(r for r in dataset_table() if r["name"] == "fashion-mnist")
    assert row == {"name": "fashion-mnist", "resolves_from": f"system copy {SYSTEM_FASHION}", "train": 60_000,
                   "test": 10_000, "classes": 10, "checksums": "ok"}


@pytest.mark.parametrize("content, what", [
    (b"x,y\n1,2\n", "is text (it starts 'x,y\\n1,2\\n'), not an .npz archive"),
    (b"\x93NUMPY\x01\x00v\x00", "is a single .npy array, not an .npz archive"),
    (b"\x80\x04\x95\x00", "is pickled Python data, which latentlab never loads"),
    (b"", "is empty"),
])
def test_a_file_named_npz_that_is_no_zip_is_said_for_what_it_is(tmp_path, content, what):
    # numpy takes anything that is not a zip for a pickle; a text file was reported as "pickled data".
    (tmp_path / "data.npz").write_bytes(content)
    with pytest.raises(DatasetError) as info:
        load_dataset(str(tmp_path / "data.npz"), progress=False)
    assert str(info.value).startswith(f"{tmp_path / 'data.npz'}: {what}; save the images with numpy.savez(")
