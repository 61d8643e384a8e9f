"""The one-class benchmark: its protocol on data whose answer is known, its files, its published rows (data, quoted
only beside their own data set), its errors and its command."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import make_images, square_or_noise
from latentlab.analysis.novelty import valid_scores
from latentlab.benchmark import one_class
from latentlab.benchmark.harness import registered_name
from latentlab.benchmark.published import FASHION, MNIST, PUBLISHED, published_rows
from latentlab.benchmark.tables import markdown, table
from latentlab.benchmark.task import DEFAULT, KNN, epochs_for
from latentlab.cli import main
from latentlab.data.base import image_data
from latentlab.errors import ConfigError, DatasetError
from latentlab.figures.benchmark import one_class_figure
from latentlab.models import build_model
from latentlab.presets import preset_config

STEPS = 10  # a few optimizer steps: the toy data needs no more


@pytest.fixture(scope="module")
def toy_run(one_class_npz, tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    return one_class(one_class_npz, steps=STEPS, out=out, progress=False), out


def test_a_trivially_separable_class_scores_auroc_one(toy_run):
    result, _ = toy_run
    first = result["results"][0]
    assert first["class"] == 0 and first["n_train"] == 120 and first["n_test_normal"] == 40
    assert first["n_test_anomalous"] == 80
    assert first["scores"][DEFAULT]["auroc"] == 1.0 and first["baselines"][KNN]["auroc"] == 1.0
    assert first["scores"][DEFAULT]["aupr"] == 1.0
    # one entry per single score that applies to the model, besides the default detector
    model_scores = valid_scores(build_model(preset_config("mnist-deep").model))
    assert set(first["scores"]) == {DEFAULT, *model_scores} - {first["default_score"]}


def test_the_json_and_markdown_are_written_with_their_keys(toy_run):
    result, out = toy_run
    saved = json.loads((out / "one-class-toy.json").read_text())
    assert {"benchmark", "dataset", "settings", "results", "mean", "published", "machine", "wall_s",
            "protocol", "files"} <= set(saved)
    assert {"cpu", "cores", "torch", "device"} <= set(saved["machine"])
    assert {"class", "name", "scores", "baselines", "epochs", "optimizer_steps", "wall_s"} <= set(saved["results"][0])
    assert saved["settings"]["classes"] == [0, 1, 2] and saved["settings"]["steps"] == STEPS
    assert set(saved["mean"]) == set(saved["settings"]["scores"]) | {KNN}
    assert saved["published"] == []  # a user's data set gets no published rows
    # n_train is 120 for each class: said once, not as "120-120"; three classes are "the 3 classes run"
    assert "(120 here)" in saved["protocol"] and "means over the 3 classes run" in saved["protocol"]
    md = (out / "one-class-toy.md").read_text()
    assert "| method | 0 | 1 | 2 | mean | source and notes |" in md
    assert "latentlab default (" in md and "raw-pixel 5-NN distance" in md and "## AUPR" in md
    assert (out / "one-class-toy.png").stat().st_size > 5000


def test_shuffled_labels_give_chance_for_the_pixel_knn():
    x, _ = make_images(600, seed=3)
    y = np.random.default_rng(0).integers(0, 3, 600)  # "normal" is a random subset of the images
    data = image_data("shuffled", x[:450], y[:450], x[450:], y[450:], ("a", "b", "c"), "synthetic bars")
    result = one_class(data, steps=2, progress=False)
    for r in result["results"]:
        assert abs(r["baselines"][KNN]["auroc"] - 0.5) < 0.15, r


def test_published_rows_are_data_with_sources():
    geom = next(r for r in FASHION if r.method == "GEOM")
    assert geom.mean == 93.5 and geom.per_class[6] == 83.3
    for row in (*FASHION, *MNIST):
        assert row.source and row.dataset in PUBLISHED
        if row.per_class is not None:  # the transcribed per-class values agree with the printed mean
            assert len(row.per_class) == 10 and abs(np.mean(row.per_class) - row.mean) <= 0.1, row.method
        assert ("as reported in" in row.citation()) == bool(row.reported_in)
    assert "hindsight" in next(r for r in FASHION if r.method == "RAW-OC-SVM").citation()
    assert published_rows("mnist-sample") == MNIST and published_rows("fashion-mnist") == FASHION
    assert published_rows("toy") == () and published_rows("") == ()


def test_fashion_results_carry_fashion_rows_only():
    x, y = square_or_noise(120, n_classes=2)
    data = image_data("fashion-mnist-sample", x, y, x, y, ("T-shirt/top", "Trouser"), "bundled sample",
                      is_sample=True)
    result = one_class(data, classes=[0], steps=2, progress=False)
    assert {r["dataset"] for r in result["published"]} == {"fashion-mnist"}
    assert next(r for r in result["published"] if r["method"] == "GEOM")["mean"] == 93.5
    header, rows = table(result)
    geom = next(r for r in rows if r[0] == "GEOM")
    assert header[1] == "T-shirt/top" and geom[1] == "99.4" and geom[2] == "99.4*"
    text = markdown(result)
    assert "Deep SVDD" not in text and "OCGAN" not in text and "as reported in later papers" in text
    # a user's file named like a registered data set is not that data set
    assert registered_name(image_data("mnist", x, y, x, y, ("a", "b"), "npz file ./mnist.npz")) is None


def test_unlabelled_data_is_a_dataset_error(tmp_path, capsys):
    path = tmp_path / "unlabelled.npz"
    np.savez(path, x=np.zeros((200, 28, 28), np.uint8))
    with pytest.raises(DatasetError, match="no labels"):
        one_class(str(path), steps=1, progress=False)
    assert main(["benchmark", "one-class", "--dataset", str(path), "--quiet", "--out", str(tmp_path)]) == 2
    assert "no labels" in capsys.readouterr().err


def test_bad_arguments_name_the_argument(one_class_npz):
    with pytest.raises(ConfigError, match=r"classes=\[7\].*0 \(0\), 1 \(1\), 2 \(2\)"):
        one_class(one_class_npz, classes=[7], progress=False)
    with pytest.raises(ConfigError, match="steps=0"):
        one_class(one_class_npz, steps=0, progress=False)
    with pytest.raises(ConfigError, match="preset='mnist-gan'"):
        one_class(one_class_npz, preset="mnist-gan", progress=False)
    with pytest.raises(ConfigError, match="seeds=3 is invalid.*three models per class"):
        one_class(one_class_npz, seeds=3, progress=False)
    with pytest.raises(ConfigError) as info:
        one_class(one_class_npz, classes=[7], progress=False)
    assert (info.value.field, info.value.value) == ("classes", [7])


def test_cli_smoke_with_selected_classes(one_class_npz, tmp_path, capsys):
    argv = ["benchmark", "one-class", "--dataset", one_class_npz, "--classes", "0", "2", "--steps", "3",
            "--out", str(tmp_path), "--quiet", "--jobs", "2"]
    assert main([*argv, "--score-choice", "data-set"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("AUROC (%), toy") and "raw-pixel 5-NN distance" in out
    assert "default (chosen on the training split: " in out
    saved = json.loads((tmp_path / "one-class-toy.json").read_text())
    assert [r["class"] for r in saved["results"]] == [0, 2] and saved["settings"]["jobs"] == 2
    assert saved["command"].startswith("latentlab benchmark one-class --dataset")
    assert saved["command"].endswith("--score-choice data-set") and saved["choice"]["mode"] == "data-set"
    assert main([*argv[:5], "0,9", *argv[7:]]) == 2  # commas work as spaces do
    assert "--classes" in capsys.readouterr().err
    assert main([*argv, "--seeds", "0"]) == 2
    assert "--seeds 0 is invalid" in capsys.readouterr().err


def test_the_benchmark_is_reachable_from_the_package():
    import latentlab

    assert latentlab.benchmark.one_class is one_class and "benchmark" in dir(latentlab)


def test_training_length_is_a_number_of_steps():
    assert epochs_for(470, 6000, 256) == 20 and epochs_for(470, 850, 256) == 118
    assert epochs_for(470, 100_000, 256) == 2 and epochs_for(1, 10, 256) == 1


def test_the_chart_takes_arrays():
    fig = one_class_figure(["0", "1", "mean"], {"ours": [90.0, 80.0, 85.0], "paper": [None, 95.0, None]})
    assert len(fig.axes[0].patches) == 6
    with pytest.raises(ValueError, match="2 values for 3 groups"):
        one_class_figure(["0", "1", "mean"], {"ours": [90.0, 80.0]})


@pytest.mark.slow
def test_two_jobs_give_what_one_job_gives(one_class_npz, tmp_path):
    """Classes as runner tasks in two worker processes: the same numbers as one after another, at the same torch
    thread count (sums split by thread count differ in the last bits otherwise)."""
    from latentlab.benchmark import one_class

    one = one_class(one_class_npz, classes=[0, 1], steps=5, jobs=1, threads=1, progress=False)
    two = one_class(one_class_npz, classes=[0, 1], steps=5, jobs=2, threads=1, progress=False)
    assert [r["scores"] for r in one["results"]] == [r["scores"] for r in two["results"]]
    assert two["settings"]["ran"] == "as runner tasks"
