"""Pixel AUROC and AUPRO against cases worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from latentlab.benchmark.pixel_metrics import aupro, pixel_auroc, pro_curve, regions


def row(*values: float) -> np.ndarray:
    return np.array(values, np.float64)[None, None, :]


def test_a_perfect_and_a_reversed_map() -> None:
    mask = row(1, 1, 0, 0).astype(bool)
    assert aupro(row(4, 3, 2, 1), mask) == 1.0
    assert aupro(row(1, 2, 4, 3), mask) == 0.0
    assert pixel_auroc(row(4, 3, 2, 1), mask) == 1.0


def test_regions_count_alike_whatever_their_size() -> None:
    # Regions {0} and {2, 3, 4}; negatives 1 and 5. The small region is found first, then a third of the large one:
    # PRO = (1 + 1/3) / 2 = 2/3 before any false positive, and it stays there up to FPR 1.
    mask = row(1, 0, 1, 1, 1, 0).astype(bool)
    values = row(0.9, 0.5, 0.8, 0.1, 0.1, 0.2)
    fpr, pro = pro_curve(values, mask)
    np.testing.assert_allclose(fpr, [0, 0, 0, 0.5, 1, 1])
    np.testing.assert_allclose(pro, [0, 0.5, 2 / 3, 2 / 3, 2 / 3, 1])
    assert aupro(values, mask) == pytest.approx(2 / 3)
    assert pixel_auroc(values, mask) == pytest.approx(0.5)  # by pixels the large region's misses weigh more


def test_the_curve_is_interpolated_at_the_limit() -> None:
    mask = row(1, 0, 0, 0, 0).astype(bool)
    # Negatives at FPR steps of 0.25: the region is found at FPR 0.25, so PRO is 1 over [0.25, 0.3]: 0.05 / 0.3.
    assert aupro(row(3.5, 4, 3, 2, 1), mask) == pytest.approx(1 / 6)
    assert aupro(row(2.5, 4, 3, 2, 1), mask) == pytest.approx(0.0)


def test_a_constant_map_is_the_diagonal() -> None:
    mask = row(1, 0, 0, 1, 0).astype(bool)
    assert aupro(np.zeros((1, 1, 5)), mask) == pytest.approx(0.15)


def test_regions_are_eight_connected_and_per_image() -> None:
    masks = np.zeros((2, 4, 4), bool)
    masks[0, 0, 0] = masks[0, 1, 1] = True  # diagonal neighbours: one region
    masks[0, 3, 3] = True
    masks[1, 0, 0] = True  # the same place in another image: another region
    lab = regions(masks)
    assert lab.max() == 3 and lab[0, 0, 0] == lab[0, 1, 1] != lab[0, 3, 3] and lab[1, 0, 0] not in (0, lab[0, 0, 0])


def test_no_regions_is_refused_and_auroc_is_nan_without_positives() -> None:
    with pytest.raises(ValueError, match="region"):
        aupro(np.zeros((1, 2, 2)), np.zeros((1, 2, 2), bool))
    assert np.isnan(pixel_auroc(np.zeros((1, 2, 2)), np.zeros((1, 2, 2), bool)))
