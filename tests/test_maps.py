"""Anomaly maps: shapes, units, the neighbours against a brute-force search, and the hull map's identity."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from latentlab.analysis.novelty._maps import (
    DEFAULT_MAP,
    MAP_SIGMA,
    MAPS,
    combined_map,
    explain_pixels,
    object_mask,
    per_pixel,
    reconstruction_map,
    summary,
)
from latentlab.analysis.novelty._pixel_views import K_HULL, K_NEAREST, soft, view_distances, views


@pytest.fixture(scope="module")
def vae_run_small(bars, tmp_path_factory: pytest.TempPathFactory):
    from latentlab.config import override
    from latentlab.presets import preset_config
    from latentlab.runs import load_run
    from latentlab.training import train

    run_dir: Path = tmp_path_factory.mktemp("maps") / "run"
    cfg = override(preset_config("mnist-vae"), {"train.epochs": 1})
    train(cfg, bars[0], None, run_dir, quiet=True)
    return load_run(run_dir)


def test_neighbours_are_the_brute_force_nearest_under_each_view(bars) -> None:
    x_train, _, x_test, _ = bars
    ref = x_train[:200]
    out = explain_pixels(x_test[:16], views(ref))
    a_q, a_r = soft(x_test[:16]).double(), soft(ref).double()
    d_a = torch.cdist(a_q, a_r)
    b_q = a_q / a_q.norm(dim=1, keepdim=True).sqrt()
    b_r = a_r / a_r.norm(dim=1, keepdim=True).sqrt()
    d_b = torch.cdist(b_q, b_r)
    for i in range(16):
        want_a = np.argsort(d_a[i].numpy(), kind="stable")[:K_NEAREST]
        assert set(out.neighbour_index[i]) == set(want_a)
        np.testing.assert_allclose(out.neighbour_distance[i], np.sort(d_a[i].numpy())[:K_NEAREST], atol=1e-4)
        assert set(out.hull_index[i]) == set(np.argsort(d_b[i].numpy(), kind="stable")[:K_HULL])
    assert out.neighbour_distance.shape == (16, K_NEAREST) and out.hull_index.shape == (16, K_HULL)


def test_maps_have_the_image_shape_and_add_up_to_the_detector_distances(bars) -> None:
    x_train, _, x_test, _ = bars
    ref_views = views(x_train)
    out = explain_pixels(x_test[:8], ref_views)
    for m in out.maps.values():
        assert m.shape == (8, 28, 28) and m.dtype == np.float32 and (m >= 0).all()
    stats = view_distances(views(x_test[:8]), ref_views)
    a_norm = soft(x_test[:8]).norm(dim=1).sqrt().numpy()
    # The hyperplane map, back in view B's units, is the residual whose norm the detector scores.
    hull = np.sqrt((out.maps["hyperplane"] ** 2).reshape(8, -1).sum(1)) / a_norm
    np.testing.assert_allclose(hull, stats["hull"], rtol=1e-4)
    # The neighbour map's units are view A's: never above 1.
    assert out.maps["neighbour"].max() <= 1.0
    np.testing.assert_allclose(out.neighbour_distance.mean(1), stats["pixel_knn"], rtol=1e-5)


def test_colour_maps_are_channels_last() -> None:
    rng = np.random.default_rng(0)
    ref = rng.integers(0, 256, (30, 12, 10, 3), dtype=np.uint8)
    out = explain_pixels(ref[:4], views(ref), skip=torch.arange(4))
    assert out.maps["neighbour"].shape == (4, 12, 10, 3)
    assert per_pixel(out.maps["neighbour"], colour=True).shape == (4, 12, 10)
    # Left out: no image is its own neighbour.
    assert not any(i in out.neighbour_index[i] for i in range(4))


def test_a_pasted_patch_lights_up_the_map_where_it_was_pasted(bars) -> None:
    x_train, _, x_test, _ = bars
    img = x_test[:1].copy()
    img[0, 2:9, 2:9] = 255  # a block in a corner, where no bar ever reaches
    out = explain_pixels(img, views(x_train))
    m = combined_map(out.maps["neighbour"], out.maps["hyperplane"])[0]
    inside = np.zeros((28, 28), bool)
    inside[1:10, 1:10] = True
    assert m[inside].mean() > 5 * m[~inside].mean()
    peak = summary(m, inside)["peak"]
    assert 1 <= peak[0] <= 9 and 1 <= peak[1] <= 9


def _kernel_centre(sigma: float) -> float:
    """The centre weight of a normalised 1-D Gaussian truncated at 4 sigma (scipy's), computed here from its formula."""
    r = int(4 * sigma + 0.5)
    return float(1 / np.exp(-np.arange(-r, r + 1) ** 2 / (2 * sigma**2)).sum())


@pytest.mark.parametrize("side", [28, 56])
def test_the_default_map_is_the_mean_of_the_two_blurred_by_a_sigma_that_scales_with_the_side(side: int) -> None:
    neighbour, hyperplane = np.zeros((2, side, side), np.float32), np.zeros((2, side, side), np.float32)
    neighbour[0, side // 2, side // 2] = 2.0  # the mean of the two maps is 1 at one pixel, far from the borders
    m = combined_map(neighbour, hyperplane)
    sigma = MAP_SIGMA * side / 28  # 1.5 px at 28 px, 3 px at 56 px
    assert m.dtype == np.float32 and m.shape == (2, side, side)
    assert m[0].sum() == pytest.approx(1.0, rel=1e-5)  # a weighted mean: the mass is kept
    assert m[0].max() == m[0, side // 2, side // 2] == pytest.approx(_kernel_centre(sigma) ** 2, rel=1e-5)
    assert not m[1].any()  # images are blurred apart


def test_the_default_map_blurs_colour_channels_apart_and_takes_only_batches() -> None:
    n = np.zeros((1, 28, 28, 3), np.float32)
    n[0, 14, 14, 1] = 2.0
    m = combined_map(n, np.zeros_like(n))
    assert m[..., 1].sum() == pytest.approx(1.0, rel=1e-5) and not m[..., 0].any() and not m[..., 2].any()
    assert combined_map(np.zeros((0, 28, 28)), np.zeros((0, 28, 28))).shape == (0, 28, 28)
    with pytest.raises(ValueError, match=r"a batch of maps \(N, H, W\)"):
        combined_map(np.zeros((28, 28)), np.zeros((28, 28)))


def test_reconstruction_map_units_and_summary() -> None:
    x = np.zeros((1, 4, 4), np.uint8)
    x[0, 1, 1] = 255
    rec = np.zeros((1, 4, 4), np.float32)
    rec[0, 2, 2] = 0.5
    m = reconstruction_map(x, rec)
    assert m[0, 1, 1] == 1.0 and m[0, 2, 2] == 0.5 and m.sum() == 1.5
    s = summary(m[0], object_mask(x[0]))
    assert s["peak"] == [1, 1] and s["mass"] == 1.5
    assert s["in_object"] == 1.0  # (2, 2) is next to the lit pixel: the object widened by one pixel holds it
    s = summary(m[0], x[0] > 0)
    assert abs(s["in_object"] - 1 / 1.5) < 1e-9


def test_explain_neighbours_are_the_brute_force_nearest_with_their_labels(bars, vae_run_small) -> None:
    from latentlab.analysis.novelty import NoveltyDetector

    x_train, y_train, x_test, _ = bars
    det = NoveltyDetector(vae_run_small).fit(x_train)
    exps = det.explain(x_test[:6], labels=y_train)
    scores = det.score_samples(x_test[:6])
    a_q, a_r = soft(x_test[:6]).double(), soft(x_train).double()
    d = torch.cdist(a_q, a_r).numpy()
    for i, e in enumerate(exps):
        near = e.neighbours["pixel-knn"]
        assert near["index"] == list(np.argsort(d[i], kind="stable")[:K_NEAREST])
        np.testing.assert_allclose(near["distance"], np.sort(d[i])[:K_NEAREST], atol=1e-4)
        assert near["label"] == [int(y_train[j]) for j in near["index"]]
        np.testing.assert_array_equal(e.nearest_images[0], x_train[near["index"][0]])
        # The contributions add up to the score; the maps are in the image's shape.
        assert sum(e.contributions.values()) == pytest.approx(scores[i], abs=1e-9)
        assert set(e.contributions) == {"pixel-knn", "hyperplane", "model veto"}
        assert {k: v.shape for k, v in e.maps.items()} == {k: (28, 28) for k in MAPS}
        assert e.member == (scores[i] >= det.offset_)
        s = e.summary()
        assert set(s["maps"][DEFAULT_MAP]) == {"peak", "peak_value", "mass", "in_object"}
        json.dumps(s)  # plain data


def test_explain_of_no_images_is_an_empty_list(bars, vae_run_small) -> None:
    from latentlab.analysis.novelty import NoveltyDetector

    x_train, _, x_test, _ = bars
    det = NoveltyDetector(vae_run_small).fit(x_train)
    assert det.explain(x_test[:0]) == []


def test_explain_maps_a_subset_of_references_back_to_training_rows(bars, vae_run_small, monkeypatch) -> None:
    from latentlab.analysis.novelty import NoveltyDetector, _detector

    monkeypatch.setattr(_detector, "MAX_REFERENCE", 300)
    x_train, y_train, x_test, _ = bars
    det = NoveltyDetector(vae_run_small).fit(x_train)
    e = det.explain(x_test[:2], labels=y_train)[0]
    rows = e.neighbours["pixel-knn"]["index"]
    np.testing.assert_array_equal(e.nearest_images, x_train[rows])
    d = torch.cdist(soft(x_test[:1]).double(), soft(x_train[rows]).double()).numpy()[0]
    np.testing.assert_allclose(e.neighbours["pixel-knn"]["distance"], d, atol=1e-4)


def test_labels_name_neighbours_only_for_the_images_the_detector_was_fitted_on(bars, vae_run_small) -> None:
    from latentlab.analysis.novelty import NoveltyDetector, fitted_labels
    from latentlab.data.base import image_data

    x_train, y_train, x_test, y_test = bars
    det = NoveltyDetector(vae_run_small).fit(x_train)
    same = image_data("bars", x_train, y_train, x_test, y_test, tuple("0123456789"), "test")
    other = image_data("bars", x_train[::-1], y_train[::-1], x_test, y_test, tuple("0123456789"), "test")
    assert fitted_labels(det, same) is y_train or np.array_equal(fitted_labels(det, same), y_train)
    assert fitted_labels(det, other) is None and fitted_labels(det, None) is None
