"""`ImageData`, the in-memory form of every data set, and the small checks and splits shared by its readers."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from latentlab.errors import DatasetError

if TYPE_CHECKING:
    from latentlab.images import Layout

TEST_FRACTION = 0.15  # for data that comes without a test split
SPLIT_SEED = 0


@dataclass(frozen=True)
class ImageData:
    """A data set in memory: images as uint8 arrays, channels last as numpy and Pillow store them.

    Floats (N, C, H, W) for a model are made one batch at a time, never for the whole set.

    Parameters
    ----------
    name : str
        The registered name, or the folder's or file's name.
    x_train, x_test : numpy.ndarray
        uint8 images, shape (N, H, W) grey or (N, H, W, 3) colour (MNIST: (N, 28, 28)).
    y_train, y_test : numpy.ndarray or None
        int64 labels, shape (N,), or None when unlabelled.
    classes : tuple of str
        Class names in label order.
    source : str
        Where the images came from, in words (printed on the data line).
    is_sample : bool, default False
        Whether these are a bundled sample rather than the full set.
    path : Path or None, default None
        The absolute path of the user's folder or .npz (None for registered sets); see `ref`.
    layout : latentlab.images.Layout or None, default None
        How the images were framed when reading them framed them (an image folder read grey at a square size with
        the automatic steps: cropped, fitted and centred by `latentlab.images.read_image`); None when they were
        not. Files asked about later are framed the same way (`latentlab.images.layout_for`).
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray | None
    x_test: np.ndarray
    y_test: np.ndarray | None
    classes: tuple[str, ...]
    source: str
    is_sample: bool = False
    path: Path | None = None
    layout: Layout | None = None

    @property
    def ref(self) -> str:
        """What ``load_dataset`` (and a run's ``config.dataset``) takes to load these images again.

        Returns
        -------
        str
            The absolute path of a folder or .npz, else the registered name.
        """
        return str(self.path) if self.path is not None else self.name

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """The shape a model is built for.

        Returns
        -------
        tuple of int
            (channels, height, width): (1, H, W) for grey, (3, H, W) for colour.
        """
        return image_shape_of(self.x_train)


def class_name(classes: Sequence[str] | None, label: int) -> str | None:
    """The name of class `label` in `classes` (`ImageData.classes`), or None where it has no such entry."""
    return str(classes[label]) if classes and 0 <= label < len(classes) else None


def image_shape_of(x: np.ndarray) -> tuple[int, int, int]:
    """(channels, height, width) of uint8 images stored (N, H, W) or (N, H, W, 3); DatasetError for other shapes."""
    shape = np.shape(x)
    if len(shape) == 3:
        return 1, int(shape[1]), int(shape[2])
    if len(shape) == 4 and shape[3] == 3:
        return 3, int(shape[1]), int(shape[2])
    raise DatasetError(f"images must be stored (N, height, width) for grey or (N, height, width, 3) for colour; "
                       f"got {shape}", field="dataset", value=shape)


def check_labels(y: np.ndarray, classes: tuple[str, ...], where: str) -> None:
    if len(y) and (y.min() < 0 or y.max() >= len(classes)):
        raise DatasetError(f"{where}: labels range {y.min()}..{y.max()} but there are {len(classes)} classes; "
                           "fix the labels or the class list", field="dataset", value=where)


def image_data(name: str, x_train: np.ndarray, y_train: np.ndarray | None, x_test: np.ndarray,
                y_test: np.ndarray | None, classes: tuple[str, ...], source: str,
                is_sample: bool = False, path: Path | None = None, layout: Layout | None = None) -> ImageData:
    def labels(y: np.ndarray | None) -> np.ndarray | None:
        return None if y is None else np.ascontiguousarray(y, dtype=np.int64)

    shape = image_shape_of(x_train)
    if len(x_test) and image_shape_of(x_test) != shape:
        raise DatasetError(f"{name}: the test images are {np.shape(x_test)[1:]} but the training images "
                           f"{np.shape(x_train)[1:]}; give both splits one size and colour",
                           field="dataset", value=name)

    return ImageData(name, np.ascontiguousarray(x_train, dtype=np.uint8), labels(y_train),
                     np.ascontiguousarray(x_test, dtype=np.uint8), labels(y_test), tuple(classes), source,
                     is_sample, path, layout)


def split_description(labels: np.ndarray | None) -> str:
    """How `stratified_split` (default arguments) split data with these labels, for a data set's description:
    "split 85/15 per class (seed 0)", or "at random" for unlabelled data."""
    test = round(100 * TEST_FRACTION)
    return f"split {100 - test}/{test} {'per class' if labels is not None else 'at random'} (seed {SPLIT_SEED})"


def stratified_split(labels: np.ndarray | None, n: int, test_fraction: float = TEST_FRACTION,
                     seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Split indices into train and test, taking ``test_fraction`` of each class for test, deterministically.

    Parameters
    ----------
    labels : numpy.ndarray or None
        int labels, shape (n,); None splits the images as one group.
    n : int
        Number of images.
    test_fraction : float, default TEST_FRACTION
        Fraction of each class for test.
    seed : int, default SPLIT_SEED
        Seed of the draw: the same arguments give the same split.

    Returns
    -------
    train, test : numpy.ndarray
        Sorted int64 indices into the n images, disjoint, together all of them.
    """
    rng = np.random.default_rng(seed)
    groups = [np.arange(n)] if labels is None else [np.flatnonzero(labels == c) for c in np.unique(labels)]
    test = [rng.permutation(g)[: round(len(g) * test_fraction)] for g in groups]
    test_idx = np.sort(np.concatenate(test)) if test else np.empty(0, np.int64)
    return np.setdiff1d(np.arange(n), test_idx), test_idx


def data_meta(data: ImageData) -> dict[str, Any]:
    """What a run records of the data set it was trained on (meta.json), so plot, evaluate, detect and serve load
    the same images (`runs.load_run_data`)."""
    labels = {} if data.y_train is None else {"train_labels_sha256": array_sha256(data.y_train)}
    return {"dataset": data.name, "data_source": data.source, "is_sample": data.is_sample,
            "classes": list(data.classes), "n_train": int(len(data.x_train)), "n_test": int(len(data.x_test)),
            **labels}


def array_sha256(x: np.ndarray) -> str:
    """SHA-256 of an array's bytes (C order; the buffer itself, no copy, empty arrays too): what a run records of
    its training images and labels, and the detectors' data fingerprint."""
    return hashlib.sha256(np.ascontiguousarray(x).reshape(-1).view(np.uint8).data).hexdigest()


def empty_split_fix(data: ImageData) -> str:
    """What to do about a data set without test images, in words for error messages."""
    return (f"give {data.name} test images (an .npz's x_test, or a test/ folder beside train/; without them "
            f"{TEST_FRACTION:.0%} of each class is held out, which needs 4 or more images per class; it has "
            f"{len(data.x_train):,} training images)")


# An image whose pixels span at most this many grey levels (of 255) holds nothing: the image pipeline makes a blank
# page all zeros, and a flat scan or JPEG of one keeps a level or two of noise.
FLAT_LEVELS = 2


def blank_images(x: np.ndarray) -> int:
    """How many of uint8 images `x` (N, H, W[, C]) are blank: all their pixels within FLAT_LEVELS grey levels of
    each other. A model and a detector trained on blank pages learn to accept them (a tester's folder of 24 blank
    pages trained without a word)."""
    x = np.asarray(x)
    if not len(x):
        return 0
    flat = x.reshape(len(x), -1)
    return int((flat.max(1).astype(np.int16) - flat.min(1) <= FLAT_LEVELS).sum())


def blank_note(data: ImageData) -> list[str]:
    """The warning `train` gives when training images are blank (`blank_images`), as a list of none or one."""
    blank = blank_images(data.x_train)
    return [f"{blank:,} of {len(data.x_train):,} training images of {data.name} are blank (nothing stands out from "
            "the background): the model learns them as data, and its detector will call blank pages part of the "
            "data set; remove them from the data"] if blank else []
