"""`latentlab detect` and the web page run one image pipeline: for the files users send (alpha stored four ways,
dark ink on white, 16-bit, a photo-like JPEG, a strip), they give the same model input, score and verdict."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from latentlab.cli import main  # noqa: E402
from latentlab.config import override  # noqa: E402
from latentlab.data import load_dataset  # noqa: E402
from latentlab.presets import preset_config  # noqa: E402
from latentlab.training import train  # noqa: E402
from latentlab.web import create_app  # noqa: E402


def _files(digit: np.ndarray, root: Path) -> list[Path]:
    """The same real digit stored the ways users store it."""
    ink = Image.fromarray(digit).resize((84, 84), Image.Resampling.LANCZOS)  # light ink, 3x the data's size
    alpha = np.zeros((120, 100), np.uint8)
    # Binary coverage, so that a palette with one transparent entry can hold exactly the same image.
    alpha[10:94, 8:92] = np.where(np.asarray(ink) > 127, 255, 0)
    out = {}
    for name, background in (("alpha-black", 0), ("alpha-white", 255)):
        rgba = np.zeros((120, 100, 4), np.uint8)
        rgba[..., :3] = background
        rgba[..., 3] = alpha  # black ink whose coverage is the digit: the transparent pixels hold `background`
        if background == 0:
            rgba[..., :3] = 0
        out[name] = Image.fromarray(rgba, "RGBA")
    la = np.stack([np.zeros_like(alpha), alpha], -1)
    out["alpha-la"] = Image.fromarray(la, "LA")
    paletted = Image.fromarray(np.where(alpha > 127, 1, 0).astype(np.uint8), "P")
    paletted.putpalette([255, 255, 255, 0, 0, 0])
    paletted.info["transparency"] = 0
    out["alpha-palette"] = paletted
    paper = np.full((120, 100), 255, np.uint8)
    paper[10:94, 8:92] = 255 - np.asarray(ink)
    out["dark-on-white"] = Image.fromarray(paper)
    out["sixteen-bit"] = Image.fromarray((255 - paper).astype(np.uint16) * 257)
    photo = np.full((120, 100), 235, np.uint8)
    photo[2:86, 2:86] = np.minimum(photo[2:86, 2:86], 255 - np.asarray(ink))  # the digit top-left
    out["photo"] = Image.fromarray(photo)
    strip = np.zeros((40, 300), np.uint8)
    strip[4:32, 130:158] = digit
    out["strip"] = Image.fromarray(strip)
    paths = []
    for name, image in out.items():
        path = root / (f"{name}.jpg" if name == "photo" else f"{name}.png")
        image.save(path, quality=95) if name == "photo" else image.save(path)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = load_dataset("mnist-sample", progress=False)
    cfg = override(preset_config("mnist-simple"), {"train.epochs": 1, "dataset": "mnist-sample"})
    run_dir = tmp_path_factory.mktemp("agree") / "run"
    # All of the sample's training images: an in-memory run takes its config's data set only when it trained on it.
    train(cfg, data.x_train, data.x_test[:500], run_dir, quiet=True)
    return run_dir


def test_cli_and_web_give_the_same_input_score_and_verdict(sample_run: Path, tmp_path: Path, capsys) -> None:
    digit = load_dataset("mnist-sample", progress=False).x_test[3]
    paths = _files(digit, tmp_path)
    assert main(["detect", str(sample_run), *map(str, paths), "--json", "--quiet"]) == 0
    cli = {r["path"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    client = TestClient(create_app([sample_run]), base_url="http://127.0.0.1")
    inputs = {}
    for path in paths:
        web = client.post("/api/runs/run/detect", files={"file": (path.name, path.read_bytes())}).json()
        ours = cli[str(path)]
        # One image at a time against eight in a batch: float32 matmuls may differ in the last bits.
        assert web["score"] == pytest.approx(ours["score"], rel=1e-5), path.name
        assert web["member"] == ours["member"] and web["steps"] == ours["steps"], path.name
        png = base64.b64decode(web["input"].split(",", 1)[1])
        inputs[path.stem] = np.asarray(Image.open(io.BytesIO(png)))
    # The four alpha encodings are one image, and so are the dark-on-white and 16-bit copies.
    for name in ("alpha-white", "alpha-la", "alpha-palette"):
        assert np.abs(inputs[name].astype(int) - inputs["alpha-black"]).max() <= 1, name
    assert np.abs(inputs["sixteen-bit"].astype(int) - inputs["dark-on-white"]).max() <= 1
    assert any("inverted" in s for s in cli[str(tmp_path / "dark-on-white.png")]["steps"])


SCHEMA = {"score", "threshold", "decision", "member", "verdict", "verdict_text", "score_name",
          "higher_is_more_typical", "objects", "steps", "source_size"}


def test_cli_json_and_web_api_answer_in_one_schema(sample_run: Path, tmp_path: Path, capsys) -> None:
    # Issue 26: the CLI said "in"/"blank", the web "part of the data set"/"blank image: ...", with other keys.
    digits = load_dataset("mnist-sample", progress=False).x_test[:3]
    row = np.concatenate([np.pad(d, 4) for d in digits], axis=1)
    images = {"digit": 255 - np.pad(np.kron(digits[0], np.ones((2, 2), np.uint8)), 8), "blank": np.zeros((40, 40)),
              "row": 255 - np.kron(row, np.ones((2, 2), np.uint8)), "noise": np.random.default_rng(0).integers(
                  0, 256, (28, 28))}
    client = TestClient(create_app([sample_run]), base_url="http://127.0.0.1")
    verdicts = {}
    for name, pixels in images.items():
        path = tmp_path / f"{name}.png"
        Image.fromarray(pixels.astype(np.uint8)).save(path)
        assert main(["detect", str(sample_run), str(path), "--json", "--quiet"]) == 0
        cli = json.loads(capsys.readouterr().out)
        web = client.post("/api/runs/run/detect", files={"file": (path.name, path.read_bytes())}).json()
        assert set(cli) == SCHEMA | {"path", "explanation"} and set(web) == SCHEMA | {"input", "explanation"}
        shared_cli, shared_web = ({k: d[k] for k in SCHEMA} for d in (cli, web))
        for key in ("score", "decision"):  # the CLI's batch and the web's one image: float32 may differ last bits
            assert shared_web.pop(key) == pytest.approx(shared_cli.pop(key), rel=1e-5, abs=1e-6), name
        assert shared_cli == shared_web, name
        verdicts[name] = (cli["verdict"], cli["verdict_text"])
    assert verdicts["digit"][0] == "in" and verdicts["noise"][0] == "out"
    assert verdicts["blank"] == ("blank", "blank image: nothing stands out from the background, nothing to judge")
    assert verdicts["row"] == ("several objects", "not one object: 3 separate objects; crop to one")


def test_a_row_of_digits_is_not_judged_as_one_digit_by_either(sample_run: Path, tmp_path: Path, capsys,
                                                                monkeypatch) -> None:
    digits = load_dataset("mnist-sample", progress=False).x_test[:3]
    row = np.concatenate([np.pad(np.kron(d, np.ones((3, 3), np.uint8)), 12) for d in digits], axis=1)
    path = tmp_path / "row.png"
    Image.fromarray(255 - row).save(path)
    assert main(["detect", str(sample_run), str(path), "--json", "--quiet"]) == 0
    cli = json.loads(capsys.readouterr().out)
    assert cli["verdict"] == "several objects" and cli["objects"] == 3 and not cli["member"]
    web = TestClient(create_app([sample_run]), base_url="http://127.0.0.1").post("/api/runs/run/detect",
                                                     files={"file": ("row.png", path.read_bytes())}).json()
    assert web["verdict"] == "several objects" and not web["member"]
    assert web["verdict_text"] == cli["verdict_text"] == "not one object: 3 separate objects; crop to one"
    assert web["steps"] == cli["steps"] and web["objects"] == 3
    assert main(["detect", str(sample_run), str(path), "--quiet"]) == 0
    assert "NOT ONE OBJECT (3; crop to one)" in capsys.readouterr().out
    # The explanation's picture says the same verdict: it once said "OUT" here, and "in" for a blank page.
    import latentlab.figures.maps as maps

    titles, drawn = [], maps.explanation_figure
    monkeypatch.setattr(maps, "explanation_figure", lambda *a, **k: titles.append(k["title"]) or drawn(*a, **k))
    blank = tmp_path / "blank.png"
    Image.new("L", (40, 40), 235).save(blank)
    assert main(["detect", str(sample_run), str(path), str(blank), "--quiet", "--explain", str(tmp_path / "x")]) == 0
    assert [t.splitlines()[0] for t in titles] == ["row.png: NOT ONE OBJECT (3; crop to one)",
                                                   "blank.png: BLANK (nothing to judge)"]


def test_cli_web_and_python_give_the_same_neighbours_and_map(sample_run: Path, tmp_path: Path, capsys,
                                                              monkeypatch) -> None:
    from latentlab.analysis.novelty import load_saved_detector
    from latentlab.images import layout_for, read_image
    from latentlab.runs import load_run

    data = load_dataset("mnist-sample", progress=False)
    path = _files(data.x_test[5], tmp_path)[4]  # dark ink on white paper
    out = tmp_path / "explained"
    titles = []
    import latentlab.figures.maps as maps

    drawn = maps.explanation_figure
    monkeypatch.setattr(maps, "explanation_figure", lambda *a, **k: titles.append(k["title"]) or drawn(*a, **k))
    assert main(["detect", str(sample_run), str(path), "--json", "--quiet", "--explain", str(out)]) == 0
    cli = json.loads(capsys.readouterr().out)["explanation"]
    assert (out / f"{path.stem}-explained.png").stat().st_size > 2000
    terms = ", ".join(f"{k} {v:+.2f}" for k, v in cli["contributions"].items())  # the PNG says the verdict and why
    assert titles == [f"{path.name}: {'in (like the training data)' if cli['member'] else 'OUT (novel)'}\nscore "
                      f"{cli['score']:.2f} against threshold {cli['threshold']:.2f} ({terms})"]
    assert "pixel-knn" in terms and "model veto" in terms
    web = TestClient(create_app([sample_run]), base_url="http://127.0.0.1").post("/api/runs/run/detect",
                                                     files={"file": (path.name, path.read_bytes())}).json()
    run = load_run(sample_run)
    pixels = read_image(path, layout=layout_for((1, 28, 28), data.x_train)).pixels
    # The detector detect used: beside the run, or in the user's cache when one for these weights was there first.
    py = load_saved_detector(run).explain(pixels[None], labels=data.y_train)[0].summary()
    near = py["neighbours"]["pixel-knn"]
    assert cli["neighbours"]["pixel-knn"]["index"] == near["index"]
    assert [n["index"] for n in web["explanation"]["neighbours"]] == near["index"]
    assert [n["label"] for n in web["explanation"]["neighbours"]] == near["label"] == [
        int(data.y_train[i]) for i in near["index"]]
    np.testing.assert_allclose([n["distance"] for n in web["explanation"]["neighbours"]], near["distance"], rtol=1e-5)
    for summary in (cli["maps"], web["explanation"]["map_summary"]):
        assert summary["combined"]["peak"] == py["maps"]["combined"]["peak"]
        assert summary["combined"]["in_object"] == pytest.approx(py["maps"]["combined"]["in_object"], abs=1e-5)


def test_json_and_explain_with_no_readable_image_say_so_without_a_traceback(sample_run: Path, tmp_path: Path,
                                                                           capsys) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image")
    out = tmp_path / "explained"
    assert main(["detect", str(sample_run), str(notes), "--json", "--quiet", "--explain", str(out)]) == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out.strip())["path"] == str(notes) and "error" in json.loads(captured.out.strip())
    assert "latentlab detect: error:" in captured.err and not list(out.glob("*.png"))


def test_explain_onto_a_file_is_refused_before_any_work(sample_run: Path, tmp_path: Path, capsys) -> None:
    digit = load_dataset("mnist-sample", progress=False).x_test[3]
    path = _files(digit, tmp_path)[0]
    afile = tmp_path / "afile"
    afile.write_text("mine")
    with pytest.raises(SystemExit) as caught:  # refused by the flag's type, as every output flag (cli.arg_types)
        main(["detect", str(sample_run), str(path), "--explain", str(afile)])
    assert caught.value.code == 2
    assert f"argument --explain: {afile} is a file; give a folder (it is made if missing)" in capsys.readouterr().err
    assert afile.read_text() == "mine"
