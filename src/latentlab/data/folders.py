"""The user's own images as a dataset: a folder of class_name/*.png (any size) or an .npz of uint8 arrays."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from latentlab.data.base import SPLIT_SEED, ImageData, check_labels, image_data, stratified_split
from latentlab.errors import DatasetError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


def load_folder(root: Path) -> ImageData:
    """Read ``root/<class>/*.png|jpg|jpeg|bmp|gif`` (or, unlabeled, ``root/*.png...``).

    Each image goes through Pillow's ``convert("L")`` (grayscale, alpha dropped), then a LANCZOS resize to
    28x28 ignoring the aspect ratio; no inversion, so dark-on-light scans stay dark-on-light, unlike MNIST.
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
        x_train, y_train = _read_images(train_files)
        x_test, y_test = _read_images(test_files)
        if (y_train is None) != (y_test is None):
            raise DatasetError(f"{root}: train/ and test/ must both hold class folders, or both hold images "
                               "directly; make them match")
        y_test = None if y_test is None else remap[y_test]
        how = f"train/ and test/ folders of {root}"
    else:
        classes, files = _scan(root)
        x, y = _read_images(files)
        train, test = stratified_split(y, len(x))
        x_train, x_test = x[train], x[test]
        y_train, y_test = (None, None) if y is None else (y[train], y[test])
        how = f"image folder {root}, split 85/15 per class (seed {SPLIT_SEED})"
    source = f"{how}; Pillow convert('L'), LANCZOS resize to 28x28, no inversion"
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


def _read_images(files: list[tuple[Path, int | None]]) -> tuple[np.ndarray, np.ndarray | None]:
    images = np.stack([_read_image(p) for p, _ in files])
    labels = None if files[0][1] is None else np.array([label for _, label in files], dtype=np.int64)
    return images, labels


def _read_image(path: Path) -> np.ndarray:
    if path.is_dir() or path.suffix.lower() not in IMAGE_SUFFIXES:
        raise DatasetError(f"{path}: not an image file (expected {', '.join(IMAGE_SUFFIXES)}); remove it "
                           "or move it out of the data folder")
    try:
        with Image.open(path) as image:
            gray = image.convert("L")
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise DatasetError(f"{path}: Pillow cannot read this image ({exc}); replace or remove it") from exc
    if gray.size != (28, 28):
        gray = gray.resize((28, 28), Image.Resampling.LANCZOS)
    return np.asarray(gray, dtype=np.uint8)


def load_npz(path: Path) -> ImageData:
    """Read ``x`` (N, 28, 28) uint8 and optional ``y``, ``x_test``, ``y_test`` and ``classes``."""
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
    for xk, yk in pairs:
        x = arrays[xk]
        if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != (28, 28):
            raise DatasetError(f"{path}: '{xk}' is {x.dtype} {x.shape}, expected uint8 (N, 28, 28); resize "
                               "to 28x28 and convert, e.g. (x * 255).round().astype(numpy.uint8) for 0..1 floats")
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
    return image_data(path.stem, x_train, y_train, x_test, y_test, classes if y is not None else (), how,
                      path=path.resolve())
