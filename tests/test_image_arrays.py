"""The one array convention (uint8 (N, H, W[, 3]) <-> float32 (N, C, H, W)), its one rounding rule, and the one
definition of the noisy input that metrics.json, the figures and the web page share."""

from __future__ import annotations

import numpy as np
import pytest

from latentlab.config import NoiseConfig
from latentlab.errors import ImageError
from latentlab.images import stored_shape, to_float, to_images, to_uint8, to_uint8_images


def test_uint8_round_trips_through_the_model_layout() -> None:
    grey = np.arange(256, dtype=np.uint8).reshape(1, 16, 16)
    colour = np.stack([grey[0], 255 - grey[0], grey[0] // 2], axis=-1)[None]
    for x, shape in ((grey, (1, 16, 16)), (colour, (3, 16, 16))):
        t = to_float(x, shape)
        assert tuple(t.shape) == (1, *shape) and t.dtype.is_floating_point and float(t.max()) <= 1.0
        np.testing.assert_array_equal(to_uint8_images(t), x)
        assert stored_shape(x) == shape and to_images(t).shape == x.shape
    with pytest.raises(ImageError, match=r"\(N, 16, 16, 3\)"):
        to_float(grey, (3, 16, 16))


def test_floats_become_uint8_by_one_rule() -> None:
    # Clipped to [0, 1], then rounded half to even: 2.5 -> 2 and 3.5 -> 4 (the old web rule, +0.5, gave 3 and 4).
    x = np.array([-0.2, 2.5 / 255, 3.5 / 255, 0.2, 1.4])
    np.testing.assert_array_equal(to_uint8(x), np.rint(np.clip(x, 0, 1) * 255).astype(np.uint8))
    assert to_uint8(np.array([-0.2, 1.4])).tolist() == [0, 255] and to_uint8(x).dtype == np.uint8


def test_the_noisy_input_is_one_definition() -> None:
    from latentlab.analysis import evaluate
    from latentlab.figures import from_runs
    from latentlab.training.noise import noisy_images
    from latentlab.web import service

    assert evaluate.noisy_images is noisy_images and from_runs.noisy_images is noisy_images
    assert service.noisy_images is noisy_images
    x = np.random.default_rng(0).integers(0, 256, (4, 12, 12), dtype=np.uint8)
    noisy = noisy_images(x, NoiseConfig(kind="gaussian", factor=0.5), seed=3)
    assert noisy.dtype == np.uint8 and noisy.shape == x.shape and (noisy != x).mean() > 0.5
    np.testing.assert_array_equal(noisy, noisy_images(x, NoiseConfig(kind="gaussian", factor=0.5), seed=3))
