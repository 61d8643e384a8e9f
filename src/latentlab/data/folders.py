"""The user's own images as a data set: a folder of class_name/*.png (or flat), kept at their own size and colour."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from latentlab.data.base import ImageData, image_data, split_description, stratified_split
from latentlab.errors import DatasetError, ImageError
from latentlab.files import shown_name
from latentlab.images import Layout, conform, read_image, read_native

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
# Files an operating system leaves in image folders (Windows' thumbnail caches and folder settings, macOS' Finder
# data), lower-cased: skipped, and the source line says how many, rather than refused as "not an image".
SYSTEM_FILES = frozenset({"thumbs.db", "ehthumbs.db", "ehthumbs_vista.db", "desktop.ini", ".ds_store"})


def load_folder(root: Path, auto: bool = True, image_size: tuple[int, int] | None = None,
                grayscale: bool = False) -> ImageData:
    """Read ``root/<class>/*.png|jpg|jpeg|bmp|gif|webp`` (or, unlabeled, ``root/*.png...``).

    Each file goes through `latentlab.images`, the pipeline `latentlab detect` and the web page use. By default the
    images keep their own size and colour: the set is colour if any image is (grey ones then get three equal
    channels), and images of another size than the most common one are resized to it (the source line counts
    them). `grayscale` and `image_size` (height, width) convert on purpose. Grey at a square `image_size` with
    `auto` is the digit pipeline (`read_image`: a light background inverted, the object cropped, fitted and
    centred like MNIST's digits), exactly as `latentlab detect` reads a file for a run of that shape.
    ``root/train`` and ``root/test`` are used as the split when both exist, otherwise 15% of each class is
    held out with a fixed seed. Hidden files and the files of `SYSTEM_FILES` (Thumbs.db, desktop.ini, .DS_Store)
    are skipped, the latter counted on the source line; any other file must be a readable image.
    """
    reader = _Reader(auto, image_size, grayscale)
    split_dirs = (root / "train", root / "test")
    if all(d.is_dir() for d in split_dirs):
        classes, train_files = _scan(split_dirs[0], reader.skipped)
        test_classes, test_files = _scan(split_dirs[1], reader.skipped)
        if not set(test_classes) <= set(classes):
            extra = sorted(set(test_classes) - set(classes))
            raise DatasetError(f"{split_dirs[1]}: classes {extra} have no folder in {split_dirs[0]}; "
                               "add them there or remove them from test/", field="dataset", value=str(split_dirs[1]))
        remap = np.array([classes.index(c) for c in test_classes] or [0])
        y_train, y_test = _labels(train_files), _labels(test_files)
        if (y_train is None) != (y_test is None):
            raise DatasetError(f"{root}: train/ and test/ must both hold class folders, or both hold images "
                               "directly; make them match", field="dataset", value=str(root))
        x_train, x_test = reader.finish([reader.read(train_files), reader.read(test_files)])
        y_test = None if y_test is None else remap[y_test]
        how = f"train/ and test/ folders of {root}"
    else:
        classes, files = _scan(root, reader.skipped)
        (x,) = reader.finish([reader.read(files)])
        y = _labels(files)
        train, test = stratified_split(y, len(x))
        x_train, x_test = x[train], x[test]
        y_train, y_test = (None, None) if y is None else (y[train], y[test])
        how = f"image folder {root}, {split_description(y)}"
    # Framed by the digit pipeline: files asked about later must be framed the same way, not as measured from these
    # images (which gives another frame size: a drawing fitted to 20 px measures 21 after resampling).
    framed = reader.framing.counted_on(x_train) if reader.framing is not None else None
    return image_data(shown_name(root.name), x_train, y_train, x_test, y_test, classes, f"{how}; {reader.describe()}",
                      path=root.resolve(), layout=framed)


@dataclass
class _Reader:
    """Reads the files of one folder and brings them to one shape, counting what was done to how many."""

    auto: bool
    image_size: tuple[int, int] | None
    grayscale: bool
    steps: Counter[str] = field(default_factory=Counter)
    skipped: list[Path] = field(default_factory=list)  # system files left out (`SYSTEM_FILES`)
    n: int = 0
    shape: tuple[int, int, int] = (1, 0, 0)

    @property
    def digits(self) -> bool:
        """The digit pipeline: grey, at a square size, automatic steps on."""
        return self.grayscale and self.image_size is not None and self.image_size[0] == self.image_size[1]

    @property
    def framing(self) -> Layout | None:
        """The layout the digit pipeline frames each file by (MNIST's at the side), None when nothing is framed."""
        return Layout.for_side(self.image_size[0]) if self.digits and self.auto and self.image_size else None

    def read(self, files: list[tuple[Path, int | None]]) -> list[np.ndarray]:
        return [self._one(path) for path, _ in files]

    def _one(self, path: Path) -> np.ndarray:
        if path.is_dir() or path.suffix.lower() not in IMAGE_SUFFIXES:
            raise DatasetError(f"{path}: not an image file (expected {', '.join(IMAGE_SUFFIXES)}); remove it "
                               "or move it out of the data folder", field="dataset", value=str(path))
        try:
            if self.digits:
                assert self.image_size is not None
                prepared = read_image(path, layout=self.framing, auto=self.auto, shape=(1, *self.image_size))
            else:
                prepared = read_native(path, grayscale=self.grayscale)
        except ImageError as exc:
            raise DatasetError(f"{exc}; replace or remove it (it is in the data folder)",
                               field="dataset", value=str(path)) from exc
        self._count(prepared.steps)
        pixels = prepared.pixels
        if self.image_size is not None and not self.digits:
            pixels = self._conform(pixels, (3 if pixels.ndim == 3 else 1, *self.image_size), "on purpose")
        return pixels

    def _count(self, steps: tuple[str, ...]) -> None:
        # Count each kind of step once per image: "inverted", "cropped and centred", "16-bit pixels scaled", ...
        self.steps.update({step.split(" (")[0].split(":")[0] for step in steps})
        self.n += 1

    def _conform(self, pixels: np.ndarray, shape: tuple[int, int, int], why: str) -> np.ndarray:
        out, steps = conform(pixels, shape)
        kinds = {re.sub(r" \d+x\d+.*| \(.*", "", step) for step in steps}  # "resized 64x48 -> 32x32" -> "resized"
        self.steps.update({f"{k} {why}" if k == "resized" else k for k in kinds})
        return out

    def finish(self, splits: list[list[np.ndarray]]) -> list[np.ndarray]:
        """Each split stacked, in one shape: colour if any image is, at the most common size (or `image_size`)."""
        images = [p for split in splits for p in split]
        colour = any(p.ndim == 3 for p in images)
        size = self.image_size or Counter(p.shape[:2] for p in images).most_common(1)[0][0]
        self.shape = (3 if colour else 1, *size)
        why = "to the most common size" if self.image_size is None else "on purpose"
        return [np.stack([self._conform(p, self.shape, why) for p in split]) if split else
                np.zeros((0, *size, *((3,) if colour else ())), np.uint8) for split in splits]

    def describe(self) -> str:
        """What was done, for the source line."""
        c, h, w = self.shape
        if self.digits:
            how = f"latentlab.images with auto={'on' if self.auto else 'off'}"
        else:
            how = ("latentlab.images, " + ("grey on purpose" if self.grayscale else "colour and size kept") +
                   f", {'colour' if c == 3 else 'grey'} {h}x{w} (height x width)")
        done = ", ".join(f"{k} {count:,} of {self.n:,}" for k, count in self.steps.most_common()) or "nothing changed"
        names = sorted({p.name for p in self.skipped})
        skipped = (f"; skipped {len(self.skipped)} system file{'s' * (len(self.skipped) > 1)} ({', '.join(names)})"
                   if self.skipped else "")
        return f"{how}: {done}{skipped}"


def _labels(files: list[tuple[Path, int | None]]) -> np.ndarray | None:
    return None if not files or files[0][1] is None else np.array([label for _, label in files], dtype=np.int64)


def _scan(directory: Path, skipped: list[Path]) -> tuple[tuple[str, ...], list[tuple[Path, int | None]]]:
    """Class names and (file, label) pairs; labels are None when the images lie directly in ``directory``. System
    files found are appended to `skipped`."""
    def visible(d: Path) -> list[Path]:
        entries = sorted(d.iterdir())
        skipped.extend(p for p in entries if p.name.lower() in SYSTEM_FILES and p.is_file())
        return [p for p in entries if not p.name.startswith(".") and p.name.lower() not in SYSTEM_FILES]

    entries = visible(directory)
    class_dirs = [p for p in entries if p.is_dir()]
    if not class_dirs:
        files = [(p, None) for p in entries]
        classes: tuple[str, ...] = ()
    else:
        stray = [p for p in entries if not p.is_dir()]
        if stray:
            raise DatasetError(f"{stray[0]}: a file beside the class folders of {directory}; move it into a "
                               "class folder or remove it", field="dataset", value=str(stray[0]))
        # Names are labels, shown everywhere: bytes that are not UTF-8 (a Windows zip's Latin-1) become \xNN.
        classes = tuple(shown_name(p.name) for p in class_dirs)
        files = [(p, label) for label, d in enumerate(class_dirs) for p in visible(d)]
    if not files:
        raise DatasetError(f"{directory}: no images found; expected <class>/*.png (or .jpg, .jpeg, .bmp, .gif)",
                           field="dataset", value=str(directory))
    return classes, files

