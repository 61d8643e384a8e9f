"""Downloads from a real HTTP server on 127.0.0.1 with a dropping, a lying and a good mirror."""

from __future__ import annotations

import dataclasses
import hashlib
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from latentlab.data import DATASETS, DatasetError, DatasetSpec, load_dataset
from latentlab.data import download as dl
from latentlab.data.idx import write_idx


def fake_release(directory: Path, n_train: int = 60, n_test: int = 10) -> DatasetSpec:
    """Write four small gzipped IDX files named like MNIST's and return a spec with their md5s."""
    rng = np.random.default_rng(1)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_labels": (np.arange(n_train) % 10).astype(np.uint8),
        "test_images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_labels": (np.arange(n_test) % 10).astype(np.uint8),
    }
    directory.mkdir(parents=True, exist_ok=True)
    files = {}
    for role, (filename, _) in DATASETS["mnist"].files.items():
        write_idx(directory / filename, arrays[role])
        files[role] = (filename, hashlib.md5((directory / filename).read_bytes()).hexdigest())
    return dataclasses.replace(DATASETS["mnist"], name="fake", files=files, raw_md5={}, mirrors=(), system_dirs=())


class _Handler(BaseHTTPRequestHandler):
    """/good/F serves F, /wrong/F serves other bytes, /drop/F stops half way, /stall/F never sends a body."""

    files: dict[str, bytes] = {}
    hits: list[str] = []

    def do_GET(self):  # noqa: N802 (http.server's naming)
        mode, _, name = self.path.strip("/").partition("/")
        self.hits.append(mode)
        body = self.files.get(name)
        if body is None or mode == "missing":
            self.send_error(404)
            return
        if mode == "wrong":
            body = bytes(reversed(body))
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if mode == "stall":
            time.sleep(1.5)
            return
        self.wfile.write(body[: len(body) // 2] if mode == "drop" else body)
        self.close_connection = True

    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture
def server(tmp_path):
    """Base URL of a server on 127.0.0.1 serving a fake release; shut down when the test ends."""
    spec = fake_release(tmp_path / "release")
    _Handler.files = {name: (tmp_path / "release" / name).read_bytes() for name, _ in spec.files.values()}
    _Handler.hits = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", spec
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("LATENTLAB_DATA", raising=False)
    return tmp_path / "xdg" / "latentlab" / "fake"


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def test_download_moves_past_dropped_and_wrong_mirrors(server, tmp_path):
    base, spec = server
    filename, md5 = spec.files["train_images"]
    mirrors = [f"{base}/drop/", f"{base}/wrong", f"{base}/missing/", f"{base}/good/"]
    path = dl.download(filename, md5, mirrors, tmp_path / "dest", progress=False)
    assert path == tmp_path / "dest" / filename and dl.file_digest(path, "md5") == md5
    assert _Handler.hits == ["drop", "wrong", "missing", "good"]
    assert [p.name for p in (tmp_path / "dest").iterdir()] == [filename]  # no .part leftovers


def test_all_mirrors_bad_leaves_nothing_and_names_each(server, tmp_path):
    base, spec = server
    filename, md5 = spec.files["train_images"]
    mirrors = [f"{base}/drop/", f"{base}/wrong/", closed_port_url()]
    with pytest.raises(DatasetError) as info:
        dl.download(filename, md5, mirrors, tmp_path / "dest", progress=False)
    message = str(info.value)
    assert "closed after" in message and "wrong bytes" in message and message.count(filename) >= 3
    assert list((tmp_path / "dest").iterdir()) == []


def test_stalled_mirror_times_out(server, tmp_path):
    base, spec = server
    filename, md5 = spec.files["test_labels"]
    start = time.monotonic()
    dl.download(filename, md5, [f"{base}/stall/", f"{base}/good/"], tmp_path, progress=False, timeout=0.3)
    assert time.monotonic() - start < 1.4  # gave up on the stalled one well before it would have finished


def test_interrupt_leaves_no_temp_file(server, tmp_path, monkeypatch):
    base, spec = server
    filename, md5 = spec.files["train_images"]

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(dl, "file_digest", interrupt)
    with pytest.raises(KeyboardInterrupt):
        dl.download(filename, md5, [f"{base}/good/"], tmp_path / "dest", progress=False)
    assert list((tmp_path / "dest").iterdir()) == []


def test_load_dataset_downloads_into_cache(server, cache, capsys):
    base, spec = server
    spec = dataclasses.replace(spec, mirrors=(f"{base}/drop/", f"{base}/wrong/", f"{base}/good/"))
    data = load_dataset(spec, progress=True)
    assert data.x_train.shape == (60, 28, 28) and data.x_test.shape == (10, 28, 28)
    assert data.y_train.dtype == np.int64 and data.classes == tuple("0123456789") and not data.is_sample
    assert data.source == f"downloaded into cache {cache}"
    assert f"fake: downloaded into cache {cache}" in capsys.readouterr().err
    cached = sorted(p.name for p in cache.iterdir())
    assert cached == sorted(name for name, _ in spec.files.values())
    assert all(dl.file_digest(cache / name, "md5") == md5 for name, md5 in spec.files.values())

    # Second load: the network is gone, the cache is enough.
    offline = dataclasses.replace(spec, mirrors=(closed_port_url(),))
    again = load_dataset(offline, progress=False)
    assert again.source == f"cache {cache}"
    np.testing.assert_array_equal(again.x_train, data.x_train)


def test_failed_download_leaves_cache_empty_and_one_clear_error(server, cache):
    base, spec = server
    spec = dataclasses.replace(spec, mirrors=(f"{base}/drop/", f"{base}/wrong/", closed_port_url()))
    with pytest.raises(DatasetError) as info:
        load_dataset(spec, progress=False)
    message = str(info.value)
    for option in ("data_dir", "LATENTLAB_DATA", str(cache), "download", "mnist-sample", "fashion-mnist-sample"):
        assert option in message
    assert "\n" not in message
    assert not cache.exists() or list(cache.iterdir()) == []


def test_corrupt_cache_file_is_downloaded_again(server, cache, capsys):
    base, spec = server
    good = dataclasses.replace(spec, mirrors=(f"{base}/good/",))
    load_dataset(good, progress=False)
    victim = cache / spec.files["test_images"][0]
    victim.write_bytes(victim.read_bytes()[:-10])

    with pytest.raises(DatasetError, match="fails its md5 check") as info:
        load_dataset(good, download=False, progress=False)
    assert str(victim) in str(info.value)

    _Handler.hits.clear()
    data = load_dataset(good, progress=True)
    assert data.source == f"downloaded into cache {cache}" and _Handler.hits == ["good"]  # only the bad file
    assert f"{victim}: cached copy fails its md5 check; downloading it again" in capsys.readouterr().err
    assert dl.file_digest(victim, "md5") == spec.files["test_images"][1]


def test_partial_cache_downloads_only_the_rest(server, cache):
    base, spec = server
    cache.mkdir(parents=True)
    name = spec.files["train_images"][0]
    (cache / name).write_bytes(_Handler.files[name])
    data = load_dataset(dataclasses.replace(spec, mirrors=(f"{base}/good/",)), progress=False)
    assert len(data.x_train) == 60 and sorted(_Handler.hits) == ["good"] * 3
