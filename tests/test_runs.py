import json
from pathlib import Path

import pytest
import torch

from latentlab.config import override
from latentlab.presets import preset_config
from latentlab.runs import RunError, load_run
from latentlab.training import train


@pytest.fixture(scope="module")
def run_dir(bars, tmp_path_factory):
    x_train, _, x_test, _ = bars
    cfg = override(preset_config("mnist-vae"), {"train.epochs": 1, "model.hidden": [16]})
    path = tmp_path_factory.mktemp("runs") / "vae"
    train(cfg, x_train, x_test, path, quiet=True, meta={"dataset": "bars"})
    return path


def copy(run_dir, tmp_path):
    import shutil

    dst = tmp_path / "copy"
    shutil.copytree(run_dir, dst)
    return dst


def test_run_directory_layout(run_dir):
    names = {p.name for p in run_dir.iterdir()}
    assert {"config.json", "model.safetensors", "optimizer.safetensors", "history.jsonl", "meta.json"} <= names
    assert not [n for n in names if n.endswith(".tmp")]
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["status"] == "finished" and meta["seed"] == 0 and "torch" in meta["versions"]
    assert set(meta["files"]) == {"model.safetensors", "optimizer.safetensors"}


def test_load_run_rebuilds_an_identical_model(run_dir, bars):
    run = load_run(run_dir)
    again = load_run(run_dir)
    x = torch.from_numpy(bars[2][:8]).float().div(255).unsqueeze(1)
    assert torch.equal(run.model.encode(x), again.model.encode(x))
    assert run.config.model.kind == "vae" and not run.model.training


@pytest.mark.parametrize("damage", ["flip", "truncate", "garbage"])
def test_tampered_or_truncated_weights_are_a_clear_error(run_dir, tmp_path, damage):
    d = copy(run_dir, tmp_path)
    f = d / "model.safetensors"
    data = bytearray(f.read_bytes())
    if damage == "flip":
        data[-5] ^= 0xFF
    elif damage == "truncate":
        data = data[: len(data) // 2]
    else:
        data = bytearray(b"\x80\x04not a safetensors file")
    f.write_bytes(bytes(data))
    with pytest.raises(RunError, match="model.safetensors") as info:
        load_run(d)
    assert "retrain" in str(info.value)


def test_pickle_files_are_never_loaded(run_dir, tmp_path):
    d = copy(run_dir, tmp_path)
    (d / "model.safetensors").unlink()
    torch.save({"evil": 1}, d / "model.pt")
    with pytest.raises(RunError, match="missing"):
        load_run(d)


@pytest.mark.parametrize(("name", "content", "match"), [
    ("config.json", "{not json", "not valid JSON"),
    ("config.json", json.dumps({"model": {"kind": "gan"}}), "model.kind"),
    ("meta.json", "", "not valid JSON"),
])
def test_damaged_json_is_a_clear_error(run_dir, tmp_path, name, content, match):
    d = copy(run_dir, tmp_path)
    (d / name).write_text(content)
    with pytest.raises(RunError, match=match):
        load_run(d)


def test_not_a_run_directory(tmp_path):
    with pytest.raises(RunError, match="not a directory"):
        load_run(tmp_path / "nope")
    with pytest.raises(RunError, match="meta.json is missing"):
        load_run(tmp_path)


def test_runs_from_a_newer_format_are_refused(run_dir, tmp_path):
    d = copy(run_dir, tmp_path)
    meta = json.loads((d / "meta.json").read_text())
    meta["format"] = 99
    (d / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(RunError, match="newer latentlab"):
        load_run(d)


def test_weights_of_another_model_than_the_config_are_a_run_error_saying_what_differs(run_dir, tmp_path):
    d = copy(run_dir, tmp_path)
    cfg = json.loads((d / "config.json").read_text())
    cfg["model"]["latent_dim"] = 3
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(RunError, match=r"holds weights of another model than .*config.json describes .*latent_dim 3\):"
                                       r".* heads.weight has shape \[4, 16\] in model.safetensors, \[6, 16\] from "
                                       r"config.json.*retrain the run"):
        load_run(d)
    cfg["model"]["kind"] = "dense"  # other layer names altogether
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(RunError, match=r"model.safetensors lacks encoder.1.2.weight.*model.safetensors has "
                                       r"heads.bias, heads.weight that "):
        load_run(d)


def test_a_run_trained_on_in_memory_arrays_never_downloads_the_configs_dataset(bars, tmp_path, monkeypatch):
    from dataclasses import replace

    import numpy as np

    from latentlab.data.registry import DATASETS
    from latentlab.errors import DatasetError
    from latentlab.runs import load_run_data

    # No copy of MNIST anywhere this test can see, and any download attempt fails it.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setitem(DATASETS, "mnist", replace(DATASETS["mnist"], system_dirs=()))
    cfg = override(preset_config("mnist-simple"), {"train.epochs": 1, "train.device": "cpu"})  # dataset "mnist"
    train(cfg, bars[0], bars[2], tmp_path / "run", quiet=True)
    run = load_run(tmp_path / "run")
    assert run.meta["data_source"] == "in-memory arrays"

    def no_download(*args, **kwargs):
        raise AssertionError("downloaded")

    monkeypatch.setattr("latentlab.data.download.download", no_download)
    with pytest.raises(DatasetError, match=r"trained on in-memory arrays .*dataset='mnist' is not on this machine "
                                           r"and is not downloaded.*pass dataset=NAME_OR_PATH"):
        load_run_data(run, data_dir=tmp_path)
    np.savez(tmp_path / "bars.npz", x=bars[0], y=bars[1], x_test=bars[2], y_test=bars[3])
    data = load_run_data(run, dataset=str(tmp_path / "bars.npz"))
    assert data.x_test.shape == bars[2].shape


def test_an_in_memory_run_takes_a_local_copy_of_its_configs_dataset_only_if_it_trained_on_it(bars, tmp_path):
    # Fault: a Fashion-MNIST preset trained from Python on digits was judged against the Fashion-MNIST on disk
    # (its config's dataset), so a clear digit came out "not part of the data set". The run records its training
    # images' digest; a local copy is taken only when it holds those images.
    from latentlab.data import load_dataset
    from latentlab.errors import DatasetError
    from latentlab.runs import load_run_data

    sample = load_dataset("mnist-sample", progress=False)
    cfg = override(preset_config("mnist-simple"), {"train.epochs": 1, "train.device": "cpu",
                                                   "dataset": "mnist-sample"})
    train(cfg, bars[0], bars[2], tmp_path / "other", quiet=True)
    with pytest.raises(DatasetError, match=r"in-memory arrays .*, not on the training images of its config's "
                                           r"dataset='mnist-sample'.*pass dataset=NAME_OR_PATH"):
        load_run_data(load_run(tmp_path / "other"))
    train(cfg, sample.x_train, sample.x_test[:200], tmp_path / "same", quiet=True)
    assert load_run_data(load_run(tmp_path / "same")).x_train.shape == sample.x_train.shape


def test_changing_a_runs_weights_removes_its_metrics_and_marks_its_exports_stale(run_dir, bars, tmp_path):
    from latentlab.runs import is_current
    from latentlab.web.service import headline_metrics

    d = copy(run_dir, tmp_path)
    meta = json.loads((d / "meta.json").read_text())
    made_now = {"weights_sha256": meta["files"]["model.safetensors"], "reconstruction": {"mse_per_pixel": 0.5}}
    (d / "metrics.json").write_text(json.dumps(made_now))
    (d / "onnx").mkdir()
    (d / "onnx" / "model_card.json").write_text(json.dumps({"weights_sha256": made_now["weights_sha256"]}))
    assert headline_metrics(load_run(d))["source"] == "metrics.json"

    cfg = override(load_run(d).config, {"train.epochs": 2})
    train(cfg, bars[0], bars[2], d, resume=True, quiet=True, meta={"dataset": "bars"})
    run = load_run(d)
    assert not (d / "metrics.json").exists()
    assert headline_metrics(run)["source"] != "metrics.json"
    card = json.loads((d / "onnx" / "model_card.json").read_text())
    assert "the run's weights changed after this export" in card["stale"]
    # A metrics.json of other weights copied back in is not taken for this run's either.
    (d / "metrics.json").write_text(json.dumps(made_now))
    assert not is_current(made_now, run.meta) and headline_metrics(run)["source"] != "metrics.json"
    assert is_current({"reconstruction": {}}, run.meta)  # written before the digest was recorded: cannot tell


def test_the_tests_never_touch_the_users_cache(private_cache) -> None:
    # conftest's session fixture: every cache folder latentlab reads is under this session's tmp folder.
    import os

    from latentlab.analysis.novelty import run_cache_dir
    from latentlab.data import cache_dir

    class FakeRun:
        meta = {"files": {"model.safetensors": "ab" * 32}}

    assert os.environ["XDG_CACHE_HOME"] == str(private_cache)
    home = Path.home() / ".cache" / "latentlab"
    for folder in (cache_dir("mnist"), cache_dir("classifiers"), run_cache_dir(FakeRun())):
        assert private_cache in folder.parents and home not in folder.parents
    assert run_cache_dir(FakeRun()) == private_cache / "latentlab" / "runs" / ("ab" * 8)
