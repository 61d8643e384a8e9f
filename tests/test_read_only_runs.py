"""Commands that only read a run work on a read-only run directory: `detect`, `evaluate` and the web's /detect keep
the fitted detector (and metrics.json) in the user's cache instead, and say so once."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import make_images
from latentlab.cli import main
from latentlab.runs import load_run


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    """A 1-epoch mnist-vae run (hidden 16) on 512 synthetic bars in an .npz, and an image of a bar."""
    root = tmp_path_factory.mktemp("ro")
    x, y = make_images(640)
    np.savez(root / "bars.npz", x=x[:512], y=y[:512], x_test=x[512:], y_test=y[512:])
    run = root / "run"
    assert main(["train", "mnist-vae", "--dataset", str(root / "bars.npz"), "--epochs", "1", "--set",
                 "model.hidden=[16]", "--quiet", "--out", str(run)]) == 0
    Image.fromarray(x[600]).save(root / "bar.png")
    return run, root / "bar.png"


def _mount(args: list[str]) -> None:
    proc = subprocess.run(["mount", *args], capture_output=True, text=True)
    if proc.returncode:
        pytest.skip(f"mount {' '.join(args)} is not permitted here: {proc.stderr.strip()}")


@pytest.fixture
def read_only(trained, tmp_path, monkeypatch):
    """A copy of the run behind a read-only bind mount (root could write through chmod), and an empty cache."""
    run, _ = trained
    copy, ro = tmp_path / "copy", tmp_path / "ro"
    shutil.copytree(run, copy)
    ro.mkdir()
    _mount(["--bind", str(copy), str(ro)])
    try:
        _mount(["-o", "remount,bind,ro", str(ro)])
        with pytest.raises(OSError):
            (ro / "probe").write_text("x")  # really read-only
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
        yield ro
    finally:
        subprocess.run(["umount", str(ro)], check=False)


def _cached(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "cache").rglob("*") if p.is_file())


def test_detect_on_a_read_only_run_keeps_the_detector_in_the_cache_and_says_so_once(read_only, trained, tmp_path,
                                                                                     capsys) -> None:
    _, image = trained
    assert main(["detect", str(read_only), str(image), "--json", "--quiet"]) == 0
    out, err = capsys.readouterr()
    first = json.loads(out)
    digest = load_run(read_only).meta["files"]["model.safetensors"][:16]
    cache = tmp_path / "cache" / "latentlab" / "runs" / digest
    assert (f"latentlab detect: note: {read_only} cannot be written (Read-only file system), so the fitted detectors "
            f"are saved in {cache} instead (reused from there)") in err
    assert err.count("note:") == 1
    assert _cached(tmp_path) == ["detector.json", "detector.safetensors"]
    assert not (read_only / "detector.json").exists()
    # The second time it is read from the cache: the same verdict, nothing to say.
    assert main(["detect", str(read_only), str(image), "--json", "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == first and "note" not in err


def test_detect_with_no_writable_cache_keeps_the_detector_in_memory(read_only, trained, monkeypatch, capsys) -> None:
    _, image = trained
    monkeypatch.setenv("XDG_CACHE_HOME", str(read_only / "cache"))  # inside the read-only mount
    assert main(["detect", str(read_only), str(image), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert f"nor can the cache {read_only / 'cache'}" in err and "are kept in memory only (fitted again" in err


def test_evaluate_on_a_read_only_run_writes_its_metrics_to_the_cache(read_only, tmp_path, capsys) -> None:
    assert main(["evaluate", str(read_only), "--quiet", "--iwae-k", "2"]) == 0
    out, err = capsys.readouterr()
    digest = load_run(read_only).meta["files"]["model.safetensors"][:16]
    cache = tmp_path / "cache" / "latentlab" / "runs" / digest
    assert out.strip().splitlines()[-1] == str(cache / "metrics.json")
    assert f"{read_only} cannot be written (Read-only file system), so metrics.json was written to {cache}" in err
    assert err.count("note:") == 2 and err.count("fitted detectors are saved in") == 1  # said once
    metrics = json.loads((cache / "metrics.json").read_text())
    assert metrics["weights_sha256"] == load_run(read_only).meta["files"]["model.safetensors"]
    assert not (read_only / "metrics.json").exists()


def test_the_web_detect_answers_on_a_read_only_run_and_says_where_the_detector_went(read_only, trained, tmp_path,
                                                                                     capsys) -> None:
    pytest.importorskip("fastapi")
    pytest.importorskip("multipart")
    from fastapi.testclient import TestClient

    from latentlab.web.app import create_app

    _, image = trained
    client = TestClient(create_app([read_only]), base_url="http://127.0.0.1")
    run_id = read_only.name
    answers = [client.post(f"/api/runs/{run_id}/detect", files={"file": ("bar.png", image.read_bytes(), "image/png")})
               for _ in range(2)]
    for r in answers:
        assert r.status_code == 200, r.text
        assert "detector_note" in r.json(), r.json()
        assert "cannot be written (Read-only file system), so the fitted detectors are saved in" in \
            r.json()["detector_note"]
    assert answers[0].json()["score"] == answers[1].json()["score"]
    assert capsys.readouterr().err.count("latentlab serve: note:") == 1  # said once on the server's stderr
    assert _cached(tmp_path) == ["detector.json", "detector.safetensors"]


def test_a_read_only_run_loads_without_writing_anything(read_only) -> None:
    before = sorted(os.listdir(read_only))
    run = load_run(read_only)
    assert run.meta["epochs_done"] == 1 and sorted(os.listdir(read_only)) == before
