"""Data sets published as one archive of fixed-size binary records: CIFAR-10's binary version (`ArchiveSpec`).

Looked for in the order of `latentlab.data.resolve`: the data dir (``data_dir/<name>/`` or ``data_dir``: the archive,
its unpacked folder, or the .bin members themselves; the user's own copy, so not checksummed but strictly checked),
the cache (the archive, md5-verified), system copies, then a download from the mirrors into the cache (atomic and
md5-verified, `latentlab.data.download`). An archive is read in one pass and only its expected members that are
regular files are read; nothing is extracted, so no member name (``../x``, an absolute path, a link) ever reaches the
file system.
"""

from __future__ import annotations

import io
import tarfile
import zlib
from pathlib import Path

import numpy as np

from latentlab.data import download as dl
from latentlab.data.base import ImageData, check_labels, image_data
from latentlab.data.places import cache_dir, default_data_dir
from latentlab.data.registry import SAMPLES, ArchiveSpec
from latentlab.errors import DatasetError
from latentlab.files import file_digest
from latentlab.progress import say

FIX = "delete it and download again, or pass data_dir (or set LATENTLAB_DATA) pointing at a good copy"


def load_archive(spec: ArchiveSpec, data_dir: str | Path | None, download: bool, progress: bool) -> ImageData:
    """The data set of `spec` from the first place that has it (see the module doc); DatasetError when none does."""
    root = default_data_dir(data_dir)
    skipped = ""
    if root is not None:
        found = find_in(spec, root)
        if found is not None:
            return read_set(spec, found, f"data dir {found}")
        skipped = f"; data dir {root} skipped: no {spec.archive[0]} or {spec.folder}/ in it or in {spec.name}/"
    cached = cache_dir(spec.name) / spec.archive[0]
    bad = ""
    if cached.is_file():
        if file_digest(cached, "md5") == spec.archive[1]:
            return read_set(spec, cached, f"cache {cached.parent}{skipped}")
        bad = f"cached {cached} fails its md5 check"
        say(progress, f"{cached}: cached copy fails its md5 check" + ("; downloading it again" * download))
    for directory in map(Path, spec.system_dirs):
        path = directory / spec.archive[0]
        if path.is_file() and file_digest(path, "md5") == spec.archive[1]:
            return read_set(spec, path, f"system copy {directory}{skipped}")
    if not download:
        raise _not_found(spec, root, (bad or "downloading is off") + skipped)
    try:
        path = dl.download(spec.archive[0], spec.archive[1], spec.mirrors, cached.parent, progress=progress)
    except DatasetError as exc:
        raise _not_found(spec, root, str(exc) + skipped) from exc
    return read_set(spec, path, f"downloaded into cache {cached.parent}{skipped}")


def find_in(spec: ArchiveSpec, root: Path) -> Path | None:
    """The archive (gzipped or not) or a folder of the members in ``root/<name>/`` or ``root``, else None."""
    name = spec.archive[0]
    for directory in (root / spec.name, root):
        for candidate in (directory / name, directory / name.removesuffix(".gz"), directory / spec.folder,
                          directory):
            if candidate.is_file() or (candidate.is_dir() and (candidate / spec.test_members[0]).is_file()):
                return candidate
    return None


def read_set(spec: ArchiveSpec, path: Path, source: str) -> ImageData:
    """Read the train and test members of `spec` from an archive or a folder at `path`."""
    members = _members_of_folder(spec, path) if path.is_dir() else _members_of_archive(spec, path)
    splits = []
    for names in (spec.train_members, spec.test_members):
        parts = [parse_records(members[n], spec, f"{path}: {n}") for n in names]
        splits.append((np.concatenate([x for x, _ in parts]), np.concatenate([y for _, y in parts])))
    (x_train, y_train), (x_test, y_test) = splits
    return image_data(spec.name, x_train, y_train, x_test, y_test, spec.classes, source)


def _members_of_folder(spec: ArchiveSpec, folder: Path) -> dict[str, bytes]:
    missing = [n for n in (*spec.train_members, *spec.test_members) if not (folder / n).is_file()]
    if missing:
        raise DatasetError(f"{folder}: lacks {', '.join(missing)} of {spec.name}; add them, or put "
                           f"{spec.archive[0]} there instead", field="dataset", value=str(folder))
    return {n: (folder / n).read_bytes() for n in (*spec.train_members, *spec.test_members)}


def _members_of_archive(spec: ArchiveSpec, path: Path) -> dict[str, bytes]:
    wanted = {f"{spec.folder}/{n}": n for n in (*spec.train_members, *spec.test_members)}
    out: dict[str, bytes] = {}
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:  # one pass: a gzipped tar cannot seek back cheaply
                name = wanted.get(member.name.removeprefix("./"))
                if name is None:
                    continue
                if not member.isfile():
                    raise DatasetError(f"{path}: member {member.name} is not a regular file; {FIX}",
                                       field="dataset", value=str(path))
                handle = tar.extractfile(member)
                assert handle is not None  # a regular file always has one
                out[name] = handle.read()
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise DatasetError(f"{path}: not a readable {spec.archive[0]} ({exc}); {FIX}",
                           field="dataset", value=str(path)) from exc
    missing = [n for n in wanted.values() if n not in out]
    if missing:
        raise DatasetError(f"{path}: the archive lacks {', '.join(f'{spec.folder}/{n}' for n in missing)}; {FIX}",
                           field="dataset", value=str(path))
    return out


def parse_records(data: bytes, spec: ArchiveSpec, where: str) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (N, H, W, 3) channels last (or (N, H, W) for one channel) and int64 labels (N,) of the records
    in `data`; DatasetError if `data` is not a whole number of records or a label is out of range."""
    size = spec.record_bytes
    if len(data) == 0 or len(data) % size:
        raise DatasetError(f"{where}: {len(data):,} bytes is not a whole number of {size:,}-byte records; {FIX}",
                           field="dataset", value=where)
    records = np.frombuffer(data, np.uint8).reshape(-1, size)
    c, h, w = spec.image_shape
    labels = records[:, spec.label_bytes - 1].astype(np.int64)
    check_labels(labels, spec.classes, where)
    planes = records[:, spec.label_bytes:].reshape(-1, c, h, w)
    images = planes[:, 0] if c == 1 else planes.transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def write_records(images: np.ndarray, labels: np.ndarray) -> bytes:
    """The records of uint8 images (N, H, W, 3) and labels, as `parse_records` reads them (tests write fakes)."""
    planes = np.asarray(images, np.uint8).transpose(0, 3, 1, 2).reshape(len(images), -1)
    return np.concatenate([np.asarray(labels, np.uint8)[:, None], planes], axis=1).tobytes()


def write_archive(path: Path, spec: ArchiveSpec, members: dict[str, bytes]) -> None:
    """A gzipped tar of `members` under ``spec.folder/``, laid out as the published archive."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(f"{spec.folder}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def _not_found(spec: ArchiveSpec, root: Path | None, problem: str) -> DatasetError:
    options = [f"pass data_dir=DIR or set LATENTLAB_DATA to a folder with {spec.archive[0]} or its unpacked "
               f"{spec.folder}/" + (f" (looked in {root})" if root else ""),
               f"put {spec.archive[0]} in the cache {cache_dir(spec.name)}",
               "download from the mirrors (needs network access and download=True, the default)",
               f"or use a set that needs no download: photo-tiles (colour), {', '.join(SAMPLES)}"]
    return DatasetError(f"dataset '{spec.name}' not found ({problem}); options: {'; '.join(options)}",
                        field="dataset", value=spec.name, related=("data_dir",))


__all__ = ["find_in", "load_archive", "parse_records", "read_set", "write_archive", "write_records"]
