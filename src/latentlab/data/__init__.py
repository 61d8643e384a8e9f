"""Data sets: the registry, where each one is found, the bundled samples and the user's own images.

`load_dataset(name_or_path)` is the entry point; everything it returns is an `ImageData` of uint8 images, grey
(N, H, W) or colour (N, H, W, 3), at their own size unless `image_size=` or `grayscale=` convert them on purpose.
"""

from latentlab.data.base import ImageData, stratified_split
from latentlab.data.registry import (
    ARCHIVES,
    BUILT,
    DATASETS,
    SAMPLES,
    ArchiveSpec,
    BuiltSpec,
    DatasetSpec,
    SampleSpec,
    dataset_names,
)
from latentlab.data.resolve import cache_dir, load_dataset
from latentlab.errors import DatasetError

__all__ = [
    "ARCHIVES", "BUILT", "DATASETS", "SAMPLES", "ArchiveSpec", "BuiltSpec", "DatasetError", "DatasetSpec", "ImageData",
    "SampleSpec", "cache_dir", "dataset_names", "load_dataset", "stratified_split",
]
