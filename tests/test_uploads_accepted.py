"""Real uploads: MNIST test digits re-drawn larger as dark ink on white paper, sent through the one pipeline that
`latentlab detect` and the web page share, are accepted by an MNIST run's default detector (before the pixel-view
detector: 1 of 20); Fashion-MNIST images uploaded as the data set's own 28x28 PNGs are still rejected.

Photographs (scikit-learn's two, as JPEG) are rejected: they have no plain border, so they are only resized, not
framed like a digit (before: china.jpg was accepted). Measured with an MNIST-sample VAE and deep autoencoder: the two
photos, a gradient and 12 random 120 px crops of the photos, 13 of 15 rejected (the two accepted crops: a lone dark
stem and a blob, framed like a 1 and a 0); 20 of 20 digits on unevenly lit paper accepted.

Known gap, measured: a garment drawn large on paper is cropped and framed like a digit (20 px, centred by mass) and
then often looks like one: 13 of 40 such garments were rejected (8 of 40 before the ink level was matched)."""

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


def _on_paper(image: np.ndarray, fmt: str, light: float = 0.0) -> bytes:
    """A 28x28 image drawn 44 px tall (LANCZOS) as dark ink on a white 100x120 sheet that is `light` (a fraction)
    darker on its right side than its left, as a phone photo lit from one side is."""
    big = Image.fromarray(image).resize((44, 44), Image.Resampling.LANCZOS)
    ink = np.zeros((120, 100))
    ink[40:84, 30:74] = np.asarray(big) / 255
    paper = 255 * (1 - light * np.linspace(0, 1, 100))[None, :]
    sheet = Image.fromarray(np.round(paper * (1 - ink)).astype(np.uint8))
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


def test_digits_on_unevenly_lit_paper_are_accepted(detector) -> None:
    det, layout, data = detector
    inputs = np.stack([read_image(_on_paper(d, "JPEG", light=0.35), layout=layout).pixels for d in data.x_test[:20]])
    accepted = int((det.predict(inputs) == 1).sum())
    assert accepted >= 18, f"{accepted} of 20 digits on unevenly lit paper accepted"


def test_photographs_are_rejected(detector) -> None:
    from sklearn.datasets import load_sample_images

    det, layout, _ = detector
    photos = [read_image(_encoded(photo, "JPEG"), layout=layout) for photo in load_sample_images().images]
    assert all(p.steps[0].startswith("no plain background") for p in photos)
    assert (det.predict(np.stack([p.pixels for p in photos])) == -1).all()
