"""Names as users' systems write them: a Latin-1 class folder (bytes that are not UTF-8, as Windows zips write
them), output names near the 255-byte limit, a run name too long for a folder. Names are shown with the bad bytes
escaped, one bad run never breaks the listing of the others, and limits are said up front."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import make_images
from latentlab.cli import main
from latentlab.files import atomic_write_text, shown_name

LATIN1 = b"caf\xe9"  # "café" in Latin-1: not UTF-8
SHOWN = "caf\\xe9"


def image_folder(root: Path) -> Path:
    """root/<class>/*.png: a Latin-1 class folder and a plain one, 12 bar images each."""
    x, _ = make_images(24, seed=5)
    for k, name in enumerate((LATIN1, b"plain")):
        folder = os.path.join(os.fsencode(root), name)
        os.makedirs(folder)
        for i in range(12):
            Image.fromarray(x[k * 12 + i]).save(os.fsdecode(os.path.join(folder, f"{i}.png".encode())))
    return root


def test_shown_name_escapes_only_the_bytes_that_are_not_utf8():
    assert shown_name(os.fsdecode(LATIN1)) == SHOWN
    assert shown_name("café ✓") == "café ✓" and shown_name(Path("a/b")) == "a/b"
    json.dumps(shown_name(os.fsdecode(b"\xff\xfe"))).encode("utf-8")  # always encodable


@pytest.fixture(scope="module")
def latin1_run(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("names")
    data = image_folder(tmp / "shop")
    assert main(["train", "mnist-vae", "--dataset", str(data), "--epochs", "1", "--quiet", "--device", "cpu",
                 "--out", str(tmp / "run")]) == 0
    return tmp / "run"


def test_a_latin1_class_folder_trains_plots_and_is_listed(latin1_run, capsys):
    meta = json.loads((latin1_run / "meta.json").read_text())
    assert meta["classes"] == [SHOWN, "plain"]
    out = latin1_run.parent / "latent.png"
    assert main(["plot", "latent", str(latin1_run), "--output", str(out)]) == 0
    assert out.stat().st_size > 0 and "Traceback" not in capsys.readouterr().err


def test_one_bad_run_never_breaks_the_listing_of_the_others(latin1_run, tmp_path):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from latentlab.web import create_app

    # An older run that kept the raw name in its meta.json, in a folder whose own name is Latin-1 too.
    old = Path(os.fsdecode(os.path.join(os.fsencode(tmp_path), b"old-\xe9")))
    shutil.copytree(latin1_run, old)
    meta = json.loads((old / "meta.json").read_text())
    meta["classes"] = [os.fsdecode(LATIN1), "plain"]
    (old / "meta.json").write_text(json.dumps(meta))
    broken = tmp_path / "broken"
    shutil.copytree(latin1_run, broken)
    (broken / "config.json").write_text("{not json")
    client = TestClient(create_app([latin1_run, old, broken]), base_url="http://127.0.0.1")
    r = client.get("/api/runs")
    assert r.status_code == 200
    listed = {run["id"]: run for run in r.json()}
    assert set(listed) == {"run", "old-\\xe9"}  # the broken one is left out (said on stderr), the rest listed
    assert listed["old-\\xe9"]["classes"] == [SHOWN, "plain"] == listed["run"]["classes"]
    app = create_app([latin1_run])
    app.state.services["run"].summary = lambda: 1 / 0  # a run whose description fails at request time
    r = TestClient(app, base_url="http://127.0.0.1").get("/api/runs")
    assert r.status_code == 200 and r.json() == [{"id": "run", "name": "run", "error": "ZeroDivisionError: "
                                                                                  "division by zero"}]


def test_output_names_near_the_255_byte_limit_are_written(latin1_run, tmp_path, capsys):
    name = "é" * 125 + ".png"  # 254 bytes: legal, but a temporary name built from it was not
    assert len(name.encode()) == 254
    assert main(["plot", "curves", str(latin1_run), "--output", str(tmp_path / name)]) == 0
    assert (tmp_path / name).stat().st_size > 0 and [p.name for p in tmp_path.iterdir()] == [name]
    atomic_write_text(tmp_path / ("x" * 255), "ok")
    assert (tmp_path / ("x" * 255)).read_text() == "ok"


@pytest.mark.parametrize("flag, value, said", [
    ("--name", "r" * 201, "--name 'rrrr"),  # the flag, in the message's own words
    ("--out", "runs/" + "o" * 256, "the name 'oooo"),
])
def test_a_name_too_long_for_a_folder_is_refused_before_any_work(tmp_path, capsys, flag, value, said):
    args = ["train", "mnist-simple", "--dataset", str(tmp_path / "missing-data"), flag, str(tmp_path / value)
            if flag == "--out" else value]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert said in err and "bytes" in err and "Traceback" not in err
    assert "missing-data" not in err  # said before the data set was looked for
    assert not any(tmp_path.iterdir())


def test_a_run_name_at_the_limit_trains(tmp_path, monkeypatch):
    np.savez(tmp_path / "d.npz", x=make_images(16)[0])
    name = "n" * 200
    monkeypatch.chdir(tmp_path)
    assert main(["train", "mnist-simple", "--dataset", str(tmp_path / "d.npz"), "--epochs", "1", "--quiet",
                 "--name", name, "--device", "cpu"]) == 0
    assert (tmp_path / "runs" / name / "model.safetensors").is_file()
