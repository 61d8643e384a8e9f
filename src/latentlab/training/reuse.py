"""`ensure_run`: a run directory brought to "finished" with the least work: reuse it, resume it, or train it.

What the report and the sweep call once per run, in whichever process runs that task.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from latentlab.config import RunConfig
from latentlab.data import ImageData
from latentlab.data.base import data_meta
from latentlab.errors import CheckpointError, DataChangedError, RunError
from latentlab.file_sets import COMMIT, RESUMABLE, STAGE_PREFIX
from latentlab.locks import LOCK, run_lock
from latentlab.runs import CONFIG, META, STATE, read_json
from latentlab.training.train import train


def ensure_run(cfg: RunConfig, run_dir: Path, data: ImageData, progress: bool) -> tuple[str, float]:
    """Reuse a finished run with the same config, resume an interrupted one (or one whose process was killed),
    else train from scratch. Returns how ("reused", "resumed", "trained") and the seconds it took. A training
    stopped by SIGINT/SIGTERM saves its checkpoint and raises KeyboardInterrupt. The run's lock is held throughout
    (RunLockedError when another process writes it); an interrupted run whose training images changed is trained
    again from scratch rather than resumed on other data."""
    with run_lock(run_dir, "training (report or sweep)"):
        return _ensure(cfg, run_dir, data, progress)


def _ensure(cfg: RunConfig, run_dir: Path, data: ImageData, progress: bool) -> tuple[str, float]:
    meta = _existing_meta(run_dir)
    same = meta is not None and _same_config(run_dir, cfg)
    if same and meta.get("status") in ("finished", "early-stopped"):
        return "reused", 0.0
    resume = same and meta.get("status") in RESUMABLE and (run_dir / STATE).is_file()
    t0 = time.perf_counter()
    extra = data_meta(data)
    # A conditional model (the CVAE) trains on the labels; `fit` ignores them for every other model.
    labels = {"y_train": data.y_train, "y_val": data.y_test}
    if resume:
        try:
            result = train(cfg, data.x_train, data.x_test, run_dir, resume=True, quiet=not progress, meta=extra,
                           **labels)
        except CheckpointError:
            raise  # a full disk: starting over would throw away the checkpoint that is kept
        except (RunError, DataChangedError):  # damaged, or trained on other images: start over
            resume = False
    if not resume:
        _clear(run_dir)
        result = train(cfg, data.x_train, data.x_test, run_dir, resume=False, quiet=not progress, meta=extra,
                       **labels)
    if result.status == "interrupted":
        raise KeyboardInterrupt
    return ("resumed" if resume else "trained"), time.perf_counter() - t0


def _clear(run_dir: Path) -> None:
    if run_dir.exists():
        for p in run_dir.iterdir():
            if p.is_file() and p.name != LOCK:  # the lock is held by this process
                p.unlink()
            elif p.is_dir() and p.name.startswith((STAGE_PREFIX, COMMIT)):
                shutil.rmtree(p, ignore_errors=True)


def _existing_meta(run_dir: Path) -> dict[str, Any] | None:
    try:
        return read_json(run_dir / META) if (run_dir / META).is_file() else None
    except RunError:
        return None


def _same_config(run_dir: Path, cfg: RunConfig) -> bool:
    try:
        return RunConfig.from_dict(read_json(run_dir / CONFIG)) == cfg
    except Exception:  # any unreadable config means "not the same": retrain
        return False
