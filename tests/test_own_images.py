"""A new user's own images, as docs/tutorials/own-images.md walks through them: a small folder of drawn shapes,
trained on from the command line, then asked about through `latentlab detect`, Python and the web page."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import make_images
from latentlab.cli import main
from latentlab.data.base import stratified_split

PAPER, INK = 232, 40  # dark strokes on light paper, as a scan or a phone photo of a drawing looks


def shape(side: int, rng: np.random.Generator, centre: tuple[float, float] | None = None,
          radius: float | None = None) -> np.ndarray:
    """A float mask (side, side) of one drawn outline: a ring or a square, stroke ~2 px, at a random place and size
    (or the given ones)."""
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float64)
    r = radius if radius is not None else rng.uniform(0.22, 0.34) * side
    cy, cx = centre if centre is not None else rng.uniform(r + 5, side - r - 5, 2)  # a margin of paper
    if rng.random() < 0.5:
        d = np.abs(np.hypot(yy - cy, xx - cx) - r)
    else:
        d = np.abs(np.maximum(np.abs(yy - cy), np.abs(xx - cx)) - r)
    return np.clip(1.6 - d, 0.0, 1.0)


def on_paper(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """uint8 dark ink on light, slightly noisy paper."""
    paper = PAPER - (PAPER - INK) * np.clip(ink, 0, 1) + rng.normal(0, 2, ink.shape)
    return np.clip(paper, 0, 255).astype(np.uint8)


def draw_folder(folder: Path, n: int, side: int, seed: int = 0) -> list[Path]:
    """`n` PNGs of one drawn shape each, side x side, in `folder` (flat: unlabelled); their paths, sorted."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    for i in range(n):
        Image.fromarray(on_paper(shape(side, rng), rng)).save(folder / f"{i:03d}.png")
    return sorted(folder.glob("*.png"))


def training_files(files: list[Path]) -> list[Path]:
    """The files of an unlabelled folder that the run trained on (the fixed 85/15 split of `load_folder`)."""
    train, _ = stratified_split(None, len(files))
    return [files[i] for i in train]


def detect_json(run: Path, paths: list[Path], capsys, *extra: str) -> tuple[int, list[dict], str]:
    code = main(["detect", str(run), *map(str, paths), "--json", *extra])
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines()], err


@pytest.fixture(scope="module")
def framed_run(tmp_path_factory) -> tuple[Path, list[Path], Path]:
    """(folder, its files, run): 60 drawn 40x40 shapes trained on as the tutorial trains, --grayscale --image-size
    28x28 (framed like MNIST's digits), one epoch."""
    root = tmp_path_factory.mktemp("own")
    files = draw_folder(root / "shapes", 60, 40)
    run = root / "run"
    assert main(["train", "mnist-simple", "--dataset", str(root / "shapes"), "--grayscale", "--image-size", "28x28",
                 "--batch-size", "16", "--epochs", "1", "--quiet", "--out", str(run)]) == 0
    return root / "shapes", files, run


def test_a_run_accepts_its_own_training_files_with_one_score_from_cli_python_and_the_web(framed_run, capsys):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    import latentlab
    from latentlab.images import read_image
    from latentlab.web import create_app

    folder, files, run_dir = framed_run
    mine = training_files(files)[:4]
    code, cli, _ = detect_json(run_dir, mine, capsys, "--quiet")
    assert code == 0
    assert [r["verdict"] for r in cli] == ["in"] * 4
    # Framed exactly as the training files were (MNIST's 20 of 28 px), not as measured from the framed images.
    assert all("fitted to 20 px" in " ".join(r["steps"]) for r in cli)
    # Python, as the tutorial does it: the data set read with the run's options, a file read at the run's shape.
    run = latentlab.load_run(run_dir)
    data = latentlab.load_dataset(str(folder), progress=False, grayscale=True, image_size="28x28")
    detector = latentlab.NoveltyDetector(run).fit(data.x_train)
    pixels = np.stack([read_image(path, shape=run.model.image_shape).pixels for path in mine])
    assert all(any((p == x).all() for x in data.x_train) for p in pixels)  # the very images it trained on
    python = detector.score_samples(pixels)
    assert (detector.predict(pixels) == 1).all()
    client = TestClient(create_app([run_dir]), base_url="http://127.0.0.1")
    web = [client.post("/api/runs/run/detect", files={"file": (p.name, p.read_bytes())}).json() for p in mine]
    assert [w["member"] for w in web] == [True] * 4
    # Scored in the same batches (the CLI: the four together; the web: one at a time), as float32 matmuls differ in
    # the last bits between batch sizes, which the model's veto, scaled by its small spread here, would magnify.
    one_by_one = [detector.score_samples(p[None])[0] for p in pixels]
    for ours, theirs, py, py_one in zip(cli, web, python, one_by_one, strict=True):
        assert ours["score"] == pytest.approx(py, rel=1e-6) and theirs["score"] == pytest.approx(py_one, rel=1e-6)
        assert ours["score"] == pytest.approx(theirs["score"], abs=0.02)
        assert ours["threshold"] == pytest.approx(detector.offset_, rel=1e-9) == theirs["threshold"]
        assert ours["steps"] == theirs["steps"]


def test_neighbours_are_named_by_class_alike_in_the_cli_the_web_and_python(tmp_path, capsys):
    # --json gave class numbers only ("label": 3); the names the run knows come beside them, the same everywhere.
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    import latentlab
    from latentlab.analysis.novelty import fitted_labels
    from latentlab.images import read_image
    from latentlab.web import create_app

    x, y = make_images(400, seed=4)
    folder = tmp_path / "bars"
    for k in (1, 4, 7):  # three classes, named by their folders
        (folder / f"bar {k}").mkdir(parents=True)
        for i in np.flatnonzero(y == k)[:30]:
            Image.fromarray(x[i]).save(folder / f"bar {k}" / f"{i}.png")
    run_dir = tmp_path / "run"
    assert main(["train", "mnist-simple", "--dataset", str(folder), "--no-auto", "--epochs", "1", "--quiet",
                 "--out", str(run_dir)]) == 0
    capsys.readouterr()
    asked = next((folder / "bar 4").iterdir())
    code, cli, _ = detect_json(run_dir, [asked], capsys, "--quiet", "--no-auto")
    assert code == 0
    cli_near = cli[0]["explanation"]["neighbours"]
    client = TestClient(create_app([run_dir]), base_url="http://127.0.0.1")
    web = client.post("/api/runs/run/detect?auto=false", files={"file": (asked.name, asked.read_bytes())}).json()
    run = latentlab.load_run(run_dir)
    data = latentlab.load_dataset(str(folder), progress=False, auto=False)
    assert data.classes == ("bar 1", "bar 4", "bar 7")
    detector = latentlab.NoveltyDetector(run).fit(data.x_train)
    pixels = read_image(asked, shape=run.model.image_shape, auto=False).pixels[None]
    py_near = detector.explain(pixels, labels=fitted_labels(detector, data), classes=data.classes)[0].neighbours
    expected = [data.classes[data.y_train[i]] for i in py_near["pixel-knn"]["index"]]
    assert len(expected) == 5 and expected[0] == "bar 4"  # its own class's images are the nearest
    assert py_near["pixel-knn"]["label_name"] == expected
    assert cli_near["pixel-knn"]["label_name"] == expected and cli_near["pixel-knn"]["label"] == [
        data.classes.index(name) for name in expected]
    assert [n["label_name"] for n in web["explanation"]["neighbours"]] == expected
    assert [n["label"] for n in web["explanation"]["neighbours"]] == cli_near["pixel-knn"]["label"]
    assert cli_near["hyperplane"]["label_name"] == py_near["hyperplane"]["label_name"]
    assert detector.explain(pixels)[0].neighbours["pixel-knn"]["label_name"] is None  # no labels: no names


def test_sixty_images_fit_the_default_detector_and_detect_warns_how_few(framed_run, capsys):
    _, files, run_dir = framed_run
    code, cli, err = detect_json(run_dir, training_files(files)[:1], capsys)
    assert code == 0 and cli[0]["verdict"] == "in"
    # 60 files, 9 held out as the test split: the detector is fitted on the 51 others, each scored leave-one-out.
    assert ("latentlab detect: warning: the combined detector's threshold is the 5% quantile of only 51 training "
            "images' scores (each scored leave-one-out against the others), so it is unreliable; 100 or more images "
            "give a reliable one") in err


def test_a_model_score_on_sixty_images_holds_out_twenty_and_says_so(framed_run, capsys):
    _, files, run_dir = framed_run
    code, cli, err = detect_json(run_dir, training_files(files)[:1], capsys, "--score", "recon")
    assert code == 0 and cli[0]["verdict"] in ("in", "out")
    assert ("the recon detector held out 20 of 51 images (39%) to set its threshold on, not holdout=0.2 of them "
            "(10), and kept 31 as references; its threshold is unreliable on so few, and 100 or more images give the "
            "default split") in err


def test_detect_refuses_a_folder_changed_since_training_unless_allowed(tmp_path, capsys):
    files = draw_folder(tmp_path / "shapes", 60, 40, seed=1)
    run = tmp_path / "run"
    assert main(["train", "mnist-simple", "--dataset", str(tmp_path / "shapes"), "--grayscale", "--image-size",
                 "28x28", "--batch-size", "16", "--epochs", "1", "--quiet", "--out", str(run)]) == 0
    capsys.readouterr()
    asked = training_files(files)[:1]
    files[-1].unlink()  # the folder changes after training: one drawing less
    code, _, err = detect_json(run, asked, capsys, "--quiet")
    assert code == 2
    assert f"latentlab detect: error: {run}: its data set has changed since it was trained" in err
    assert "it was trained on shapes, 51 images, images sha256" in err and "now gives shapes, 50 images" in err
    assert "--allow-data-change" in err and "allow_data_change" not in err and not list(run.glob("detector*"))
    code, cli, err = detect_json(run, asked, capsys, "--quiet", "--allow-data-change")
    assert code == 0 and cli[0]["verdict"] in ("in", "out") and (run / "detector.json").is_file()
    # Once saved, the run's detector is used as it is, whatever the folder holds now.
    shutil.rmtree(tmp_path / "shapes")
    draw_folder(tmp_path / "shapes", 60, 40, seed=2)
    code, again, _ = detect_json(run, asked, capsys, "--quiet")
    assert code == 0 and again[0]["threshold"] == cli[0]["threshold"]


@pytest.fixture(scope="module")
def native_run(tmp_path_factory) -> tuple[list[Path], Path]:
    """(files, run): 120 drawn 48x48 shapes, dark on light, trained at their own size and polarity."""
    root = tmp_path_factory.mktemp("native")
    files = draw_folder(root / "shapes", 120, 48, seed=3)
    run = root / "run"
    assert main(["train", "mnist-simple", "--dataset", str(root / "shapes"), "--batch-size", "16", "--epochs", "1",
                 "--quiet", "--out", str(run)]) == 0
    return files, run


def test_at_its_own_size_a_blank_page_and_two_shapes_are_said_and_not_in(native_run, tmp_path, capsys):
    files, run = native_run
    rng = np.random.default_rng(9)
    blank, two = tmp_path / "blank.png", tmp_path / "two.png"
    Image.fromarray(on_paper(np.zeros((48, 48)), rng)).save(blank)
    pair = shape(48, rng, (24, 12), 8) + shape(48, rng, (24, 36), 8)
    Image.fromarray(on_paper(pair, rng)).save(two)
    code, cli, _ = detect_json(run, [blank, two, training_files(files)[0]], capsys, "--quiet")
    assert code == 0
    assert [r["verdict"] for r in cli] == ["blank", "several objects", "in"]
    assert "blank image: nothing stands out from the background" in cli[0]["steps"]
    assert cli[1]["objects"] == 2 and any(s.startswith("2 separate objects") for s in cli[1]["steps"])
    assert not cli[0]["member"] and not cli[1]["member"]
    assert main(["detect", str(run), str(blank), str(two), "--quiet"]) == 0
    table = capsys.readouterr().out
    assert "BLANK (nothing to judge)" in table and "NOT ONE OBJECT (2; crop to one)" in table


def test_interpolate_says_what_it_found_at_each_end_and_refuses_a_blank_one(native_run, tmp_path, capsys):
    files, run = native_run
    rng = np.random.default_rng(9)
    blank, two, one = tmp_path / "blank.png", tmp_path / "two.png", training_files(files)[0]
    Image.fromarray(on_paper(np.zeros((48, 48)), rng)).save(blank)
    Image.fromarray(on_paper(shape(48, rng, (24, 12), 8) + shape(48, rng, (24, 36), 8), rng)).save(two)
    _, said, _ = detect_json(run, [one, two], capsys, "--quiet")
    out = tmp_path / "path.png"
    assert main(["interpolate", str(run), str(one), str(two), "-n", "3", "-o", str(out)]) == 0
    err = capsys.readouterr().err.splitlines()
    # A training file at the run's own size needs nothing done; the pair is said as detect says it.
    assert said[0]["steps"] == [] and said[1]["verdict"] == "several objects"
    assert err == [f"latentlab interpolate: {one}: used as it is",
                   f"latentlab interpolate: {two}: NOT ONE OBJECT (2; crop to one): {'; '.join(said[1]['steps'])}"]
    assert out.is_file()
    out.unlink()
    assert main(["interpolate", str(run), str(one), str(blank), "-o", str(out)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[1] == f"latentlab interpolate: {blank}: blank image: nothing stands out from the background"
    assert err[2] == (f"latentlab interpolate: error: {blank}: nothing stands out from the background, so there is "
                      "no object to start or end the path at (a blank end decodes to the model's idea of an empty "
                      "page); give two images with one object each, drawn as the training images are")
    assert not out.exists()
