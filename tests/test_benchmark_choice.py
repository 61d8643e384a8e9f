"""The one-class benchmark's default, chosen on a validation made of the training split (`benchmark.choice`): it
follows the view that wins on data built so that one view wins, it cannot see the test labels, it is written into
the JSON and the markdown, and it falls back to the detector's default where there is nothing to validate on."""

from __future__ import annotations

import json

import numpy as np
import pytest

from latentlab.benchmark import one_class
from latentlab.benchmark.choice import CANDIDATES, FIXED, RULES, choose, other_class_images, validate
from latentlab.benchmark.tables import chosen_label, markdown
from latentlab.benchmark.task import DEFAULT
from latentlab.data.base import image_data
from latentlab.errors import ConfigError
from latentlab.models import build_model
from latentlab.presets import preset_config

# Four blocks with disjoint supports: on disjoint supports the square root of a sum of blocks is the sum of their
# square roots, so sums of blocks stay sums in the detector's views and the local hyperplane can follow them.
_BLOCKS = np.zeros((4, 28, 28))
_BLOCKS[0, 2:12, 2:12] = _BLOCKS[1, 2:12, 16:26] = _BLOCKS[2, 16:26, 2:12] = _BLOCKS[3, 17:25, 17:25] = 1


def _span(n: int, extra: float, rng: np.random.Generator) -> np.ndarray:
    """Sums of blocks 0-2 at random weights (a 3-D family), plus `extra` of block 3: off the family's hyperplane,
    but, for small `extra`, no farther from the nearest images than the family's images are from each other."""
    x = np.einsum("nk,khw->nhw", rng.uniform(0.1, 1, (n, 3)), _BLOCKS[:3]) + extra * _BLOCKS[3]
    return np.clip(x * 255 + rng.normal(0, 2, (n, 28, 28)), 0, 255).astype(np.uint8)


def _either(n: int, rng: np.random.Generator) -> np.ndarray:
    """Block 0 or block 1, bright (0.6-1)."""
    b = rng.uniform(0.6, 1.0, n)[:, None, None]
    return np.clip(b * _BLOCKS[rng.integers(0, 2, n)] * 255, 0, 255).astype(np.uint8)


def _both_faint(n: int, rng: np.random.Generator) -> np.ndarray:
    """Blocks 0 and 1 together, faint: in the affine hull of bright images of each (half of one plus half of the
    other), but far from every one of them."""
    c = rng.uniform(0.08, 0.12, n)[:, None, None]
    return np.clip(c * (_BLOCKS[0] + _BLOCKS[1]) * 255, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def model():
    return build_model(preset_config("mnist-deep").model)  # untrained: the compared scores do not use it


def test_where_the_hyperplane_clearly_wins_it_is_chosen(model):
    rng = np.random.default_rng(0)
    v = validate(model, _span(120, 0.0, rng), _span(120, 0.03, rng))
    assert (v["n_reference"], v["n_normal"], v["n_anomalous"]) == (96, 24, 120)
    auroc = v["auroc"]
    assert auroc["hyperplane"] == pytest.approx(0.938, abs=0.02)
    assert auroc["pixel-knn"] == pytest.approx(0.731, abs=0.03)
    assert auroc["pixel-knn"] < auroc["combined"] < auroc["hyperplane"]
    assert choose([{"class": 0, "validation": v}])["chosen"] == "hyperplane"


def test_where_the_hyperplane_loses_it_is_not_chosen(model):
    rng = np.random.default_rng(0)
    v = validate(model, _either(120, rng), _both_faint(120, rng))
    auroc = v["auroc"]
    assert auroc["hyperplane"] == pytest.approx(0.868, abs=0.03)
    assert auroc["pixel-knn"] == 1.0 and auroc["combined"] == 1.0
    # a tie goes to the first candidate: the detector's own default
    assert choose([{"class": 0, "validation": v}])["chosen"] == "combined" == CANDIDATES[0]


def test_the_data_sets_choice_is_the_best_mean_over_its_classes():
    per_class = [{"combined": 0.90, "pixel-knn": 0.99, "hyperplane": 0.80},  # pixel-knn wins one class...
                 {"combined": 0.95, "pixel-knn": 0.85, "hyperplane": 0.97}]  # ...but not the mean (0.92 < 0.925)
    picked = choose([{"class": c, "validation": {"auroc": a}} for c, a in enumerate(per_class)], "data-set")
    assert picked["chosen"] == "combined" and picked["fallback"] is None
    assert picked["per_class"] == ["combined", "combined"]
    assert picked["validation"]["pixel-knn"] == {"per_class": [0.99, 0.85], "mean": pytest.approx(0.92)}
    own = choose([{"class": c, "validation": {"auroc": a}} for c, a in enumerate(per_class)])  # the default
    assert own["per_class"] == ["pixel-knn", "hyperplane"] and own["chosen"] == "per class"
    agreed = choose([{"class": c, "validation": {"auroc": per_class[1]}} for c in range(2)])
    assert agreed["per_class"] == ["hyperplane"] * 2 and agreed["chosen"] == "hyperplane"  # one name when all agree
    assert own["rule"] == RULES["per-class"] and own["validation"] == picked["validation"]


def test_nothing_to_validate_on_keeps_the_detectors_default(model):
    rng = np.random.default_rng(0)
    x = _span(120, 0.0, rng)
    assert validate(model, x, None) == {"fallback": "0 training images of other classes (a validation needs 20)"}
    lone = validate(model, x, x[:5])
    picked = choose([{"class": 3, "validation": lone}])
    assert picked["chosen"] == FIXED == "combined" and picked["validation"] == {} and picked["per_class"] == [FIXED]
    assert picked["fallback"] == ("no validation for class 3 (5 training images of other classes (a validation "
                                  "needs 20)): the detector's default, combined, is kept")
    fixed = choose([{"class": 0, "validation": {"auroc": dict.fromkeys(CANDIDATES, 0.5)}}], "fixed")
    assert fixed["chosen"] == "combined" and "fixed" in fixed["fallback"]


def test_the_other_class_images_are_a_seeded_draw_of_other_classes_only():
    x = np.arange(50, dtype=np.uint8).reshape(50, 1, 1).repeat(2, 1)
    y = np.arange(50) % 5
    drawn = other_class_images(x, y, 2, n=12)
    assert len(drawn) == 12 and not np.any(drawn[:, 0, 0] % 5 == 2)
    assert np.array_equal(drawn, other_class_images(x, y, 2, n=12))  # the same draw each time
    assert len(other_class_images(x, y, 2)) == 40  # all of them when there are fewer than asked


def _data(permute: bool):
    rng = np.random.default_rng(1)
    x = np.concatenate([_span(110, 0.0, rng), _span(110, 0.03, rng)])
    x_test = np.concatenate([_span(40, 0.0, rng), _span(40, 0.03, rng)])
    y, y_test = np.repeat([0, 1], 110), np.repeat([0, 1], 40)
    if permute:
        y_test = np.random.default_rng(2).permutation(y_test)
    return image_data("blocks", x, y, x_test, y_test, ("family", "off"), "synthetic blocks")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("choice")
    true = one_class(_data(False), steps=2, classes=[0], out=out, progress=False)
    return true, one_class(_data(True), steps=2, classes=[0], progress=False), out


def test_the_choice_does_not_move_when_the_test_labels_are_permuted(runs):
    true, permuted, _ = runs
    assert true["choice"] == permuted["choice"] and true["choice"]["chosen"] == "hyperplane"
    assert true["results"][0]["validation"] == permuted["results"][0]["validation"]
    # while the test results do move: the permuted labels make the test set chance
    assert true["mean"]["hyperplane"]["auroc"] > 0.9 > 0.7 > permuted["mean"]["hyperplane"]["auroc"]


def test_the_json_and_markdown_carry_the_chosen_default_and_the_validation(runs):
    true, _, out = runs
    saved = json.loads((out / "one-class-blocks.json").read_text())
    picked = saved["choice"]
    assert picked["chosen"] == "hyperplane" and picked["rule"] == RULES["per-class"] and picked["rule"] in \
        saved["protocol"]
    assert set(picked["validation"]) == set(CANDIDATES) and saved["request"]["score_choice"] == "per-class"
    assert picked["validation"]["hyperplane"]["per_class"] == [saved["results"][0]["validation"]["auroc"]["hyperplane"]]
    md = (out / "one-class-blocks.md").read_text()
    test_auroc = 100 * true["mean"]["hyperplane"]["auroc"]
    assert f"| default (chosen on the training split: hyperplane) | {test_auroc:.1f} | {test_auroc:.1f} |" in md
    assert f"| latentlab default (combined) | {100 * true['mean'][DEFAULT]['auroc']:.1f} |" in md  # kept
    assert "## The default's choice" in md and "| validation AUROC (%) | family | mean |" in md
    val = 100 * picked["validation"]["pixel-knn"]["mean"]
    assert f"| pixel-knn | {val:.2f} | {val:.2f} |" in md and "| chosen | hyperplane | hyperplane |" in md


def test_a_per_class_choice_a_fixed_one_and_an_unknown_one(runs):
    true, _, _ = runs
    combined = 100 * true["mean"][DEFAULT]["auroc"]
    fixed = {**true, "choice": choose(true["results"], "fixed")}
    assert f"| default (fixed: combined) | {combined:.1f} | {combined:.1f} |" in markdown(fixed)
    assert "Not chosen: --score-choice fixed" in markdown(fixed)
    own = {**true, "choice": choose(true["results"], "per-class")}  # one class: its own choice is named
    assert "| default (chosen on the training split: hyperplane) |" in markdown(own)
    mixed = {"choice": {**own["choice"], "per_class": ["hyperplane", "pixel-knn"], "chosen": "per class"}}
    assert chosen_label(mixed) == "default (chosen per class on the training split)"
    with pytest.raises(ConfigError) as err:
        one_class(_data(False), steps=2, score_choice="best", progress=False)
    assert err.value.field == "score_choice" and err.value.allowed == ("per-class", "data-set", "fixed")
