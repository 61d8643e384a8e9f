"""The user's own images as a dataset: a folder of class_name/*.png (any size) or an .npz of 28x28 arrays."""

from __future__ import annotations

import zipfile
from collections import Counter
from pathlib import Path

import numpy as np

from latentlab.data.base import SPLIT_SEED, ImageData, check_labels, image_data, stratified_split
from latentlab.errors import DatasetError, ImageError
from latentlab.images import read_image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")


def load_folder(root: Path, auto: bool = True) -> ImageData:
    """Read ``root/<class>/*.png|jpg|jpeg|bmp|gif|webp`` (or, unlabeled, ``root/*.png...``).

    Each image goes through `latentlab.images.read_image`, the pipeline `latentlab detect` and the web page use, so
    a file gives the same model input wherever it goes in: with `auto`, a light background is inverted and the
    object cropped, fitted and centred like MNIST's digits; without, it is only decoded and resized to 28x28. The
    source line counts what was done.
    ``root/train`` and ``root/test`` are used as the split when both exist, otherwise 15% of each class is
    held out with a fixed seed. Hidden files are skipped; any other file must be a readable image.
    """
    split_dirs = (root / "train", root / "test")
    if all(d.is_dir() for d in split_dirs):
        classes, train_files = _scan(split_dirs[0])
        test_classes, test_files = _scan(split_dirs[1])
        if not set(test_classes) <= set(classes):
            extra = sorted(set(test_classes) - set(classes))
            raise DatasetError(f"{split_dirs[1]}: classes {extra} have no folder in {split_dirs[0]}; "
                               "add them there or remove them from test/")
        remap = np.array([classes.index(c) for c in test_classes] or [0])
        steps: Counter[str] = Counter()
        x_train, y_train = _read_images(train_files, auto, steps)
        x_test, y_test = _read_images(test_files, auto, steps)
        if (y_train is None) != (y_test is None):
            raise DatasetError(f"{root}: train/ and test/ must both hold class folders, or both hold images "
                               "directly; make them match")
        y_test = None if y_test is None else remap[y_test]
        how = f"train/ and test/ folders of {root}"
    else:
        classes, files = _scan(root)
        steps = Counter()
        x, y = _read_images(files, auto, steps)
        train, test = stratified_split(y, len(x))
        x_train, x_test = x[train], x[test]
        y_train, y_test = (None, None) if y is None else (y[train], y[test])
        how = f"image folder {root}, split 85/15 per class (seed {SPLIT_SEED})"
    n = len(x_train) + len(x_test)
    done = ", ".join(f"{k} {count:,} of {n:,}" for k, count in steps.most_common()) or "nothing changed"
    source = f"{how}; latentlab.images with auto={'on' if auto else 'off'}: {done}"
    return image_data(root.name, x_train, y_train, x_test, y_test, classes, source, path=root.resolve())


def _scan(directory: Path) -> tuple[tuple[str, ...], list[tuple[Path, int | None]]]:
    """Class names and (file, label) pairs; labels are None when the images lie directly in ``directory``."""
    def visible(d: Path) -> list[Path]:
        return sorted(p for p in d.iterdir() if not p.name.startswith("."))

    entries = visible(directory)
    class_dirs = [p for p in entries if p.is_dir()]
    if not class_dirs:
        files = [(p, None) for p in entries]
        classes: tuple[str, ...] = ()
    else:
        stray = [p for p in entries if not p.is_dir()]
        if stray:
            raise DatasetError(f"{stray[0]}: a file beside the class folders of {directory}; move it into a "
                               "class folder or remove it")
        classes = tuple(p.name for p in class_dirs)
        files = [(p, label) for label, d in enumerate(class_dirs) for p in visible(d)]
    if not files:
        raise DatasetError(f"{directory}: no images found; expected <class>/*.png (or .jpg, .jpeg, .bmp, .gif)")
    return classes, files


def _read_images(files: list[tuple[Path, int | None]], auto: bool, steps: Counter[str]
                 ) -> tuple[np.ndarray, np.ndarray | None]:
    images = np.stack([_read_image(p, auto, steps) for p, _ in files])
    labels = None if files[0][1] is None else np.array([label for _, label in files], dtype=np.int64)
    return images, labels


def _read_image(path: Path, auto: bool, steps: Counter[str]) -> np.ndarray:
    if path.is_dir() or path.suffix.lower() not in IMAGE_SUFFIXES:
        raise DatasetError(f"{path}: not an image file (expected {', '.join(IMAGE_SUFFIXES)}); remove it "
                           "or move it out of the data folder")
    try:
        prepared = read_image(path, auto=auto)
    except ImageError as exc:
        raise DatasetError(f"{exc}; replace or remove it (it is in the data folder)") from exc
    # Count each kind of step once per image: "inverted", "cropped and centred", "16-bit pixels scaled", ...
    steps.update({step.split(" (")[0].split(":")[0] for step in prepared.steps})
    return prepared.pixels


def load_npz(path: Path) -> ImageData:
    """Read ``x`` (N, 28, 28) and optional ``y``, ``x_test``, ``y_test`` and ``classes``.

    Images are uint8; floats in [0, 1] and integers in 0..255 of another dtype are converted (see ``to_uint8``)
    and the source line says so; anything else is refused with the conversion to use.
    """
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {key: z[key] for key in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        # allow_pickle=False makes ragged (mixed-size) image lists fail here as object arrays.
        raise DatasetError(f"{path}: cannot be read as plain numeric arrays ({exc}); save it with "
                           "numpy.savez(path, x=uint8 images of shape (N, 28, 28), y=labels)") from exc
    if "x" not in arrays:
        raise DatasetError(f"{path}: has no array 'x' (found {sorted(arrays)}); save the images as x=")
    if "y_test" in arrays and "x_test" not in arrays:
        raise DatasetError(f"{path}: has 'y_test' but no 'x_test'; add the test images or drop 'y_test'")
    pairs = [("x", "y"), ("x_test", "y_test")] if "x_test" in arrays else [("x", "y")]
    if len({yk in arrays for _, yk in pairs}) > 1:
        raise DatasetError(f"{path}: has only one of 'y' and 'y_test'; give labels for both splits or neither")
    notes = []
    for xk, yk in pairs:
        x = arrays[xk]
        if x.ndim != 3 or x.shape[1:] != (28, 28):
            raise DatasetError(f"{path}: '{xk}' is {x.dtype} {x.shape}, expected images of shape (N, 28, 28); "
                               "resize them to 28x28")
        arrays[xk], note = to_uint8(x, f"{path}: '{xk}'")
        notes += [f"'{xk}' {note}"] if note else []
        y = arrays.get(yk)
        if y is not None and (y.ndim != 1 or not np.issubdtype(y.dtype, np.integer) or len(y) != len(x)):
            raise DatasetError(f"{path}: '{yk}' is {y.dtype} {y.shape} but must be integer labels, one "
                               f"per image of '{xk}' ({len(x)})")
    y = arrays.get("y")
    if "classes" in arrays:
        classes = tuple(str(c) for c in arrays["classes"])
    else:
        top = max((int(a.max()) for k in ("y", "y_test") if len(a := arrays.get(k, [])) > 0), default=-1)
        classes = tuple(str(i) for i in range(top + 1))
    for yk in ("y", "y_test"):
        if yk in arrays:
            check_labels(arrays[yk], classes, f"{path} '{yk}'")
    if "x_test" in arrays:
        x_train, y_train, x_test, y_test = arrays["x"], y, arrays["x_test"], arrays.get("y_test")
        how = f"npz file {path} (its own test split)"
    else:
        train, test = stratified_split(y, len(arrays["x"]))
        x_train, x_test = arrays["x"][train], arrays["x"][test]
        y_train, y_test = (None, None) if y is None else (y[train], y[test])
        how = f"npz file {path}, split 85/15 per class (seed {SPLIT_SEED})"
    how = "; ".join([how, *notes])
    return image_data(path.stem, x_train, y_train, x_test, y_test, classes if y is not None else (), how,
                      path=path.resolve())


def to_uint8(x: np.ndarray, where: str) -> tuple[np.ndarray, str]:
    """``x`` as uint8 pixels and what was done ("" when it was uint8); ``where`` names it in errors.

    Only conversions that keep every pixel are made: floats in [0, 1] are scaled by 255 and rounded, integers
    in 0..255 change dtype. Anything else is refused with its dtype, range and the conversion that fits that
    range (a float 0..255 image is rounded, a 16-bit one divided by 257), since ``astype(numpy.uint8)`` alone
    wraps or truncates such values without a word. NaN and infinite pixels are counted and located.
    """
    if x.dtype == np.uint8 or x.size == 0:
        return x.astype(np.uint8, copy=False), ""
    where = f"{where} is {x.dtype}"
    if x.dtype == np.bool_:
        raise DatasetError(f"{where}, expected uint8 pixels in 0..255; convert: (x * 255).astype(numpy.uint8)")
    if x.dtype.kind not in "fiu":
        raise DatasetError(f"{where}, expected numbers: uint8 pixels in 0..255, or floats in [0, 1]; save the "
                           "images as numbers")
    stretch = "((x - x.min()) / (x.max() - x.min()) * 255).round().astype(numpy.uint8)"
    if x.dtype.kind == "f":
        bad = ~np.isfinite(x)
        if bad.any():
            first = int(np.flatnonzero(bad.reshape(len(x), -1).any(axis=1))[0])
            raise DatasetError(f"{where} with {int(bad.sum()):,} NaN or infinite pixels, the first in image {first}; "
                               "fix or drop those images")
        lo, hi = float(x.min()), float(x.max())
        if lo >= 0 and hi <= 1:
            return np.round(x * 255).astype(np.uint8), f"{x.dtype} in [0, 1] scaled by 255 and rounded to uint8"
        fix = ("x.round().astype(numpy.uint8)" if lo >= 0 and hi <= 255 else
               "((x + 1) * 127.5).round().astype(numpy.uint8)" if lo >= -1 and hi <= 1 else stretch)
        span = f"{lo:g}..{hi:g}"
    else:
        lo, hi = int(x.min()), int(x.max())
        if lo >= 0 and hi <= 255:
            return x.astype(np.uint8), f"{x.dtype} in 0..255 converted to uint8"
        fix = "(x // 257).astype(numpy.uint8) for 16-bit images" if lo >= 0 and hi <= 65535 else stretch
        span = f"{lo}..{hi}"
    raise DatasetError(f"{where} with values {span}, expected uint8 pixels in 0..255 (floats in [0, 1] and "
                       f"integers in 0..255 are converted); convert with {fix}")
