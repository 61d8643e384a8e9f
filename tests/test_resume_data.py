"""A resume compares its data with what the run was trained on, and refuses other data unless told explicitly."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import make_images
from latentlab.cli import main
from latentlab.config import override
from latentlab.data import load_dataset
from latentlab.errors import DataChangedError
from latentlab.presets import preset_config
from latentlab.runs import load_run, read_json
from latentlab.training import train


def _folder(root: Path, classes=("a", "b", "c"), per_class: int = 20, seed: int = 0) -> Path:
    x, _ = make_images(per_class * len(classes), seed=seed)
    for k, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(x[k * per_class + i]).save(root / name / f"{i:02}.png")
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    """A 1-epoch mnist-simple run on a folder of 3 classes x 20 images, and that folder."""
    root = tmp_path_factory.mktemp("resume-data")
    folder = _folder(root / "shapes")
    run = root / "run"
    assert main(["train", "mnist-simple", "--dataset", str(folder), "--epochs", "1", "--batch-size", "8", "--quiet",
                 "--out", str(run)]) == 0
    return run, folder


def _copies(trained, tmp_path) -> tuple[Path, Path]:
    """A copy of the run pointing at a copy of its folder (config.json's dataset rewritten)."""
    run, folder = trained
    new_run, new_folder = tmp_path / "run", tmp_path / "shapes"
    shutil.copytree(run, new_run)
    shutil.copytree(folder, new_folder)
    cfg = read_json(new_run / "config.json")
    cfg["dataset"] = str(new_folder)
    (new_run / "config.json").write_text(json.dumps(cfg))
    meta = read_json(new_run / "meta.json")  # config.json is not among the checksummed files: no more to change
    assert "config.json" not in meta["files"]
    return new_run, new_folder


def _swap(folder: Path) -> None:
    (folder / "a").rename(folder / "tmp")
    (folder / "b").rename(folder / "a")
    (folder / "tmp").rename(folder / "b")


def _halve(folder: Path) -> None:
    for path in sorted(folder.glob("*/*.png"))[::2]:
        path.unlink()


def _add_class(folder: Path) -> None:
    _folder(folder, classes=("d",), seed=5)


CHANGES = {"swapped classes": (_swap, "3 classes (a, b, c)", "3 classes (a, b, c)"),
           "halved": (_halve, "51 images", "24 images"),
           "added class": (_add_class, "3 classes (a, b, c)", "4 classes (a, b, c, d)")}


@pytest.mark.parametrize("change", CHANGES)
def test_a_resume_on_changed_data_is_refused_with_both_descriptions(trained, tmp_path, capsys, change) -> None:
    run, folder = _copies(trained, tmp_path)
    alter, old, new = CHANGES[change]
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    meta = read_json(run / "meta.json")
    alter(folder)
    assert main(["train", "--resume", str(run), "--epochs", "2", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"cannot resume {run} on other training images than it was trained on" in err
    assert f"it was trained on shapes, 51 images, 3 classes (a, b, c), images sha256 " \
           f"{meta['train_images_sha256'][:12]}, labels sha256 {meta['train_labels_sha256'][:12]}" in err
    assert old in err.split("now given")[0] and new in err.split("now given")[1]
    assert "resume with --allow-data-change" in err and "allow_data_change" not in err  # the flag that lets it go on
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before  # nothing was written

    # With the flag it goes on, and the run's history and meta.json say what changed, and when.
    assert main(["train", "--resume", str(run), "--epochs", "2", "--quiet", "--allow-data-change"]) == 0
    history = load_run(run).history
    assert "data_change" not in history[0]
    record = history[1]["data_change"]
    assert record["epoch"] == 2 and record["before"]["train_images_sha256"] == meta["train_images_sha256"]
    assert record["after"]["train_images_sha256"] != meta["train_images_sha256"]
    assert record["before"]["n_train"] == 51 and record["after"]["n_train"] == len(load_dataset(str(folder)).x_train)
    saved = read_json(run / "meta.json")
    assert saved["data_changes"] == [record] and saved["train_images_sha256"] == record["after"]["train_images_sha256"]
    # The next resume compares with the data it now trains on, and keeps the record.
    assert main(["train", "--resume", str(run), "--epochs", "3", "--quiet"]) == 0
    assert read_json(run / "meta.json")["data_changes"] == [record] and "data_change" not in load_run(run).history[2]


def test_a_resume_on_the_same_data_goes_on_silently(trained, tmp_path, capsys) -> None:
    run, _ = _copies(trained, tmp_path)
    assert main(["train", "--resume", str(run), "--epochs", "2", "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == f"finished: {run}\n"
    assert "data_changes" not in read_json(run / "meta.json")


def test_the_python_api_refuses_other_arrays_unless_allowed(bars, tmp_path) -> None:
    x_train, _, x_test, _ = bars
    cfg = override(preset_config("mnist-vae"), {"train.epochs": 1, "model.hidden": [16]})
    train(cfg, x_train, x_test, tmp_path, quiet=True)
    more = override(cfg, {"train.epochs": 2})
    with pytest.raises(DataChangedError, match=r"trained on 512 images, images sha256 \w{12}; now given 256 images"):
        train(more, x_train[:256], x_test, tmp_path, resume=True, quiet=True)
    flipped = np.ascontiguousarray(x_train[:, ::-1])
    with pytest.raises(DataChangedError, match="allow_data_change=True"):
        train(more, flipped, x_test, tmp_path, resume=True, quiet=True)
    result = train(more, flipped, x_test, tmp_path, resume=True, quiet=True, allow_data_change=True)
    assert result.status == "finished" and result.history[1]["data_change"]["after"]["n_train"] == 512
