"""CIFAR-10's binary version: the registry entry as published, the reader against records written here by hand in the
published layout, and the resolution order (data dir, cache, download) against a real HTTP server on 127.0.0.1
serving a tiny archive in the real format, its md5 patched into a test registry entry."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from latentlab.data import ARCHIVES, DatasetError, dataset_names, load_dataset
from latentlab.data import download as dl
from latentlab.data.archive import parse_records, write_archive, write_records

SPEC = ARCHIVES["cifar10"]
PER_BATCH = 20


def _records(rng: np.random.Generator, n: int) -> tuple[bytes, np.ndarray, np.ndarray]:
    """`n` records laid out as the CIFAR-10 page says: 1 label byte, then 1024 red, 1024 green, 1024 blue bytes,
    each channel row-major 32x32. Written by hand, not by the reader's own writer."""
    images = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    out = bytearray()
    for image, label in zip(images, labels, strict=True):
        out.append(int(label))
        for channel in range(3):
            out += image[:, :, channel].tobytes()  # row-major: row 0 left to right, then row 1, ...
    return bytes(out), images, labels


def fake_cifar(directory: Path, extra: dict[str, bytes] | None = None) -> tuple[Path, dict]:
    """A cifar-10-binary.tar.gz of 20 records per batch (and `extra` members) and what it holds."""
    rng = np.random.default_rng(7)
    members, truth = {}, {"train": [], "test": []}
    for name in (*SPEC.train_members, *SPEC.test_members):
        data, images, labels = _records(rng, PER_BATCH)
        members[name] = data
        truth["test" if name == "test_batch.bin" else "train"].append((images, labels))
    members["batches.meta.txt"] = "\n".join(SPEC.classes).encode()
    members.update(extra or {})
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / SPEC.archive[0]
    write_archive(path, SPEC, members)
    return path, {k: (np.concatenate([x for x, _ in v]), np.concatenate([y for _, y in v])) for k, v in truth.items()}


class _Handler(BaseHTTPRequestHandler):
    """/good/F serves F, /wrong/F other bytes, /drop/F half of it."""

    body: bytes = b""
    hits: list[str] = []

    def do_GET(self):  # noqa: N802 (http.server's naming)
        mode = self.path.strip("/").split("/")[0]
        self.hits.append(mode)
        body = bytes(reversed(self.body)) if mode == "wrong" else self.body
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2] if mode == "drop" else body)
        self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture
def served(tmp_path, monkeypatch):
    """(a registry entry pointing at mirrors on 127.0.0.1 with the archive's md5, the truth, the cache folder)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("LATENTLAB_DATA", raising=False)
    path, truth = fake_cifar(tmp_path / "release")
    _Handler.body, _Handler.hits = path.read_bytes(), []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    spec = dataclasses.replace(SPEC, archive=(SPEC.archive[0], hashlib.md5(_Handler.body).hexdigest()),
                               mirrors=(f"{base}/drop/", f"{base}/wrong/", f"{base}/good/"))
    yield spec, truth, tmp_path / "xdg" / "latentlab" / "cifar10"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def test_registry_entry_is_the_published_binary_version():
    assert SPEC.archive == ("cifar-10-binary.tar.gz", "c32a1d4ab5d03f1284b67883e8d87530")
    assert SPEC.classes == ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
    assert SPEC.mirrors[0] == "https://www.cs.toronto.edu/~kriz/" and len(SPEC.mirrors) >= 2
    assert SPEC.record_bytes == 3073 and SPEC.image_shape == (3, 32, 32) and "cifar10" in dataset_names()


def test_reader_follows_the_published_layout():
    data, images, labels = _records(np.random.default_rng(0), 3)
    x, y = parse_records(data, SPEC, "here")
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, labels)
    assert data[1:1025] == images[0, :, :, 0].tobytes()  # the red plane comes first, row-major
    assert write_records(images, labels) == data
    with pytest.raises(DatasetError, match="not a whole number of 3,073-byte records"):
        parse_records(data[:-1], SPEC, "here")
    with pytest.raises(DatasetError, match="labels range"):
        parse_records(b"\x0b" + data[1:], SPEC, "here")


def test_download_through_bad_mirrors_then_the_cache(served, capsys):
    spec, truth, cache = served
    data = load_dataset(spec, progress=True)
    assert _Handler.hits == ["drop", "wrong", "good"]
    assert data.image_shape == (3, 32, 32) and data.x_train.shape == (100, 32, 32, 3)
    np.testing.assert_array_equal(data.x_train, truth["train"][0])
    np.testing.assert_array_equal(data.y_test, truth["test"][1])
    assert data.classes == SPEC.classes and data.source == f"downloaded into cache {cache}"
    assert [p.name for p in cache.iterdir()] == [SPEC.archive[0]]  # atomic: no .part left
    assert dl.file_digest(cache / SPEC.archive[0], "md5") == spec.archive[1]
    offline = dataclasses.replace(spec, mirrors=("http://127.0.0.1:9/",))
    again = load_dataset(offline, progress=False)
    assert again.source == f"cache {cache}" and np.array_equal(again.x_test, data.x_test)


def test_a_corrupt_cache_is_downloaded_again_and_offline_says_so(served, capsys):
    spec, _, cache = served
    load_dataset(spec, progress=False)
    archive = cache / SPEC.archive[0]
    archive.write_bytes(archive.read_bytes()[:-100])
    with pytest.raises(DatasetError, match="fails its md5 check.*options:.*photo-tiles"):
        load_dataset(spec, download=False, progress=False)
    _Handler.hits.clear()
    assert len(load_dataset(spec, progress=True).x_train) == 100 and _Handler.hits[-1] == "good"
    assert "cached copy fails its md5 check; downloading it again" in capsys.readouterr().err


def test_data_dir_archive_or_unpacked_folder_is_used_first(served, tmp_path):
    spec, truth, _ = served
    fake_cifar(tmp_path / "mine" / "cifar10")
    data = load_dataset(spec, data_dir=tmp_path / "mine", progress=False)
    assert data.source == f"data dir {tmp_path / 'mine' / 'cifar10' / SPEC.archive[0]}" and _Handler.hits == []
    unpacked = tmp_path / "unpacked" / SPEC.folder
    with tarfile.open(tmp_path / "mine" / "cifar10" / SPEC.archive[0]) as tar:
        for member in tar:
            (unpacked / Path(member.name).name).parent.mkdir(parents=True, exist_ok=True)
            (unpacked / Path(member.name).name).write_bytes(tar.extractfile(member).read())
    folder = load_dataset(spec, data_dir=tmp_path / "unpacked", progress=False)
    np.testing.assert_array_equal(folder.x_train, truth["train"][0])
    (unpacked / "data_batch_3.bin").unlink()
    with pytest.raises(DatasetError, match="lacks data_batch_3.bin"):
        load_dataset(spec, data_dir=tmp_path / "unpacked", progress=False)


def _hostile(path: Path, good: Path) -> None:
    """The good archive plus members that try to escape, and a link where a batch should be."""
    with tarfile.open(good) as src, tarfile.open(path, "w:gz") as tar:
        for member in src:
            if not member.name.endswith("data_batch_2.bin"):
                tar.addfile(member, src.extractfile(member))
        for name in ("../escaped.txt", "/tmp/latentlab-escaped.txt"):
            info = tarfile.TarInfo(name)
            info.size = 4
            tar.addfile(info, io.BytesIO(b"evil"))
        link = tarfile.TarInfo(f"{SPEC.folder}/data_batch_2.bin")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)


def test_members_that_escape_or_link_never_reach_the_file_system(tmp_path):
    good, _ = fake_cifar(tmp_path / "good")
    (tmp_path / "data" / "cifar10").mkdir(parents=True)
    _hostile(tmp_path / "data" / "cifar10" / SPEC.archive[0], good)
    with pytest.raises(DatasetError, match="data_batch_2.bin is not a regular file"):
        load_dataset("cifar10", data_dir=tmp_path / "data", progress=False)
    assert not (tmp_path / "data" / "escaped.txt").exists() and not Path("/tmp/latentlab-escaped.txt").exists()
    assert sorted(p.name for p in (tmp_path / "data" / "cifar10").iterdir()) == [SPEC.archive[0]]
