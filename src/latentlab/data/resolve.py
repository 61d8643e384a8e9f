"""Where a data set is found, and `load_dataset`, the one entry point for every kind of data.

``load_dataset(name)`` looks for a built-in dataset in this order and says which one it used:

1. ``data_dir/<name>/`` or ``data_dir`` (default: the ``LATENTLAB_DATA`` environment variable), with the files
   under any common spelling (``spellings``); a data dir with nothing for the data set, or holding another
   registered data set (MNIST where Fashion-MNIST is asked for), is skipped, and the source line says so and why;
2. the cache, ``$XDG_CACHE_HOME/latentlab/<name>`` (default ``~/.cache/latentlab/<name>``);
3. system copies, e.g. Debian's ``dataset-fashion-mnist`` in ``/usr/share/datasets/fashion-mnist``;
4. a download from the mirrors into the cache (unless ``download=False``).

Checksums: files in the cache, system copies and downloads must match the published md5 (or, for a
re-compressed copy, the md5 of the unpacked file). Files in ``data_dir`` are the user's own and may
legitimately differ (a re-packed or edited copy), so they are not checksummed, except to tell which registered
data set a folder holds; every source, ``data_dir`` included, goes through the strict IDX checks in
``latentlab.data.idx``. Archives of binary records (CIFAR-10) follow the same order, in `latentlab.data.archive`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

import numpy as np

from latentlab.data import download as dl
from latentlab.data.archive import load_archive
from latentlab.data.base import ImageData, check_labels, image_data
from latentlab.data.convert import check_sides, convert, parse_size
from latentlab.data.idx import read_idx
from latentlab.data.places import cache_dir, default_data_dir
from latentlab.data.registry import ARCHIVES, BUILT, DATASETS, SAMPLES, ArchiveSpec, DatasetSpec, dataset_names
from latentlab.data.samples import load_sample
from latentlab.errors import ChecksumError, DatasetError
from latentlab.progress import say


def load_dataset(
    name_or_path: str | DatasetSpec | ArchiveSpec,
    data_dir: str | Path | None = None,
    download: bool = True,
    progress: bool = True,
    auto: bool = True,
    image_size: str | int | tuple[int, int] | None = None,
    grayscale: bool = False,
) -> ImageData:
    """Load a built-in data set, a bundled sample, a built set, an image folder or an .npz file.

    Built-in sets are looked for in `data_dir`, the cache, system copies, then downloaded from their mirrors and
    verified. Images keep their own size and colour unless `image_size` or `grayscale` convert them on purpose,
    which the source line says.

    Parameters
    ----------
    name_or_path : str or DatasetSpec or ArchiveSpec
        A name of `dataset_names()`, the path of a folder (``class/*.png`` or flat) or .npz, or a registry entry
        (e.g. one with other mirrors).
    data_dir : str or Path, optional
        A folder holding the published files (default: ``$LATENTLAB_DATA``).
    download : bool, default True
        Whether a missing built-in set may be downloaded.
    progress : bool, default True
        Print the source used as one line on stderr, and a progress bar for downloads.
    auto : bool, default True
        The automatic digit steps of `latentlab.images` for folders read grey at a square `image_size`.
    image_size : str or int or tuple of int, optional
        Resize to (height, width), "HxW" or a side, in pixels (8 to 256).
    grayscale : bool, default False
        Convert colour images to grey.

    Returns
    -------
    ImageData
        uint8 images (N, H, W) or (N, H, W, 3), int64 labels (N,) or None.

    Raises
    ------
    DatasetError
        Nothing found (the message lists where it looked and what to do), a failed checksum, a malformed file.
    ConfigError
        A bad `image_size`.
    """
    size = parse_size(image_size)
    if isinstance(name_or_path, DatasetSpec) or name_or_path in DATASETS:
        spec = name_or_path if isinstance(name_or_path, DatasetSpec) else DATASETS[name_or_path]
        data = _load_builtin(spec, data_dir, download, progress)
    elif isinstance(name_or_path, ArchiveSpec) or name_or_path in ARCHIVES:
        spec = name_or_path if isinstance(name_or_path, ArchiveSpec) else ARCHIVES[name_or_path]
        data = load_archive(spec, data_dir, download, progress)
    elif name_or_path in SAMPLES:
        data = load_sample(SAMPLES[name_or_path])
    elif name_or_path in BUILT:
        from latentlab.data.tiles import build  # scikit-learn's photographs, Pillow: only when asked for

        data = build(name_or_path)
    else:
        # Resolved here, once: the ImageData (and a run's config, through .ref) keep the absolute path, so
        # the run's data loads again from any working directory.
        data = _load_custom(Path(name_or_path).expanduser().resolve(), name_or_path, auto, size, grayscale)
    data = convert(data, size, grayscale)
    check_sides(data.image_shape, data.ref)  # after any resize asked for: a model's limits, not the files'
    say(progress, f"{data.name}: {data.source}")
    return data


# ---- built-in datasets: find, verify, read --------------------------------------------------------------


_NAME = re.compile(r"(?P<base>.+)[-.](?P<idx>idx\d)(?:-ubyte)?(?:\.gz)?")


def spellings(filename: str) -> list[str]:
    """The names a published file goes by, the published one first: ``train-images-idx3-ubyte.gz`` is also
    found as ``train-images.idx3-ubyte`` (Kaggle's dot before idx), with or without ``-ubyte``, gzipped or not."""
    match = _NAME.fullmatch(filename)
    if match is None:
        return list(dict.fromkeys((filename, filename.removesuffix(".gz"))))
    base, idx = match["base"], match["idx"]
    names = [f"{base}{sep}{idx}{ubyte}{gz}" for gz in (".gz", "") for sep in "-." for ubyte in ("-ubyte", "")]
    return list(dict.fromkeys([filename, *names]))


def find_files(directory: Path, spec: DatasetSpec) -> dict[str, Path]:
    """The files of ``spec`` present in ``directory`` under any of their ``spellings``, by role."""
    found = {}
    for role, (filename, _) in spec.files.items():
        for name in spellings(filename):
            if (directory / name).is_file():
                found[role] = directory / name
                break
    return found


def checksum_failures(spec: DatasetSpec, files: dict[str, Path]) -> list[Path]:
    """The files among ``files`` that fail their checksum."""
    return [p for role, p in files.items() if not dl.checksum_ok(p, spec.files[role][1], spec.raw_md5.get(role))]


def held_dataset(files: dict[str, Path]) -> str | None:
    """Which registered data set ``files`` are, told by the checksum of their small train label file.

    MNIST and Fashion-MNIST share file names, so only the content says which one a folder holds."""
    labels = files.get("train_labels")
    for spec in DATASETS.values():
        if labels is not None and dl.checksum_ok(labels, spec.files["train_labels"][1],
                                                  spec.raw_md5.get("train_labels")):
            return spec.name
    return None


class DataDirLookup(NamedTuple):
    """What a data dir holds for one data set: the folder looked at, the files found there by role, and, when
    they cannot be used, the ``problem`` in a few words and the ``fix``; ``other`` names the registered data set
    the folder holds instead (it is then skipped, not an error)."""

    directory: Path
    files: dict[str, Path]
    problem: str = ""
    fix: str = ""
    other: str = ""


def look_in_data_dir(spec: DatasetSpec, root: Path) -> DataDirLookup:
    """Look for ``spec``'s files in ``root/<name>/``, then in ``root``.

    A folder holds one data set: a whole set of files that is another registered data set (by checksum) is
    not ``spec``'s (``other`` says which). With no ``problem`` the files are the whole set; with a problem and
    files, the folder is another data set (``other``) or part of a set; with no files, it has nothing for ``spec``.
    """
    for directory in (root / spec.name, root):
        found = find_files(directory, spec)
        if len(found) == len(spec.files):
            other = held_dataset(found)
            if other in (None, spec.name):
                return DataDirLookup(directory, found)
            return DataDirLookup(directory, found, f"holds {other}, not {spec.name}",
                                 f"ask for '{other}', or put the {spec.name} files in {root / spec.name}", other)
        if found:
            missing = ", ".join(spec.files[r][0] for r in spec.files if r not in found)
            return DataDirLookup(directory, found, f"has some {spec.name} files but lacks {missing}",
                                 "add them there (gzipped or not), or point data_dir / LATENTLAB_DATA elsewhere")
    first = next(iter(spec.files.values()))[0]
    problem = ("no such folder" if not root.is_dir() else
               f"no {spec.name} files in it or in {spec.name}/ (looked for names like {first})")
    return DataDirLookup(root, {}, problem)


def _load_builtin(spec: DatasetSpec, data_dir: str | Path | None, download: bool, progress: bool) -> ImageData:
    root = default_data_dir(data_dir)
    skipped = ""
    if root is not None:
        lookup = look_in_data_dir(spec, root)
        if not lookup.problem:
            return _read_idx_set(spec, lookup.files, f"data dir {lookup.directory}", verify=False)
        if lookup.files and not lookup.other:
            raise DatasetError(f"{lookup.directory}: {lookup.problem}; {lookup.fix}",
                               field="dataset", value=str(lookup.directory))
        # Said on the source line, so the user knows why their folder was not used; a folder of the other data
        # set is no mistake (one data dir for MNIST, Debian's copy of Fashion-MNIST): the search goes on.
        skipped = f"; data dir {lookup.directory if lookup.other else root} skipped: {lookup.problem}"

    cache = cache_dir(spec.name)
    cached = find_files(cache, spec)
    bad: list[Path] = []
    if len(cached) == len(spec.files):
        try:
            return _read_idx_set(spec, cached, f"cache {cache}{skipped}", verify=True)
        except ChecksumError:
            bad = checksum_failures(spec, cached)
    elif cached:  # an earlier download stopped part way; keep the files that verify
        bad = checksum_failures(spec, cached)
    for path in bad:
        say(progress, f"{path}: cached copy fails its md5 check" + ("; downloading it again" * download))

    for directory in map(Path, spec.system_dirs):
        found = find_files(directory, spec)
        if len(found) == len(spec.files):
            try:
                return _read_idx_set(spec, found, f"system copy {directory}{skipped}", verify=True)
            except ChecksumError as exc:
                say(progress, f"skipping the system copy: {exc}")

    if not download:
        problem = f"cached {bad[0]} fails its md5 check" if bad else "downloading is off"
        raise _not_found(spec, root, problem + skipped)
    try:
        for role, (filename, md5) in spec.files.items():
            if role not in cached or cached[role] in bad:
                # download() renames over a bad cached copy only once the new one is verified.
                cached[role] = dl.download(filename, md5, spec.mirrors, cache, progress=progress)
    except DatasetError as exc:
        raise _not_found(spec, root, str(exc) + skipped) from exc
    return _read_idx_set(spec, cached, f"downloaded into cache {cache}{skipped}", verify=True)


def _not_found(spec: DatasetSpec, root: Path | None, problem: str) -> DatasetError:
    names = ", ".join(name for name, _ in spec.files.values())
    options = [
        f"pass data_dir=DIR or set LATENTLAB_DATA to a folder with {names} (gzipped or not)"
        + (f" (looked in {root})" if root else ""),
        f"put those files in the cache {cache_dir(spec.name)}",
    ]
    if spec.system_package:
        options.append(f"install the system package (apt-get install {spec.system_package})")
    options.append("download from the mirrors (needs network access and download=True, the default)")
    options.append(f"or use a bundled sample: {', '.join(SAMPLES)}")
    return DatasetError(f"dataset '{spec.name}' not found ({problem}); options: {'; '.join(options)}",
                        field="dataset", value=spec.name, related=("data_dir",))


def _read_idx_set(spec: DatasetSpec, files: dict[str, Path], source: str, verify: bool) -> ImageData:
    """Read and cross-check the four files; with ``verify`` a checksum mismatch raises ``ChecksumError``."""
    arrays = {
        role: read_idx(path, *((spec.files[role][1], spec.raw_md5.get(role)) if verify else ()))
        for role, path in files.items()
    }
    for split in ("train", "test"):
        images, labels = f"{split}_images", f"{split}_labels"
        x, y = arrays[images], arrays[labels]
        _, h, w = spec.image_shape
        if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != (h, w):
            raise DatasetError(f"{files[images]}: expected uint8 images of {h}x{w}, got {x.dtype} {x.shape}; "
                               f"{_REPLACE}", field="dataset", value=str(files[images]))
        if y.dtype != np.uint8 or y.ndim != 1:
            raise DatasetError(f"{files[labels]}: expected a 1-D uint8 label file, got {y.dtype} {y.shape}; "
                               f"{_REPLACE}", field="dataset", value=str(files[labels]))
        if len(x) != len(y):
            raise DatasetError(f"{files[labels]}: {len(y)} labels for {len(x)} images in {files[images].name}; "
                               f"{_REPLACE}", field="dataset", value=str(files[labels]))
        check_labels(y, spec.classes, str(files[labels]))
    return image_data(spec.name, arrays["train_images"], arrays["train_labels"], arrays["test_images"],
                       arrays["test_labels"], spec.classes, source)


_REPLACE = "the files do not belong together; delete them and download again, or pass data_dir"


def _load_custom(path: Path, given: str, auto: bool, size: tuple[int, int] | None, grayscale: bool) -> ImageData:
    if path.is_dir():
        if any(find_files(path, spec) for spec in DATASETS.values()):
            raise DatasetError(f"{path}: holds IDX files, not an image folder; use the data set 'mnist' (or "
                               f"'fashion-mnist') with data_dir={path}",
                               field="dataset", value=str(path), related=("data_dir",))
        from latentlab.data.folders import load_folder

        return load_folder(path, auto, size, grayscale)
    if path.is_file() and path.suffix == ".npz":
        from latentlab.data.npz import load_npz

        return load_npz(path)
    raise DatasetError(f"unknown dataset '{given}': not a registered name, an image folder or an .npz file; "
                       f"use one of {', '.join(dataset_names())}, or a path to a folder or .npz",
                       field="dataset", value=given, allowed=tuple(dataset_names()))
