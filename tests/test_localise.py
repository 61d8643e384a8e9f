"""`benchmark localise`: defects with masks where they changed the image, and the benchmark's files and CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from latentlab.benchmark.defects import KINDS, SIZES, changed, lit, make_defects
from latentlab.benchmark.localise import localise, markdown
from latentlab.cli import main
from latentlab.data.base import image_data


def test_each_kind_changes_the_image_where_its_mask_says(bars) -> None:
    x, y = bars[2], bars[3]
    d = make_defects(x, y, per_cell=3, seed=1)
    assert len(d.images) == len(KINDS) * len(SIZES) * 3
    assert d.images.shape[1:] == x.shape[1:] and d.masks.shape == d.images.shape
    for img, mask, row in zip(d.images, d.masks, d.source, strict=True):
        np.testing.assert_array_equal(mask, changed(x[row], img))
        assert mask.sum() >= 3
        assert (img[~mask].astype(int) - x[row][~mask]).__abs__().max() <= 25
    # Larger sizes change more of the image; erasing only darkens (the background of bars is black).
    for k in KINDS:
        small = d.masks[(d.kind == k) & (d.size == "small")].sum()
        large = d.masks[(d.kind == k) & (d.size == "large")].sum()
        assert large > small, k
    erased = d.kind == "erase"
    assert all((d.images[i].astype(int) <= x[d.source[i]]).all() for i in np.nonzero(erased)[0])


def test_defects_are_seeded_and_patches_come_from_another_class(bars) -> None:
    x, y = bars[2], bars[3]
    a, b = make_defects(x, y, ("patch",), ("large",), 5, seed=3), make_defects(x, y, ("patch",), ("large",), 5, 3)
    np.testing.assert_array_equal(a.images, b.images)
    assert not np.array_equal(a.images, make_defects(x, y, ("patch",), ("large",), 5, 4).images)
    with pytest.raises(ValueError, match="choose among patch, stroke"):
        make_defects(x, y, ("scratch",))
    with pytest.raises(ValueError, match="lower per_cell"):
        make_defects(x, y, per_cell=100)


def test_colour_images_take_defects_too() -> None:
    rng = np.random.default_rng(0)
    x = np.zeros((40, 16, 12, 3), np.uint8)
    x[:, 4:12, 3:9] = rng.integers(100, 256, (40, 1, 1, 3), dtype=np.uint8)
    d = make_defects(x, None, per_cell=2)
    assert d.images.shape[1:] == (16, 12, 3) and d.masks.shape[1:] == (16, 12)
    assert lit(x[0]).sum() == 48


@pytest.fixture(scope="module")
def bars_result(bars, tmp_path_factory):
    data = image_data("bars", bars[0], bars[1], bars[2], bars[3], tuple(map(str, range(10))), "test fixture")
    out = tmp_path_factory.mktemp("localise")
    return localise(data, steps=20, per_cell=4, n_clean=40, out=out, progress=False), out


def test_the_result_has_every_kind_map_and_file(bars_result) -> None:
    result, out = bars_result
    assert set(result["per_kind"]) == set(KINDS)
    for k in KINDS:
        assert set(result["per_kind"][k]["maps"]) == {"combined", "neighbour", "hyperplane", "reconstruction"}
    saved = json.loads((out / "localise-bars.json").read_text())
    assert saved["mean"] == result["mean"]
    assert (out / "localise-bars.png").stat().st_size > 1000
    assert "another data set" in (out / "localise-bars.md").read_text()
    # Bars are simple: the pixel maps find a blot of noise and a pasted patch well above chance.
    assert result["per_kind"]["noise"]["maps"]["combined"]["pixel_auroc"] > 0.9
    assert result["image_auroc"]["all"] > 0.7
    assert markdown(result).count("| combined |") == 2


def test_the_default_maps_peak_is_an_image_score_beside_the_detectors(bars_result) -> None:
    result, out = bars_result
    peak = result["image_auroc_map_peak"]
    assert peak["map"] == "combined" and set(peak) == {"map", "all", "object_share>=0.05"}
    assert 0.5 < peak["all"] <= 1.0 and all(0 <= result["per_kind"][k]["image_auroc_map_peak"] <= 1 for k in KINDS)
    # a blot of noise is where the map peaks: its images are told from clean ones by the peak alone
    assert result["per_kind"]["noise"]["image_auroc_map_peak"] > 0.9
    md = (out / "localise-bars.md").read_text()
    row = next(line for line in md.splitlines() if line.startswith("| the combined map's peak"))
    assert row.endswith(f"| {100 * peak['all']:.1f} | {100 * peak['object_share>=0.05']:.1f} |")
    assert "| the default detector's score |" in md


def test_cli_smoke(bars, tmp_path, capsys) -> None:
    path = tmp_path / "bars.npz"
    np.savez(path, x=bars[0], y=bars[1], x_test=bars[2], y_test=bars[3])
    code = main(["benchmark", "localise", "--dataset", str(path), "--steps", "5", "--per-cell", "2", "--clean",
                 "20", "--quiet", "--out", str(tmp_path / "out")])
    assert code == 0
    text = capsys.readouterr().out
    assert "Pixel-level AUROC" in text and "localise-bars.json" in text
