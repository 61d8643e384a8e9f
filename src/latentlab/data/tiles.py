"""Small real colour data sets made on the spot from files already installed, offline and in a second or two:

- "photo-tiles": 32x32 tiles of scikit-learn's two sample photographs (`sklearn.datasets.load_sample_images`, two
  427x640 RGB pictures, CC BY 2.0), one class per photograph. Tiles overlap by half. Each photograph is cut into
  96x96 blocks, a quarter of them (in diagonal stripes) for test, and a tile is kept only if it lies inside one
  block: no test pixel is ever in a training tile, and both splits see every part of the picture.
- "tinted-digits": the same mnist-sample digits in two tints of (almost exactly) one luminance, pink and blue:
  colour is the only difference between the classes, so a colour-blind pipeline cannot tell them apart.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from latentlab.data.base import ImageData, image_data
from latentlab.data.registry import BUILT, SAMPLES
from latentlab.data.samples import load_sample

TILE, STRIDE, BLOCK = 32, 16, 96
# Luminance (ITU-R 601-2) 0.4848 and 0.4847: in grey the two tints of a digit differ by at most a level or so.
TINTS = {"pink": (1.0, 0.2, 0.6), "blue": (0.1, 0.6, 0.9)}


def photo_tiles(tile: int = TILE, stride: int = STRIDE, block: int = BLOCK) -> ImageData:
    """Tiles of `tile` x `tile` every `stride` pixels of each sample photograph that lie inside one `block` x `block`
    block; the blocks (i, j) with (i + j) % 4 == 3 are the test split."""
    from sklearn.datasets import load_sample_images  # loaded when asked for: it takes a second to import

    splits: dict[str, list[tuple[np.ndarray, int]]] = {"train": [], "test": []}
    for label, photo in enumerate(load_sample_images().images):
        h, w = photo.shape[:2]
        for top in range(0, h - tile + 1, stride):
            for left in range(0, w - tile + 1, stride):
                i, j = top // block, left // block
                if (top + tile - 1) // block != i or (left + tile - 1) // block != j:
                    continue  # straddles two blocks: it would share pixels with the other split
                split = "test" if (i + j) % 4 == 3 else "train"
                splits[split].append((photo[top:top + tile, left:left + tile], label))
    (x_train, y_train), (x_test, y_test) = ((np.stack([t for t, _ in s]), np.array([y for _, y in s]))
                                            for s in splits.values())
    spec = BUILT["photo-tiles"]
    source = (f"built from scikit-learn's sample photographs: {tile}x{tile} tiles every {stride} px inside "
              f"{block}x{block} blocks, a quarter of the blocks for test")
    return image_data(spec.name, x_train, y_train, x_test, y_test, spec.classes, source)


def tint(gray: np.ndarray, colour: tuple[float, float, float]) -> np.ndarray:
    """uint8 (N, H, W) -> (N, H, W, 3): each pixel's grey level times `colour` (light strokes in that colour)."""
    return np.round(gray[..., None].astype(np.float64) * np.array(colour)).astype(np.uint8)


def tinted_digits(n_train: int = 1000, n_test: int = 200) -> ImageData:
    """The first `n_train` training and `n_test` test digits of mnist-sample, each once per tint (the classes)."""
    digits = load_sample(SAMPLES["mnist-sample"])
    spec = BUILT["tinted-digits"]
    parts = []
    for x in (digits.x_train[:n_train], digits.x_test[:n_test]):
        parts.append((np.concatenate([tint(x, TINTS[c]) for c in spec.classes]),
                      np.repeat(np.arange(len(spec.classes)), len(x))))
    (x_train, y_train), (x_test, y_test) = parts
    source = (f"built from mnist-sample: {n_train:,} + {n_test:,} digits, each in "
              + " and ".join(f"{c} {TINTS[c]}" for c in spec.classes))
    return image_data(spec.name, x_train, y_train, x_test, y_test, spec.classes, source)


BUILDERS: dict[str, Callable[[], ImageData]] = {"photo-tiles": photo_tiles, "tinted-digits": tinted_digits}


def build(name: str) -> ImageData:
    """The set `name` of `latentlab.data.registry.BUILT`, made now."""
    return BUILDERS[name]()
