"""latentlab.runner.sweeps and `latentlab sweep`: grid x seeds as tasks, one table of mean ± std per grid point."""

from __future__ import annotations

import argparse
import json

import pytest

from latentlab.cli import main
from latentlab.cli.arg_types import parse_grid
from latentlab.errors import ConfigError
from latentlab.runner.sweeps import grid_points, sweep

TINY = {"train.batch_size": 512}


def test_grid_points_are_every_combination_in_order() -> None:
    points = grid_points({"train.lr": [1e-3, 3e-3], "model.latent_dim": [2, 8]})
    assert points == [(("train.lr", 1e-3), ("model.latent_dim", 2)), (("train.lr", 1e-3), ("model.latent_dim", 8)),
                      (("train.lr", 3e-3), ("model.latent_dim", 2)), (("train.lr", 3e-3), ("model.latent_dim", 8))]
    for grid, message in [({}, "grid is empty"), ({"train.seed": [1, 2]}, "seeds come from seeds=N"),
                          ({"train.lr": []}, "non-empty list"), ({"train.lr": "1e-3"}, "non-empty list")]:
        with pytest.raises(ConfigError, match=message):
            grid_points(grid)


def test_set_grid_parses_numbers_lists_and_names() -> None:
    assert parse_grid("train.lr=1e-3,3e-3") == ("train.lr", [1e-3, 3e-3])
    assert parse_grid("model.hidden=[128,64],[256]") == ("model.hidden", [[128, 64], [256]])
    assert parse_grid("train.schedule=none,cosine") == ("train.schedule", ["none", "cosine"])
    with pytest.raises(argparse.ArgumentTypeError):
        parse_grid("train.lr")


def test_sweep_writes_one_row_per_grid_point_and_reuses_its_runs(tmp_path, capsys) -> None:
    args = ["sweep", "mnist-simple", "--dataset", "mnist-sample", "--set-grid", "train.lr=1e-3,3e-3", "--seeds", "2",
            "--epochs", "1", "--set", "train.batch_size=512", "--jobs", "1", "--out", str(tmp_path), "--quiet"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    table = json.loads((tmp_path / "sweep.json").read_text())
    assert [row["params"] for row in table["rows"]] == [{"train.lr": 1e-3}, {"train.lr": 3e-3}]
    for row in table["rows"]:
        assert row["finished"] == 2 and row["failed"] == [] and len(row["val_loss"]["values"]) == 2
        assert row["val_loss"]["std"] > 0 and row["train_s"]["mean"] > 0 and row["units"] == "BCE per pixel"
    md = (tmp_path / "sweep.md").read_text()
    assert md in printed and md.count("| 2/2 |") == 2 and " ± " in md
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == [
        "lr=0.001_seed=0", "lr=0.001_seed=1", "lr=0.003_seed=0", "lr=0.003_seed=1"]
    weights = tmp_path / "runs" / "lr=0.001_seed=0" / "model.safetensors"
    before = weights.stat().st_mtime_ns
    assert main(args) == 0 and weights.stat().st_mtime_ns == before  # finished runs are reused
    assert json.loads((tmp_path / "sweep.json").read_text())["rows"] == table["rows"]


def test_sweep_names_the_flag_of_a_bad_field(tmp_path, capsys) -> None:
    args = ["sweep", "mnist-simple", "--dataset", "mnist-sample", "--set-grid", "train.nope=1,2", "--out",
            str(tmp_path), "--quiet"]
    assert main(args) == 2
    assert "unknown config field 'train.nope'" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="seeds=0"):
        sweep("mnist-simple", {"train.lr": [1e-3]}, seeds=0, dataset_name="mnist-sample", out=tmp_path)


@pytest.mark.slow
def test_sweep_on_a_dask_cluster_gives_the_numbers_of_jobs_1(tmp_path, deadline) -> None:
    distributed = pytest.importorskip("distributed")
    kwargs = {"seeds": 2, "epochs": 1, "dataset_name": "mnist-sample", "overrides": TINY, "progress": False}
    here = sweep("mnist-simple", {"model.latent_dim": [2, 8]}, out=tmp_path / "here", jobs=1, threads=1, **kwargs)
    cluster = client = None
    with deadline(300):
        try:
            # Dask starts its workers with OMP_NUM_THREADS=1: one torch thread, as `here`.
            cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                               dashboard_address=None)
            client = distributed.Client(cluster)
            there = sweep("mnist-simple", {"model.latent_dim": [2, 8]}, out=tmp_path / "dask", executor=client,
                          **kwargs)
        finally:
            if client is not None:
                client.close()
            if cluster is not None:
                cluster.close()
    assert [r["val_loss"]["values"] for r in there["rows"]] == [r["val_loss"]["values"] for r in here["rows"]]
    assert all(r["finished"] == 2 for r in there["rows"])


def test_the_runner_face_gives_the_function_even_after_its_module_is_imported():
    import importlib

    import latentlab.runner
    import latentlab.runner.sweeps

    importlib.reload(latentlab.runner.sweeps)
    assert callable(latentlab.runner.sweep) and latentlab.runner.sweep.__name__ == "sweep"
