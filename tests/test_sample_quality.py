"""The sample-quality classifier, its cache, classifier-FID and class agreement (latentlab.analysis.sample_quality)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from latentlab.analysis import sample_quality as sq
from latentlab.data.base import image_data
from latentlab.errors import ConfigError, DatasetError


@pytest.fixture(scope="module")
def bars_data(bars):
    x_train, y_train, x_test, y_test = bars
    return image_data("bars", x_train, y_train, x_test, y_test, tuple(f"{18 * k} deg" for k in range(10)), "test")


@pytest.fixture(scope="module")
def trained(bars_data, tmp_path_factory):
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cache = tmp_path_factory.mktemp("classifiers")
        return sq.classifier_for(bars_data, cache=cache, epochs=8), cache
    finally:
        torch.set_num_threads(threads)


def test_classifier_reaches_a_floor_on_the_bars(trained, bars_data):
    clf, _ = trained
    assert clf.how == "trained"
    # Ten bar angles 18 degrees apart: 8 epochs of 512 images separate them (measured 0.98; 4 epochs: 0.70).
    assert clf.test_accuracy >= 0.9
    assert clf.test_accuracy == pytest.approx(float((clf.predict(bars_data.x_test) == bars_data.y_test).mean()))
    assert clf.features(bars_data.x_test[:7]).shape == (7, sq.FEATURES)


def test_second_call_is_a_cache_hit_with_the_same_weights(trained, bars_data):
    clf, cache = trained
    again = sq.classifier_for(bars_data, cache=cache, epochs=8)
    assert again.how == "cached" and again.path == clf.path
    assert again.test_accuracy == clf.test_accuracy
    np.testing.assert_array_equal(again.features(bars_data.x_test), clf.features(bars_data.x_test))
    info = json.loads((clf.path / sq.INFO).read_text())
    assert info["digest"] == sq.data_digest(bars_data) and (clf.path / sq.WEIGHTS).is_file()
    assert not list(clf.path.glob("*.pt")) and not list(clf.path.glob("*.pkl"))


def test_other_data_is_a_miss(bars_data):
    changed = replace(bars_data, y_train=np.roll(bars_data.y_train, 1))
    assert sq.data_digest(changed) != sq.data_digest(bars_data)
    with pytest.raises(DatasetError, match="labels"):
        sq.data_digest(replace(bars_data, y_test=None))


def test_fid_of_the_test_split_against_itself_is_zero_and_against_noise_large(trained, bars_data):
    clf, _ = trained
    x = bars_data.x_test
    assert sq.classifier_fid(clf, x, x) == pytest.approx(0.0, abs=1e-6)
    noise = np.random.default_rng(0).integers(0, 256, x.shape, dtype=np.uint8)
    half = sq.classifier_fid(clf, bars_data.x_train[:256], x)  # other images of the same classes
    assert sq.classifier_fid(clf, noise, x) > 10 * max(half, 1e-3)
    # Float images in [0, 1] (what a decoder gives) are the same images as their uint8 form.
    assert sq.classifier_fid(clf, x.astype(np.float32) / 255, x) == pytest.approx(0.0, abs=1e-6)


def test_frechet_distance_matches_the_closed_form_of_two_gaussians():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 1, (20_000, 3))
    b = rng.normal(0, 2, (20_000, 3)) + np.array([1.0, 0, 0])
    # N(0, I) against N(m, 4I): |m|^2 + tr(I + 4I - 2*2I) = 1 + 3 = 4
    assert sq.frechet_distance(a, b) == pytest.approx(4.0, rel=0.03)
    from scipy.linalg import sqrtm

    sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    ref = ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(sa + sb - 2 * np.real(sqrtm(sa @ sb)))
    assert sq.frechet_distance(a, b) == pytest.approx(ref, rel=1e-9)
    with pytest.raises(ConfigError, match="same width|one width"):
        sq.frechet_distance(a, b[:, :2])


def test_class_agreement_counts_each_class(trained, bars_data):
    clf, _ = trained
    x, y = bars_data.x_test, bars_data.y_test
    right = sq.class_agreement(clf, x, y)
    assert right["mean"] >= 0.9 and set(right["per_class"]) <= set(bars_data.classes)
    wrong = sq.class_agreement(clf, x, (y + 5) % 10)
    assert wrong["mean"] <= 0.1 and wrong["min"] <= wrong["mean"]
    with pytest.raises(ConfigError, match="labels"):
        sq.class_agreement(clf, x, y[:3])
