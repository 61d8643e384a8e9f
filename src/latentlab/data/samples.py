"""The two real samples shipped inside the package, verified by SHA-256 before use."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from latentlab.data.base import ImageData, image_data
from latentlab.data.registry import SampleSpec
from latentlab.errors import DatasetError
from latentlab.files import file_digest

SAMPLES_DIR = Path(__file__).parent / "samples"


def sample_path(sample: SampleSpec) -> Path:
    return SAMPLES_DIR / sample.filename


def sample_ok(sample: SampleSpec) -> bool:
    """True when the bundled file is there and its SHA-256 matches the registry."""
    path = sample_path(sample)
    return path.is_file() and file_digest(path) == sample.sha256


def load_sample(sample: SampleSpec) -> ImageData:
    path = sample_path(sample)
    if not sample_ok(sample):
        raise DatasetError(f"{path}: the bundled sample {sample.name} is missing or corrupt (sha256 mismatch); "
                           "reinstall latentlab (pip install --force-reinstall latentlab)",
                           field="dataset", value=sample.name)
    with np.load(path, allow_pickle=False) as z:
        x_train, y_train, x_test, y_test = (z[k] for k in ("x_train", "y_train", "x_test", "y_test"))
    total = len(x_train) + len(x_test)
    source = f"bundled sample ({total:,} of {sample.of_total:,} images)"
    return image_data(sample.name, x_train, y_train, x_test, y_test, sample.classes, source, is_sample=True)
