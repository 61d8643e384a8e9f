"""Real uploads: MNIST test digits re-drawn larger as dark ink on white paper, sent through the one pipeline that
`latentlab detect` and the web page share, are accepted by an MNIST run's default detector (before the pixel-view
detector: 1 of 20); Fashion-MNIST images uploaded as the data set's own 28x28 PNGs are still rejected.

Known gap, measured: a garment drawn large on paper is cropped and framed like a digit (20 px, centred by mass) and
then looks like one to every score but the old "density"; 8 of 40 such garments were rejected."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from latentlab.analysis.novelty import NoveltyDetector
from latentlab.config import override
from latentlab.data import load_dataset
from latentlab.images import Layout, read_image
from latentlab.presets import preset_config
from latentlab.training import train


def _on_paper(image: np.ndarray, fmt: str) -> bytes:
    """A 28x28 image drawn 44 px tall (LANCZOS) in dark ink on a white 100x120 sheet."""
    big = Image.fromarray(image).resize((44, 44), Image.Resampling.LANCZOS)
    sheet = Image.new("L", (100, 120), 255)
    sheet.paste(Image.fromarray(255 - np.asarray(big)), (30, 40))
    buf = io.BytesIO()
    sheet.save(buf, format=fmt, **({"quality": 92} if fmt == "JPEG" else {}))
    return buf.getvalue()


def _encoded(image: np.ndarray, fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format=fmt, **({"quality": 92} if fmt == "JPEG" else {}))
    return buf.getvalue()


@pytest.fixture(scope="module")
def detector():
    data = load_dataset("mnist-sample", progress=False)
    cfg = override(preset_config("mnist-simple"), {"train.epochs": 2, "train.device": "cpu"})
    result = train(cfg, data.x_train, None, None, quiet=True)
    return NoveltyDetector(result.model).fit(data.x_train), Layout.of(data.x_train), data


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_redrawn_digits_are_accepted_and_garments_rejected(detector, fmt: str) -> None:
    det, layout, data = detector
    digits = data.x_test[:20]
    inputs = np.stack([read_image(_on_paper(d, fmt), layout=layout).pixels for d in digits])
    accepted = int((det.predict(inputs) == 1).sum())
    assert accepted >= 18, f"{accepted} of 20 redrawn digits accepted"
    garments = load_dataset("fashion-mnist-sample", progress=False).x_test[:20]
    inputs = np.stack([read_image(_encoded(g, fmt), layout=layout).pixels for g in garments])
    rejected = int((det.predict(inputs) == -1).sum())
    assert rejected >= 18, f"{rejected} of 20 garments rejected"
