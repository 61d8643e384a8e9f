"""The `latentlab serve` API: every endpoint, every error case, concurrency, and the upload preprocessing."""

from __future__ import annotations

import base64
import io
import json
import math
import re
import shutil
import socket
import struct
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("fastapi")
pytest.importorskip("multipart")

from fastapi.testclient import TestClient  # noqa: E402

from latentlab import images  # noqa: E402
from latentlab.analysis.inference import decode_points, embed  # noqa: E402
from latentlab.config import override  # noqa: E402
from latentlab.data import ImageData  # noqa: E402
from latentlab.errors import ImageError as UploadError  # noqa: E402
from latentlab.images import Layout  # noqa: E402
from latentlab.images import decode as open_image  # noqa: E402
from latentlab.presets import preset_config  # noqa: E402
from latentlab.runs import RunError, load_run  # noqa: E402
from latentlab.training import train  # noqa: E402
from latentlab.web import app as web_app  # noqa: E402
from latentlab.web import create_app, discover_runs  # noqa: E402
from latentlab.web import guard as web_guard  # noqa: E402
from latentlab.web.app import running  # noqa: E402
from latentlab.web.routes import image_status  # noqa: E402


def to_model_input(gray, layout=None):
    return images.to_model_input(gray, layout)[0]

CLASSES = tuple(f"bar {k * 18}°" for k in range(10))
TINY = {
    # A 2-D VAE (decoded in the page), a denoising dense AE with an 8-D code (PCA plane) and a 2-D conv AE
    # (decoded by the server): the three paths of the page.
    "tiny-vae": ("mnist-vae", {"model.hidden": [32], "model.latent_dim": 2}),
    "tiny-dae": ("mnist-denoise", {"model.hidden": [32], "model.latent_dim": 8}),
    "tiny-conv": ("mnist-conv", {"model.hidden": [4, 8], "model.latent_dim": 2, "train.epochs": 4, "train.lr": 1e-2}),
}
_built: dict[str, object] = {}


def build_runs(root: Path, bars) -> tuple[list[Path], ImageData]:
    """Train the tiny runs once per session (shared with the browser tests); returns their dirs and data."""
    if "runs" not in _built:
        x_train, y_train, x_test, y_test = bars
        data = ImageData("bars", x_train, y_train, x_test, y_test, CLASSES, "synthetic bars", is_sample=True)
        meta = {"dataset": "bars", "classes": list(CLASSES), "data_source": "synthetic bars", "is_sample": True,
                "n_train": len(x_train), "n_test": len(x_test)}
        dirs = []
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # models this small train fastest on one thread, and a busy machine adds no spin
        try:
            for name, (preset, changes) in TINY.items():
                cfg = override(preset_config(preset), {"train.epochs": 2, **changes, "name": name, "dataset": "bars",
                                                       "train.batch_size": 64, "train.device": "cpu"})
                train(cfg, x_train, x_test, root / name, quiet=True, meta=meta)
                dirs.append(root / name)
        finally:
            torch.set_num_threads(threads)
        _built["runs"] = (dirs, data)
    return _built["runs"]


LOCAL = "http://127.0.0.1"  # the Host the tests' client sends: the server answers only its own names


@pytest.fixture(scope="session")
def web_runs(tmp_path_factory, bars):
    return build_runs(tmp_path_factory.mktemp("web-runs"), bars)


@pytest.fixture(scope="session")
def client(web_runs):
    dirs, data = web_runs
    return TestClient(create_app(dirs, datasets={"bars": data}), base_url=LOCAL)


def png_bytes(array: np.ndarray, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format=fmt, **kw)
    return buf.getvalue()


def from_data_url(url: str) -> np.ndarray:
    assert url.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))


def upload(client, run_id: str, data: bytes, name: str = "x.png", kind: str = "image/png", what: str = "reconstruct"):
    return client.post(f"/api/runs/{run_id}/{what}", files={"file": (name, data, kind)})


def assert_error(r, status: int, *words: str) -> None:
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    assert isinstance(detail, str) and detail
    for w in words:
        assert w in detail, detail


# ---- runs, latent plane, decoding ------------------------------------------------------------------------


def test_runs_lists_each_run_with_config_metrics_and_decoder(client):
    runs = {r["id"]: r for r in client.get("/api/runs").json()}
    assert list(runs) == list(TINY)
    vae, dae, conv = runs["tiny-vae"], runs["tiny-dae"], runs["tiny-conv"]
    assert vae["variational"] and vae["latent_dim"] == 2 and vae["plane"] == "latent" and vae["decoder"] == "browser"
    assert dae["denoising"] and dae["noise"]["kind"] == "gaussian" and dae["plane"] == "pca"
    assert conv["decoder"] == "server" and not conv["denoising"]
    assert vae["classes"] == list(CLASSES) and vae["n_test"] == 128 and vae["dataset"] == "bars"
    assert vae["config"]["model"]["kind"] == "vae"
    assert vae["metrics"]["source"] == "history" and vae["metrics"]["values"]["epochs"] == 2
    assert math.isfinite(vae["metrics"]["values"]["val loss"])


def test_metrics_json_is_preferred_and_non_finite_values_become_null(web_runs, tmp_path):
    dirs, data = web_runs
    run = shutil.copytree(dirs[0], tmp_path / "copy")
    (run / "metrics.json").write_text(json.dumps({"test": {"bce": 0.25, "iwae": float("nan")}}))
    r = TestClient(create_app([run], datasets={"bars": data}), base_url=LOCAL).get("/api/runs").json()[0]
    assert r["metrics"] == {"source": "metrics.json", "values": {"test": {"bce": 0.25, "iwae": None}}}


def test_latent_returns_test_codes_labels_and_plane(client, web_runs):
    _, data = web_runs
    lat = client.get("/api/runs/tiny-vae/latent").json()
    pts = np.array(lat["points"])
    assert pts.shape == (128, 2) and lat["labels"] == data.y_test.tolist() and lat["classes"] == list(CLASSES)
    model = load_run(web_runs[0][0]).model
    np.testing.assert_allclose(pts, embed(model, data.x_test), atol=1e-3)
    (x0, x1), (y0, y1) = lat["x_range"], lat["y_range"]
    inside = (pts[:, 0] >= x0) & (pts[:, 0] <= x1) & (pts[:, 1] >= y0) & (pts[:, 1] <= y1)
    assert inside.mean() > 0.98 and x1 - x0 == pytest.approx(y1 - y0)
    assert lat["plane"] == "latent" and lat["limit"] >= 10


def test_latent_of_an_8d_code_is_a_pca_projection(client):
    lat = client.get("/api/runs/tiny-dae/latent", params={"codes": True}).json()
    codes, pts = np.array(lat["codes"]), np.array(lat["points"])
    assert lat["plane"] == "pca" and codes.shape == (128, 8) and pts.shape == (128, 2)
    mean, axes = np.array(lat["basis"]["mean"]), np.array(lat["basis"]["axes"])
    np.testing.assert_allclose(axes @ axes.T, np.eye(2), atol=1e-4)
    np.testing.assert_allclose((codes - mean) @ axes.T, pts, atol=1e-3)
    assert 0 < lat["explained"][1] <= lat["explained"][0] <= 1


@pytest.mark.parametrize("run_id", list(TINY))
def test_decode_is_a_png_of_the_model_decoding_that_point(client, web_runs, run_id):
    r = client.get(f"/api/runs/{run_id}/decode", params={"x": 0.3, "y": -0.7})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    img = np.asarray(Image.open(io.BytesIO(r.content)))
    assert img.shape == (28, 28) and img.dtype == np.uint8
    run = load_run(web_runs[0][list(TINY).index(run_id)])
    lat = client.get(f"/api/runs/{run_id}/latent").json()
    code = np.array(lat["basis"]["mean"]) + np.array([0.3, -0.7]) @ np.array(lat["basis"]["axes"])
    expected = decode_points(run.model, code[None].astype(np.float32))[0]
    assert np.abs(img / 255.0 - expected).max() <= 1 / 255 + 1e-6


@pytest.mark.parametrize("run_id", ["tiny-vae", "tiny-dae"])
def test_exported_decoder_computes_what_the_server_decodes(client, run_id):
    """The page runs this export in JavaScript: the same maths in NumPy must match /decode."""
    net = client.get(f"/api/runs/{run_id}/decoder").json()
    lat = client.get(f"/api/runs/{run_id}/latent").json()
    h = np.array(lat["basis"]["mean"]) + np.array([-0.4, 0.9]) @ np.array(lat["basis"]["axes"])
    for i, layer in enumerate(net["layers"]):
        w = np.frombuffer(base64.b64decode(layer["weight"]), "<f4").reshape(layer["out"], layer["in"])
        b = np.frombuffer(base64.b64decode(layer["bias"]), "<f4")
        h = w @ h + b
        h = 1 / (1 + np.exp(-h)) if i == len(net["layers"]) - 1 else np.maximum(h, 0)
    served = np.asarray(Image.open(io.BytesIO(client.get(f"/api/runs/{run_id}/decode?x=-0.4&y=0.9").content)))
    assert np.abs(h.reshape(28, 28) - served / 255.0).max() <= 1 / 255 + 1e-5


def test_conv_decoder_is_not_exported(client):
    assert_error(client.get("/api/runs/tiny-conv/decoder"), 404, "convolutional", "/decode")


@pytest.mark.parametrize("query", ["x=11&y=0", "x=0&y=-10.5", "x=nan&y=0", "x=0&y=inf", "x=-Infinity&y=0", "x=abc&y=0",
                                   "x=0", ""])
def test_bad_coordinates_are_422_with_a_message(client, query):
    assert_error(client.get(f"/api/runs/tiny-vae/decode?{query}"), 422)


def test_out_of_plane_message_names_the_limit(client):
    assert_error(client.get("/api/runs/tiny-vae/decode?x=12&y=0"), 422, "x=12", "|x| <= 10")


ENDPOINTS = [("get", "latent"), ("get", "decode?x=0&y=0"), ("get", "decoder"), ("get", "manifold"),
             ("get", "images/0"), ("get", "denoise"), ("post", "reconstruct"), ("post", "detect")]


@pytest.mark.parametrize(("method", "endpoint"), ENDPOINTS)
def test_unknown_run_is_404(client, method, endpoint):
    blank = png_bytes(np.zeros((28, 28), np.uint8))
    kw = {"files": {"file": ("a.png", blank, "image/png")}} if method == "post" else {}
    r = getattr(client, method)(f"/api/runs/no-such-run/{endpoint}", **kw)
    assert_error(r, 404, "no-such-run", "tiny-vae")


@pytest.mark.parametrize("run_id", ["..", "...", "%2e%2e", "..%2F..%2Fetc%2Fpasswd", "tiny-vae%2F..", "%2Fetc%2Fpasswd",
                                    "..%5C..%5Cwindows", "~root", "tiny-vae%00"])
def test_path_like_run_ids_are_404(client, run_id):
    assert client.get(f"/api/runs/{run_id}/latent").status_code == 404
    assert client.get(f"/api/runs/{run_id}/decode?x=0&y=0").status_code == 404


@pytest.mark.parametrize("name", ["..%2Fapp.py", "index.html", "%2e%2e%2fservice.py", "..%2F..%2Fpyproject.toml",
                                  "js/..%2F..%2Fapp.py", "js%2F..%2Fstyle.css", "js/", "js",
                                  "app.js", "js/main.js/", "js/nope.js", "%2Fetc%2Fpasswd", "js%2Fmain.js%00"])
def test_static_files_come_from_a_fixed_list(client, name):
    assert client.get(f"/static/{name}").status_code == 404


# ---- manifold, test images, denoise ---------------------------------------------------------------------------


def test_manifold_is_an_n_by_n_grid_of_decodes(client):
    img = np.asarray(Image.open(io.BytesIO(client.get("/api/runs/tiny-vae/manifold?n=4").content)))
    assert img.shape == (4 * 28, 4 * 28)
    lat = client.get("/api/runs/tiny-vae/latent").json()
    (x0, x1), (y0, y1) = lat["x_range"], lat["y_range"]
    # Tile (row 0, column 3) is the top-right cell: its centre is at high x and high y.
    x, y = x0 + 3.5 * (x1 - x0) / 4, y1 - 0.5 * (y1 - y0) / 4
    tile = np.asarray(Image.open(io.BytesIO(client.get(f"/api/runs/tiny-vae/decode?x={x}&y={y}").content)))
    assert np.abs(img[:28, 3 * 28:].astype(int) - tile).max() <= 1
    assert np.asarray(Image.open(io.BytesIO(client.get("/api/runs/tiny-vae/manifold").content))).shape == (420, 420)


@pytest.mark.parametrize("n", ["1", "31", "x"])
def test_manifold_size_is_checked(client, n):
    assert_error(client.get(f"/api/runs/tiny-vae/manifold?n={n}"), 422, "n")


def test_test_images_and_their_range(client, web_runs):
    _, data = web_runs
    img = np.asarray(Image.open(io.BytesIO(client.get("/api/runs/tiny-vae/images/5").content)))
    np.testing.assert_array_equal(img, data.x_test[5])
    assert_error(client.get("/api/runs/tiny-vae/images/128"), 404, "128", "0..127")
    assert client.get("/api/runs/tiny-vae/images/-1").status_code == 404


def test_denoise_on_a_denoising_run(client, web_runs):
    _, data = web_runs
    d = client.get("/api/runs/tiny-dae/denoise", params={"index": 3, "noise": 0.5, "seed": 1}).json()
    assert d["denoising"] and d["kind"] == "gaussian" and d["label"] == CLASSES[data.y_test[3]]
    clean, noisy, out = (from_data_url(d[k]) for k in ("clean", "noisy", "output"))
    np.testing.assert_array_equal(clean, data.x_test[3])
    assert not np.array_equal(noisy, clean) and out.shape == (28, 28)
    again = client.get("/api/runs/tiny-dae/denoise", params={"index": 3, "noise": 0.5, "seed": 1}).json()
    other = client.get("/api/runs/tiny-dae/denoise", params={"index": 3, "noise": 0.5, "seed": 2}).json()
    assert again["noisy"] == d["noisy"] and other["noisy"] != d["noisy"]
    assert d["mse_noisy"] > 0 and math.isfinite(d["mse_output"])
    quiet = client.get("/api/runs/tiny-dae/denoise", params={"index": 3, "noise": 0}).json()
    assert quiet["noisy"] == quiet["clean"] and quiet["mse_noisy"] == 0


def test_denoise_on_a_plain_run_says_so(client):
    d = client.get("/api/runs/tiny-vae/denoise?index=0&noise=0.3").json()
    assert d["denoising"] is False and d["kind"] == "gaussian"


@pytest.mark.parametrize("query", ["index=128", "index=-1", "noise=1.5", "noise=-0.1", "noise=nan", "seed=-3"])
def test_denoise_arguments_are_checked(client, query):
    assert_error(client.get(f"/api/runs/tiny-dae/denoise?{query}"), 422)


# ---- uploads: reconstruct and detect --------------------------------------------------------------------------


def test_reconstruct_an_uploaded_test_image(client, web_runs):
    _, data = web_runs
    r = upload(client, "tiny-vae", png_bytes(data.x_test[0]))
    assert r.status_code == 200, r.text
    d = r.json()
    seen, recon = from_data_url(d["input"]), from_data_url(d["reconstruction"])
    assert seen.shape == recon.shape == (28, 28)
    assert len(d["position"]) == 2 and len(d["code"]) == 2 and 0 <= d["error"] < 1
    np.testing.assert_array_equal(seen, data.x_test[0])  # a 28x28 image is taken as it is


@pytest.mark.parametrize("how", ["query", "form"])
def test_auto_false_is_taken_from_the_query_or_the_upload_form(client, web_runs, how):
    _, data = web_runs
    paper = png_bytes(255 - np.kron(data.x_test[1], np.ones((4, 4), np.uint8)))  # dark ink on white, 112x112
    files = {"file": ("paper.png", paper, "image/png")}
    url = "/api/runs/tiny-dae/reconstruct" + ("?auto=false" if how == "query" else "")
    r = client.post(url, files=files, data={"auto": "false"} if how == "form" else None)
    assert r.status_code == 200, r.text
    seen = from_data_url(r.json()["input"])
    assert seen[0].max() > 200 and "inverted" not in " ".join(r.json()["steps"])  # still white paper: not inverted
    automatic = from_data_url(upload(client, "tiny-dae", paper).json()["input"])
    assert automatic[0].max() < 40  # the default inverts it


def test_reconstruct_accepts_jpeg_and_inverts_dark_ink_on_paper(client, web_runs):
    _, data = web_runs
    paper = 255 - np.kron(data.x_test[1], np.ones((4, 4), np.uint8))  # 112x112, black bar on white
    d = upload(client, "tiny-dae", png_bytes(paper, "JPEG", quality=90), name="photo.jpg", kind="image/jpeg").json()
    seen = from_data_url(d["input"])
    assert seen[0].max() < 40 and seen[:, 0].max() < 40 and seen.max() > 200  # white strokes, black border
    assert len(d["code"]) == 8


def test_detect_accepts_test_images_and_rejects_noise(client, web_runs):
    _, data = web_runs
    verdicts = [upload(client, "tiny-vae", png_bytes(x), what="detect").json() for x in data.x_test[:10]]
    for v in verdicts:
        assert v["member"] == (v["score"] >= v["threshold"])
        assert v["decision"] == pytest.approx(v["score"] - v["threshold"])
        assert v["verdict"] == ("in" if v["member"] else "out")  # the codes of `latentlab detect --json`
    assert sum(v["member"] for v in verdicts) >= 7
    noise = np.random.default_rng(0).integers(0, 256, (28, 28), dtype=np.uint8)
    v = upload(client, "tiny-vae", png_bytes(noise), what="detect").json()
    assert v["member"] is False and v["verdict"] == "out"
    assert v["verdict_text"] == "not like the training data: not part of the data set"


def test_detect_takes_the_score_as_the_cli_does_and_refuses_unknown_ones(client, web_runs):
    _, data = web_runs
    image = png_bytes(data.x_test[0])
    default = upload(client, "tiny-vae", image, what="detect").json()
    assert default["score_name"] == "combined"
    r = client.post("/api/runs/tiny-vae/detect?score=recon", files={"file": ("x.png", image, "image/png")})
    assert r.status_code == 200, r.text
    assert r.json()["score_name"] == "recon" and r.json()["score"] != default["score"]
    bogus = client.post("/api/runs/tiny-vae/detect?score=bogus", files={"file": ("x.png", image, "image/png")})
    assert_error(bogus, 422, "score='bogus'", "combined", "elbo")
    elbo = client.post("/api/runs/tiny-dae/detect?score=elbo", files={"file": ("x.png", image, "image/png")})
    assert_error(elbo, 422, "score='elbo'")  # a plain autoencoder has no ELBO


def test_uploads_are_checked_by_content_not_name(client, web_runs):
    _, data = web_runs
    assert upload(client, "tiny-vae", png_bytes(data.x_test[0]), name="notes.txt", kind="text/plain").status_code == 200
    assert_error(upload(client, "tiny-vae", b"just some text", name="digit.png"), 415, "PNG")
    tiff = png_bytes(data.x_test[0], "TIFF")
    assert_error(upload(client, "tiny-vae", tiff, name="digit.png"), 415)


@pytest.mark.parametrize("what", ["reconstruct", "detect"])
def test_broken_uploads_are_4xx(client, what):
    good = png_bytes(np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8))
    assert_error(upload(client, "tiny-vae", b"", what=what), 400, "empty")
    assert_error(upload(client, "tiny-vae", good[:len(good) // 2], what=what), 400, "could not be decoded")
    assert_error(client.post(f"/api/runs/tiny-vae/{what}"), 422, "file")


def test_too_large_uploads_are_413(client):
    big = b"\x89PNG" + b"0" * (3 << 20)
    assert_error(upload(client, "tiny-vae", big), 413, "2,097,152")
    just_over = b"\x89PNG" + b"0" * (2 << 20)  # passes the body check, caught at the file
    assert_error(upload(client, "tiny-vae", just_over), 413, "2,097,152")

    def chunks():  # no Content-Length: the limit holds while streaming
        for _ in range(48):
            yield b"0" * (64 << 10)

    r = client.post("/api/runs/tiny-vae/reconstruct", content=chunks(),
                    headers={"content-type": "multipart/form-data; boundary=x"})
    assert_error(r, 413)


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def test_decompression_bombs_are_refused(client):
    bomb = png_bytes(np.zeros((5000, 5000), np.uint8))  # 25 M pixels in a few kB
    assert len(bomb) < 100_000
    assert_error(upload(client, "tiny-vae", bomb), 413, "5000x5000", "4096x4096")
    assert_error(upload(client, "tiny-vae", _png_header_only(60_000, 60_000)), 413)
    assert_error(upload(client, "tiny-vae", _png_header_only(5000, 100)), 413, "100x5000 pixels (height x width)")


def test_bombs_are_refused_before_any_pixel_is_decoded(monkeypatch):
    from PIL import ImageFile

    def no_decoding(self):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(UploadError) as err:
        open_image(png_bytes(np.zeros((4097, 8), np.uint8)))
    assert image_status(err.value) == 413


# ---- preprocessing --------------------------------------------------------------------------------------------


def test_preprocessing_centres_and_scales_like_mnist():
    canvas = np.zeros((280, 280), np.float32)
    canvas[20:120, 200:230] = 1.0  # a tall bar in the top-right corner
    img = to_model_input(canvas, Layout(frame=20, by="mass", centre=(13.5, 13.5)))
    rows, cols = np.nonzero(img > 38)  # the object's core, 15% of the peak, as the layout measures it
    assert rows.max() - rows.min() + 1 in (19, 20, 21)
    ys, xs = np.mgrid[0:28, 0:28]
    mass = img.astype(float)
    assert abs((mass * ys).sum() / mass.sum() - 13.5) < 1 and abs((mass * xs).sum() / mass.sum() - 13.5) < 1


def test_preprocessing_of_blank_and_inverted_images():
    assert not to_model_input(np.ones((50, 50))).any()
    assert not to_model_input(np.zeros((50, 50))).any()
    paper = np.ones((60, 60), np.float32)
    paper[20:40, 28:32] = 0.0
    img = to_model_input(paper)
    assert img[0].max() == 0 and img.max() == 255


def test_transparent_png_keeps_its_strokes():
    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[10:30, 18:22] = (0, 0, 0, 255)  # black ink on a transparent background
    img = to_model_input(open_image(png_bytes(rgba)))
    assert img.max() == 255 and img[0].max() == 0


def test_layout_is_learnt_from_the_data(bars):
    layout = Layout.of(bars[2])
    assert 15 <= layout.frame <= 22  # bars are symmetric: centred by mass and by box alike
    assert abs(layout.centre[0] - 13.5) < 1 and abs(layout.centre[1] - 13.5) < 1
    boxes = np.zeros((50, 28, 28), np.uint8)
    for i, k in enumerate(np.random.default_rng(0).integers(0, 6, 50)):
        boxes[i, 1:27, 1:27] = 60
        boxes[i, 1 + k:10 + k, 3:25] = 255  # a bright band wandering inside a fixed box
    assert Layout.of(boxes) == Layout(frame=26, by="box", centre=(13.5, 13.5))
    assert Layout.of(np.zeros((3, 28, 28), np.uint8)) == Layout()


def test_large_images_are_laid_out_like_the_data(bars):
    layout = Layout.of(bars[2])
    for img in bars[2][:20]:
        big = np.kron(img, np.ones((5, 5))) / 255.0
        assert np.abs(to_model_input(big, layout).astype(int) - img).mean() < 16


# ---- page, OpenAPI, concurrency, run discovery -----------------------------------------------------------------


def test_page_and_its_files_load_nothing_from_elsewhere(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert '<script type="module" src="/static/js/main.js">' in page.text
    modules = [name for name in web_app.PAGE_FILES if name.startswith("js/")]
    assert "js/main.js" in modules and len(modules) >= 5
    texts = [page.text]
    for name in ["style.css", *modules]:
        r = client.get(f"/static/{name}")
        kind = "css" if name.endswith(".css") else "text/javascript"  # modules need a JavaScript MIME type
        assert r.status_code == 200 and kind in r.headers["content-type"], name
        texts.append(r.text)
        # Every module a module imports is served too.
        for imported in re.findall(r'^import .*? from "\./([\w-]+\.js)";$', r.text, re.MULTILINE):
            assert f"js/{imported}" in web_app.PAGE_FILES, f"{name} imports {imported}, which is not served"
    for text in texts:
        assert "http://" not in text and "https://" not in text and "@import" not in text and "url(" not in text
    for link in re.findall(r'(?:href|src)="(/[^"]*)"', page.text):  # no link of the page leads to a 404
        assert client.get(link).status_code == 200, link


def test_openapi_describes_the_api(client):
    paths = client.get("/openapi.json").json()["paths"]
    for p in ["/api/runs", "/api/runs/{run_id}/latent", "/api/runs/{run_id}/decode", "/api/runs/{run_id}/decoder",
              "/api/runs/{run_id}/manifold", "/api/runs/{run_id}/images/{index}", "/api/runs/{run_id}/denoise",
              "/api/runs/{run_id}/reconstruct", "/api/runs/{run_id}/detect"]:
        assert p in paths
    assert "multipart/form-data" in paths["/api/runs/{run_id}/detect"]["post"]["requestBody"]["content"]
    assert client.get("/docs").status_code == 404  # its Swagger UI would come from a CDN


def test_concurrent_requests_on_a_live_server_agree_with_serial_ones(web_runs):
    dirs, data = web_runs
    app = create_app(dirs, datasets={"bars": data})
    points = [(round(float(x), 3), round(float(y), 3)) for x, y in np.random.default_rng(1).uniform(-2, 2, (24, 2))]
    uploads = [png_bytes(x) for x in data.x_test[:8]]
    with running(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        def decode(job):
            run_id, (x, y) = job
            return http.get(f"/api/runs/{run_id}/decode", params={"x": x, "y": y}).content

        def recon(job):
            run_id, body = job
            return http.post(f"/api/runs/{run_id}/reconstruct", files={"file": ("a.png", body, "image/png")}).json()

        def detect(body):
            return http.post("/api/runs/tiny-vae/detect", files={"file": ("a.png", body, "image/png")}).json()["score"]

        jobs = [(run_id, p) for run_id in TINY for p in points]
        serial = [decode(j) for j in jobs]
        serial_recon = [recon(("tiny-conv", b))["reconstruction"] for b in uploads]
        serial_scores = [detect(b) for b in uploads]
        with ThreadPoolExecutor(max_workers=12) as pool:
            parallel = pool.map(decode, jobs)
            parallel_recon = pool.map(recon, [("tiny-conv", b) for b in uploads])
            parallel_scores = pool.map(detect, uploads)
            denoised = list(pool.map(lambda i: http.get("/api/runs/tiny-dae/denoise", params={"index": i}).status_code,
                                     range(16)))
            assert list(parallel) == serial
            assert [r["reconstruction"] for r in parallel_recon] == serial_recon
            assert list(parallel_scores) == serial_scores
        assert denoised == [200] * 16
        assert threading.active_count() < 100


def test_a_busy_membership_check_does_not_hold_up_decoding(web_runs):
    dirs, data = web_runs
    app = create_app(dirs, datasets={"bars": data})
    service = app.state.services["tiny-vae"]
    client, answers = TestClient(app, base_url=LOCAL), []
    asker = threading.Thread(target=lambda: answers.append(client.get("/api/runs/tiny-vae/decode?x=0&y=0")),
                             daemon=True)
    with service._detector_lock:  # as while a detector is being fitted
        asker.start()
        asker.join(timeout=20)
        assert answers and answers[0].status_code == 200, "decoding waited for the membership check"


def test_discover_runs_prefers_the_first_root_with_runs(web_runs, tmp_path):
    dirs, _ = web_runs
    shutil.copytree(dirs[0], tmp_path / "runs" / "group" / "a")
    (tmp_path / "runs" / "empty").mkdir()
    (tmp_path / "runs" / "half").mkdir()
    (tmp_path / "runs" / "half" / "meta.json").write_text("{}")
    shutil.copytree(dirs[1], tmp_path / "report" / "runs" / "b")
    assert discover_runs([tmp_path / "runs", tmp_path / "report" / "runs"]) == [tmp_path / "runs" / "group" / "a"]
    assert discover_runs([tmp_path / "missing", tmp_path / "report" / "runs"]) == [tmp_path / "report" / "runs" / "b"]
    assert discover_runs([tmp_path / "missing"]) == []


def test_bad_run_sets_are_refused_with_a_message(tmp_path):
    with pytest.raises(RunError, match="no runs to serve"):
        create_app([])
    with pytest.raises(RunError, match="not a directory"):
        create_app([tmp_path / "nope"])


def test_same_named_runs_get_distinct_ids(web_runs, tmp_path):
    dirs, data = web_runs
    a = shutil.copytree(dirs[0], tmp_path / "a" / "tiny-vae")
    b = shutil.copytree(dirs[0], tmp_path / "b" / "tiny-vae")
    app = create_app([a, b], datasets={"bars": data})
    ids = [r["id"] for r in TestClient(app, base_url=LOCAL).get("/api/runs").json()]
    assert ids == ["tiny-vae", "tiny-vae-2"]


def test_a_run_whose_data_set_is_missing_is_still_served(web_runs, tmp_path):
    dirs, _ = web_runs
    run = shutil.copytree(dirs[0], tmp_path / "lonely", ignore=shutil.ignore_patterns("detector*"))
    # "bars" is no dataset name or path: the test set cannot be loaded.
    c = TestClient(create_app([run]), base_url=LOCAL)
    info = c.get("/api/runs").json()[0]
    assert info["n_test"] == 0 and "could not be loaded" in info["data_error"]
    lat = c.get("/api/runs/lonely/latent").json()
    assert lat["points"] == [] and lat["x_range"][0] == -lat["x_range"][1] <= -3
    assert c.get("/api/runs/lonely/decode?x=1&y=1").status_code == 200
    assert c.get("/api/runs/lonely/manifold?n=3").status_code == 200
    assert upload(c, "lonely", png_bytes(np.zeros((28, 28), np.uint8))).status_code == 200
    assert_error(upload(c, "lonely", png_bytes(np.zeros((28, 28), np.uint8)), what="detect"), 503, "no saved detector")
    assert_error(c.get("/api/runs/lonely/denoise"), 422, "0 test images")


def test_serve_prints_the_url_and_runs_uvicorn(web_runs, monkeypatch, capsys):
    import uvicorn

    dirs, _ = web_runs
    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, host, port, **kw: seen.update(app=app, host=host, port=port))
    monkeypatch.setattr(web_app, "_warm", lambda service: None)
    web_app.serve(dirs[:1], host="127.0.0.1", port=8123)
    assert seen["host"] == "127.0.0.1" and seen["port"] == 8123
    assert "http://127.0.0.1:8123/" in capsys.readouterr().out


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "127.0.0.1.evil.example", "10.0.0.5:8000",
                                  ""])
def test_a_foreign_host_header_is_refused_everywhere(client, host):
    for path in ("/api/runs", "/api/runs/tiny-vae/images/0", "/", "/static/style.css"):
        r = client.get(path, headers={"host": host})
        assert r.status_code == 400, (path, host)
        assert "--allow-host" in r.json()["detail"] and "tiny-vae" not in r.text
        assert r.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.1:8000", "localhost:8000", "LOCALHOST", "[::1]:8000"])
def test_this_machines_names_are_answered(client, host):
    assert client.get("/api/runs", headers={"host": host}).status_code == 200


def test_hosts_the_user_adds_are_answered_and_a_wildcard_answers_any(web_runs):
    dirs, data = web_runs
    app = create_app(dirs, datasets={"bars": data}, hosts=web_guard.served_hosts("127.0.0.1", ["box.lan"]))
    c = TestClient(app, base_url=LOCAL)
    assert c.get("/api/runs", headers={"host": "box.lan:8000"}).status_code == 200
    assert c.get("/api/runs", headers={"host": "other.lan"}).status_code == 400
    c = TestClient(create_app(dirs, datasets={"bars": data}, hosts=["*"]), base_url=LOCAL)
    assert c.get("/api/runs", headers={"host": "anything.example"}).status_code == 200
    everywhere = web_guard.served_hosts("0.0.0.0")
    assert {"127.0.0.1", "localhost", "0.0.0.0", socket.gethostname().lower()} <= everywhere


def test_api_requests_from_other_sites_are_refused_but_the_page_opens(client):
    own = {"origin": "http://127.0.0.1", "sec-fetch-site": "same-origin"}
    assert client.get("/api/runs", headers=own).status_code == 200
    assert client.get("/api/runs", headers={"sec-fetch-site": "none"}).status_code == 200  # typed in the bar
    for headers in ({"origin": "http://evil.example"}, {"origin": "http://127.0.0.1:9999"},
                    {"sec-fetch-site": "cross-site"}, {"sec-fetch-site": "same-site"}, {"origin": "null"}):
        r = client.get("/api/runs", headers=headers)
        assert r.status_code == 403, headers
        assert "tiny-vae" not in r.text
        r = client.post("/api/runs/tiny-vae/detect", headers=headers,
                        files={"file": ("a.png", b"not read", "image/png")})
        assert r.status_code == 403, headers
    # A link from another site may open the page itself: it holds no data until its own scripts ask.
    assert client.get("/", headers={"sec-fetch-site": "cross-site"}).status_code == 200


def test_a_live_server_refuses_a_rebound_host(web_runs):
    dirs, data = web_runs
    with running(create_app(dirs, datasets={"bars": data})) as url, httpx.Client(base_url=url, timeout=30) as http:
        assert http.get("/api/runs").status_code == 200
        r = http.get("/api/runs", headers={"host": "attacker.example"})
        assert r.status_code == 400 and "attacker.example" in r.json()["detail"]
