"""The `latentlab serve` page end to end, in Debian's headless chromium driven by playwright.

The server runs in a thread on 127.0.0.1 with the tiny runs of test_web.py; every request the page makes is
checked to go to that server and nowhere else, and any JavaScript error fails the test.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not CHROMIUM.exists(),
                                 reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)")]
sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright (pip install -e '.[dev]')")
pytest.importorskip("fastapi")

from latentlab.web.app import create_app, running  # noqa: E402
from test_web import build_runs  # noqa: E402

READY = "body[data-ready='1']"


@pytest.fixture(scope="module")
def server(tmp_path_factory, bars):
    dirs, data = build_runs(tmp_path_factory.mktemp("browser-runs"), bars)
    with running(create_app(dirs, datasets={"bars": data})) as url:
        yield url


class Browser:
    """A fresh chromium profile whose page may only reach `server`; records requests and page errors."""

    def __init__(self, playwright, server: str, profile: Path) -> None:
        self.server, self.offsite, self.errors, self.requests = server, [], [], []
        self.context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), args=ARGS, viewport={"width": 1280, "height": 900},
            bypass_csp=True)  # playwright's own evaluate() would otherwise trip the page's strict CSP
        self.context.set_default_timeout(10_000)
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("request", lambda r: self.requests.append(r.url))

    def _route(self, route) -> None:
        if route.request.url.startswith(self.server + "/"):
            route.continue_()
        else:
            self.offsite.append(route.request.url)
            route.abort()

    def open(self, query: str = "") -> None:
        self.page.goto(f"{self.server}/{query}")
        self.page.wait_for_selector(READY)

    def box(self, selector: str) -> dict:
        """The element's box once it is scrolled into view: the mouse only reaches what is on screen."""
        self.page.locator(selector).scroll_into_view_if_needed()
        return self.page.locator(selector).bounding_box()

    def click_plane(self, fx: float, fy: float) -> None:
        box = self.box("#plane")
        self.page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])

    def decoded(self) -> np.ndarray:
        data = self.page.evaluate("() => Array.from(document.getElementById('decoded').getContext('2d')"
                                  ".getImageData(0, 0, 28, 28).data)")
        return np.array(data, np.uint8).reshape(28, 28, 4)[..., 0]

    def image(self, selector: str) -> np.ndarray:
        """The grey levels of an <img> of the page, at its natural size."""
        data = self.page.evaluate("""s => { const img = document.querySelector(s), c = document.createElement('canvas');
            c.width = img.naturalWidth; c.height = img.naturalHeight;
            const ctx = c.getContext('2d'); ctx.drawImage(img, 0, 0);
            return [c.width, c.height, Array.from(ctx.getImageData(0, 0, c.width, c.height).data)]; }""", selector)
        w, h, px = data
        return np.array(px, np.uint8).reshape(h, w, 4)[..., 0]

    def shown_point(self) -> tuple[float, float]:
        """The plane point of the image shown (set once it is drawn: at once in the page, later from the server)."""
        x, y = self.page.get_attribute("#decoded[data-point]", "data-point").split(",")
        return float(x), float(y)


@contextmanager
def open_browser(url: str, profile: Path) -> Iterator[Browser]:
    with sync_api.sync_playwright() as p:
        b = Browser(p, url, profile)
        try:
            yield b
        finally:
            b.context.close()


@pytest.fixture
def browser(server, tmp_path):
    with open_browser(server, tmp_path / "profile") as b:
        yield b
    assert not b.offsite, f"the page tried to reach other hosts: {b.offsite}"
    assert all(u.startswith((server + "/", "data:", "blob:")) for u in b.requests), b.requests
    assert not b.errors, f"JavaScript errors: {b.errors}"


def server_decode(server: str, run_id: str, x: float, y: float) -> np.ndarray:
    r = httpx.get(f"{server}/api/runs/{run_id}/decode", params={"x": x, "y": y})
    return np.asarray(Image.open(io.BytesIO(r.content)))


def test_clicking_the_plane_decodes_in_the_page(browser, server, tmp_path):
    browser.open("?run=tiny-vae")
    assert "browser" in browser.page.text_content("#decode-mode")
    browser.click_plane(0.25, 0.3)
    first, first_point = browser.decoded(), browser.shown_point()
    first_text = browser.page.text_content("#coords")
    browser.click_plane(0.8, 0.75)
    second, second_point = browser.decoded(), browser.shown_point()
    assert first_point != second_point and browser.page.text_content("#coords") != first_text
    assert np.abs(first.astype(int) - second).max() > 10, "the decoded image did not change"
    # The in-page decoder agrees with the server's to a grey level or two.
    assert np.abs(second.astype(int) - server_decode(server, "tiny-vae", *second_point)).max() <= 2
    browser.page.wait_for_function("document.getElementById('manifold').naturalWidth === 15 * 28")
    browser.page.screenshot(path=tmp_path / "plane.png")
    assert (tmp_path / "plane.png").stat().st_size > 10_000


def test_server_decoding_keeps_one_request_in_flight(browser, server):
    browser.open("?run=tiny-conv")
    assert "server" in browser.page.text_content("#decode-mode")
    open_requests: set = set()
    inflight = {"max": 0, "total": 0}

    def started(request):
        if "/decode?" in request.url:
            open_requests.add(request)
            inflight["total"] += 1
            inflight["max"] = max(inflight["max"], len(open_requests))

    browser.page.on("request", started)
    browser.page.on("requestfinished", lambda r: open_requests.discard(r))
    browser.page.on("requestfailed", lambda r: open_requests.discard(r))
    before = browser.shown_point()
    browser.click_plane(0.2, 0.2)
    browser.page.wait_for_function("p => document.getElementById('decoded').dataset.point !== p",
                                   arg=f"{before[0]},{before[1]}")
    first_point = browser.shown_point()
    box = browser.box("#plane")
    moves = 40
    for k in range(moves):  # sweep across the plane faster than the server answers
        f = 0.2 + 0.6 * k / (moves - 1)
        browser.page.mouse.move(box["x"] + f * box["width"], box["y"] + f * box["height"])
    browser.page.mouse.down()
    browser.page.mouse.up()
    # The last pointer position wins: the image shown settles on it.
    browser.page.wait_for_function(
        "() => { const [x, y] = document.getElementById('decoded').dataset.point.split(',').map(Number);"
        " return document.getElementById('coords').textContent.endsWith(`(${x.toFixed(2)}, ${y.toFixed(2)})`); }")
    assert browser.shown_point() != first_point
    # At most one request per event: the click's move and press, the sweep's moves, the final press. A fast
    # server answers each before the next event comes, so all moves + 3 may be sent; never two at once.
    assert inflight["max"] == 1 and 2 <= inflight["total"] <= moves + 3, inflight
    assert np.abs(browser.decoded().astype(int) - server_decode(server, "tiny-conv", *browser.shown_point())).max() <= 1


def test_drawing_a_stroke_gives_a_verdict(browser):
    browser.open("?run=tiny-vae")
    box = browser.box("#draw")
    page = browser.page
    page.mouse.move(box["x"] + 0.3 * box["width"], box["y"] + 0.2 * box["height"])
    page.mouse.down()
    page.mouse.move(box["x"] + 0.7 * box["width"], box["y"] + 0.8 * box["height"], steps=12)
    page.mouse.up()
    page.wait_for_selector("#verdict[data-state='in'], #verdict[data-state='out']")
    assert "part of the data set" in page.text_content("#verdict").lower()
    assert "threshold" in page.text_content("#verdict")
    seen = browser.image("#try-input")
    assert seen.shape == (28, 28) and (seen > 128).sum() >= 20 and seen[0].max() < 40  # the stroke, white on black
    assert "Position on the latent plane" in page.text_content("#try-position")


def test_uploading_a_png_shows_its_reconstruction(browser, bars, tmp_path):
    paper = 255 - np.kron(bars[2][0], np.ones((4, 4), np.uint8))  # a dark bar on white paper, 112x112
    path = tmp_path / "bar.png"
    Image.fromarray(paper).save(path)
    browser.open("?run=tiny-dae")
    browser.page.set_input_files("#upload", str(path))
    browser.page.wait_for_selector("#try-recon[src^='data:image/png']")
    browser.page.wait_for_selector("#verdict[data-state='in'], #verdict[data-state='out']")
    seen = browser.image("#try-input")
    assert seen.shape == (28, 28) and seen[0].max() < 40 and seen.max() > 200  # inverted to white on black
    assert browser.image("#try-recon").shape == (28, 28)
    assert "projected on (PC1, PC2)" in browser.page.text_content("#try-position")
    browser.page.locator("#panel-try").screenshot(path=tmp_path / "upload.png")
    assert (tmp_path / "upload.png").stat().st_size > 5_000
    # The nearest training images under the verdict, and the map as an overlay switched on and off.
    assert browser.page.locator("#try-neighbours img").count() == 5
    assert "d " in browser.page.text_content("#try-neighbours figcaption")
    plain = browser.page.get_attribute("#try-input", "src")
    browser.page.check("#try-map-toggle")
    overlaid = browser.page.get_attribute("#try-input", "src")
    assert overlaid.startswith("data:image/png") and overlaid != plain
    assert browser.image("#try-input").shape[:2] == (28, 28)
    browser.page.uncheck("#try-map-toggle")
    assert browser.page.get_attribute("#try-input", "src") == plain


def test_run_picker_denoise_and_run_details(browser):
    browser.open()
    page = browser.page
    assert page.is_visible("#run-picker")
    assert page.locator("#run-picker option").count() == 3
    page.select_option("#run-picker", "tiny-dae")
    page.wait_for_function("document.getElementById('run-line').textContent.includes('denoising')")
    page.wait_for_selector(READY)
    assert "principal components" in page.text_content("#plane-note")
    assert "trained to remove gaussian noise" in page.text_content("#denoise-note")
    page.wait_for_function("document.getElementById('index-out').textContent.startsWith('#0')")
    page.click("#next")
    page.wait_for_function("document.getElementById('index-out').textContent.startsWith('#1')")
    page.locator("#noise").fill("0")
    page.wait_for_function("document.getElementById('dn-noisy-cap').textContent.includes('0.00')")
    assert "denoised" in page.text_content("#dn-output-cap")
    assert "val loss" in page.text_content("#metrics") and "mnist-denoise" in page.text_content("#config")
    page.select_option("#run-picker", "tiny-conv")
    page.wait_for_function("document.getElementById('denoise-note').textContent.includes('not trained to denoise')")


# metrics.json as `latentlab evaluate` writes it (trimmed): nested sections, membership rows per score and set.
NESTED_METRICS = {
    "run": "tiny-vae", "dataset": "bars", "is_sample": True, "n_test": 128,
    "model": {"kind": "dense", "variational": True, "latent_dim": 2},
    "reconstruction": {"bce_per_pixel": 0.1823, "mse_per_pixel": 0.0456, "psnr_db": 14.2, "ssim": 0.61},
    "denoising": None,
    "vae": {"elbo": -142.5, "neg_elbo": 142.5, "recon": 137.2, "kl": 5.3, "iwae_log_likelihood": -139.1,
            "iwae_k": 100, "iwae_bits_per_dim": 0.256},
    "latent": {"knn_k": 5, "knn_accuracy": 0.912, "silhouette": 0.33, "silhouette_n": 128},
    "membership": {"other_dataset": "fashion-mnist", "sets": {"fashion-mnist": 128, "uniform noise": 128},
                   "rows": [{"score": s, "ood": o, "auroc": a} for s, o, a in [
                       ("combined", "fashion-mnist", 0.991), ("combined", "uniform noise", 1.0),
                       ("elbo", "fashion-mnist", 0.65), ("elbo", "uniform noise", 0.999)]]},
    "timings_s": {"reconstruction": 0.5, "total": 13.0},
}


def test_run_panel_shows_nested_metrics_as_tables(browser, server):
    def with_metrics(route):  # the tiny runs have no metrics.json: hand the page one
        runs = route.fetch().json()
        route.fulfill(json=[{**r, "metrics": {"source": "metrics.json", "values": NESTED_METRICS}} for r in runs])

    browser.page.route(f"{server}/api/runs", with_metrics)
    browser.open("?run=tiny-vae")
    text = browser.page.text_content("#panel-run")
    assert "[object Object]" not in text
    titles = browser.page.locator("#metrics h4").all_text_contents()
    assert titles[:3] == ["Model", "Reconstruction (test split, per pixel)", "VAE (test split, nats per image)"]
    assert "binary cross-entropy0.1823" in text and "IWAE log-likelihood (k=100)-139.1000" in text
    membership = browser.page.locator("#metrics table").nth(5)
    assert membership.locator("thead th").all_text_contents() == ["out-of-distribution set", "combined", "elbo"]
    assert membership.locator("tbody tr").nth(0).locator("th, td").all_text_contents() == [
        "fashion-mnist", "0.991", "0.650"]
    assert "from metrics.json" in browser.page.text_content("#metrics-source")


# ---- a colour run: 64 wide x 48 tall, a dense 2-D VAE (decoded in the page, in colour) ---------------------------


@pytest.fixture(scope="module")
def colour_server(tmp_path_factory):
    import torch

    from latentlab.config import override
    from latentlab.data import ImageData
    from latentlab.presets import preset_config
    from latentlab.training import train

    rng = np.random.default_rng(0)
    base = np.array([(200, 80, 40), (40, 90, 200)])[np.arange(240) % 2]
    x = np.clip(base[:, None, None] + rng.normal(0, 30, (240, 48, 64, 3)), 0, 255).astype(np.uint8)
    y = np.arange(240) % 2
    data = ImageData("warm-cool", x[:200], y[:200], x[200:], y[200:], ("warm", "cool"), "synthetic colour")
    cfg = override(preset_config("mnist-vae"), {"train.epochs": 2, "model.hidden": [16], "name": "tiny-colour",
                                                "dataset": "warm-cool", "train.batch_size": 16, "train.device": "cpu"})
    root = tmp_path_factory.mktemp("colour-runs")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(cfg, data.x_train, data.x_test, root / "tiny-colour", quiet=True,
              meta={"dataset": "warm-cool", "classes": ["warm", "cool"]})
    finally:
        torch.set_num_threads(threads)
    with running(create_app([root / "tiny-colour"], datasets={"warm-cool": data})) as url:
        yield url


@pytest.fixture
def colour_browser(colour_server, tmp_path):
    with open_browser(colour_server, tmp_path / "profile") as b:
        yield b
    assert not b.offsite and not b.errors, (b.offsite, b.errors)


def test_a_colour_run_decodes_in_colour_and_takes_uploads_at_its_shape(colour_browser, colour_server, tmp_path):
    browser, page = colour_browser, colour_browser.page
    browser.open()
    assert not page.is_visible("#draw") and "48x64 pixels (height x width" in page.text_content("#try-hint")
    assert "in your browser" in page.text_content("#decode-mode")
    width, height, rgba = page.evaluate("""() => { const c = document.getElementById('decoded');
        return [c.width, c.height, Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)]; }""")
    shown = np.array(rgba, np.uint8).reshape(height, width, 4)[..., :3]
    assert (width, height) == (64, 48)
    served = server_decode(colour_server, "tiny-colour", *browser.shown_point())
    assert served.shape == (48, 64, 3) and np.abs(shown.astype(int) - served).max() <= 1
    photo = np.random.default_rng(1).integers(0, 256, (80, 100, 3), dtype=np.uint8)
    Image.fromarray(photo).save(tmp_path / "photo.png")
    page.set_input_files("#upload", str(tmp_path / "photo.png"))
    page.wait_for_selector("#try-recon[src^='data:image/png']")
    page.wait_for_selector("#verdict[data-state='out']")  # uniform noise is not a warm or cool picture
    assert page.evaluate("() => [document.getElementById('try-input').naturalWidth, "
                         "document.getElementById('try-input').naturalHeight]") == [64, 48]
