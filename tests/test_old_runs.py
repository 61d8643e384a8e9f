"""Runs written by latentlab 0.1.0 before the package was reorganised into folders still load and resume.

The fixtures were written by commit c699c61 (the last flat layout): a 2-epoch mnist-vae-shaped run interrupted
after 12 steps, and a finished mnist-simple-shaped run, both on the first 1,024 mnist-sample training images.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from latentlab.data import load_dataset
from latentlab.runs import load_run
from latentlab.training import train

FIXTURES = Path(__file__).parent / "fixtures" / "runs-v0.1.0"


def test_a_finished_old_run_loads() -> None:
    run = load_run(FIXTURES / "simple-finished")
    assert run.meta["status"] == "finished" and len(run.history) == 2
    assert run.model.latent_dim == 2


def test_an_interrupted_old_run_resumes_to_the_old_versions_result(tmp_path: Path) -> None:
    run_dir = tmp_path / "vae-interrupted"
    shutil.copytree(FIXTURES / "vae-interrupted", run_dir)
    data = load_dataset("mnist-sample", progress=False)
    cfg = load_run(run_dir).config
    result = train(cfg, data.x_train[:1024], data.x_test[:256], run_dir, resume=True, quiet=True)
    assert result.status == "finished"
    # The old code, resumed from the same checkpoint, ended at these losses (measured when the fixture was made).
    assert result.history[-1]["val"]["loss"] == pytest.approx(548.9474487304688, rel=1e-5)
    assert result.history[-1]["train"]["loss"] == pytest.approx(550.9656372070312, rel=1e-5)
