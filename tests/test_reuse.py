"""ensure_run: reuse a finished run, resume one left "interrupted" or "running" (its process was killed), else train."""

from __future__ import annotations

import json

import pytest

from latentlab.config import ModelConfig, RunConfig, TrainConfig
from latentlab.data import ImageData
from latentlab.training import train
from latentlab.training.reuse import ensure_run


class Killed(Exception):
    """Stands for SIGKILL: training stops between two epochs without saying so."""


@pytest.fixture
def data(bars):
    x_train, y_train, x_test, y_test = bars
    return ImageData("bars", x_train, y_train, x_test, y_test, tuple("0123456789"), "synthetic")


CFG = RunConfig(name="tiny", dataset="bars", model=ModelConfig(kind="dense", hidden=(32,), latent_dim=4),
                train=TrainConfig(epochs=3, batch_size=64, lr=3e-3))


def test_a_run_left_running_by_a_killed_process_resumes_to_the_same_numbers(tmp_path, data) -> None:
    ref, _ = tmp_path / "ref", ensure_run(CFG, tmp_path / "ref", data, progress=False)
    assert ensure_run(CFG, ref, data, progress=False) == ("reused", 0.0)

    def kill_after_two(record, model):
        if record["epoch"] == 2:
            raise Killed  # before epoch 2 is checkpointed: the run holds epoch 1, marked "running"

    run_dir = tmp_path / "killed"
    with pytest.raises(Killed):
        train(CFG, data.x_train, data.x_test, run_dir, quiet=True, callbacks=(kill_after_two,))
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["status"] == "running" and meta["epochs_done"] == 1
    how, _ = ensure_run(CFG, run_dir, data, progress=False)
    assert how == "resumed"
    history = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    expected = [json.loads(line) for line in (ref / "history.jsonl").read_text().splitlines()]
    assert [h["val"] for h in history] == [h["val"] for h in expected]


def test_a_damaged_checkpoint_is_trained_again(tmp_path, data) -> None:
    run_dir = tmp_path / "run"
    ensure_run(CFG, run_dir, data, progress=False)
    meta = json.loads((run_dir / "meta.json").read_text())
    (run_dir / "meta.json").write_text(json.dumps({**meta, "status": "running"}))
    (run_dir / "model.safetensors").write_bytes(b"half a file")  # killed between two files of a checkpoint
    assert ensure_run(CFG, run_dir, data, progress=False)[0] == "trained"
    assert json.loads((run_dir / "meta.json").read_text())["status"] == "finished"


def _killed_after_one_epoch(run_dir, data) -> None:
    def kill_after_two(record, model):
        if record["epoch"] == 2:
            raise Killed

    with pytest.raises(Killed):
        train(CFG, data.x_train, data.x_test, run_dir, quiet=True, callbacks=(kill_after_two,),
              meta={"n_train": len(data.x_train)})


def test_a_full_disk_while_resuming_keeps_the_checkpoint_rather_than_starting_over(tmp_path, data,
                                                                                   monkeypatch) -> None:
    import errno
    import os

    from latentlab import file_sets
    from latentlab.errors import CheckpointError

    run_dir = tmp_path / "run"
    _killed_after_one_epoch(run_dir, data)
    before = {p.name: p.read_bytes() for p in run_dir.iterdir()}

    def full(path, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(file_sets, "_write", full)
    with pytest.raises(CheckpointError, match="No space left on device"):
        ensure_run(CFG, run_dir, data, progress=False)
    assert {p.name: p.read_bytes() for p in run_dir.iterdir()} == before  # not cleared, not half replaced


def test_an_interrupted_run_whose_data_changed_is_trained_again_not_resumed(tmp_path, data) -> None:
    run_dir = tmp_path / "run"
    _killed_after_one_epoch(run_dir, data)
    half = ImageData("bars", data.x_train[:256], data.y_train[:256], data.x_test, data.y_test, data.classes,
                     "synthetic")
    assert ensure_run(CFG, run_dir, half, progress=False)[0] == "trained"
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["n_train"] == 256 and meta["epochs_done"] == 3 and "data_changes" not in meta
