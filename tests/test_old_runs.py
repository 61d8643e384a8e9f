"""Runs written by latentlab 0.1.0 before the package was reorganised into folders still load and resume.

The fixtures were written by commit c699c61 (the last flat layout): a 2-epoch mnist-vae-shaped run interrupted
after 12 steps, and a finished mnist-simple-shaped run, both on the first 1,024 mnist-sample training images of
that time, when the sample was sorted by class (see `sorted_as_before`).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from latentlab.data import load_dataset
from latentlab.runs import load_run
from latentlab.training import train

FIXTURES = Path(__file__).parent / "fixtures" / "runs-v0.1.0"


def sorted_as_before(x_train: np.ndarray, x_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """mnist-sample's splits in their order before scripts/build_samples.py shuffled them: each split was
    permuted with numpy.random.default_rng(0), train then test (SHUFFLE_SEED there), so undo that."""
    rng = np.random.default_rng(0)
    out = []
    for x in (x_train, x_test):
        order = rng.permutation(len(x))
        before = np.empty_like(x)
        before[order] = x
        out.append(before)
    return out[0], out[1]


def test_a_finished_old_run_loads() -> None:
    run = load_run(FIXTURES / "simple-finished")
    assert run.meta["status"] == "finished" and len(run.history) == 2
    assert run.model.latent_dim == 2


def test_an_interrupted_old_run_resumes_to_the_old_versions_result(tmp_path: Path) -> None:
    run_dir = tmp_path / "vae-interrupted"
    shutil.copytree(FIXTURES / "vae-interrupted", run_dir)
    data = load_dataset("mnist-sample", progress=False)
    x_train, x_test = sorted_as_before(data.x_train, data.x_test)
    cfg = load_run(run_dir).config
    result = train(cfg, x_train[:1024], x_test[:256], run_dir, resume=True, quiet=True)
    assert result.status == "finished"
    # The old code, resumed from the same checkpoint, ended at these losses (measured when the fixture was made).
    assert result.history[-1]["val"]["loss"] == pytest.approx(548.9474487304688, rel=1e-5)
    assert result.history[-1]["train"]["loss"] == pytest.approx(550.9656372070312, rel=1e-5)
