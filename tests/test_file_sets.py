"""Checkpoints are written whole or not at all: a failure or a crash at any step leaves one complete, loadable
checkpoint (the previous one, or the new one once `load_run` finishes moving it in), and a full disk says where,
how much is free and how much is needed."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from latentlab import file_sets
from latentlab.config import override
from latentlab.errors import CheckpointError, RunError
from latentlab.file_sets import COMMIT, STAGE_PREFIX, write_file_set
from latentlab.presets import preset_config
from latentlab.runs import CONFIG, HISTORY, META, MODEL, OPTIMIZER, STATE, load_run, read_json
from latentlab.training import train

CHECKPOINT_FILES = (CONFIG, MODEL, OPTIMIZER, STATE, HISTORY, META)


class Crash(BaseException):
    """Stands for the process dying at that instant (nothing after it runs, no cleanup that a test turns off)."""


def _cfg(epochs: int):
    return override(preset_config("mnist-vae"), {"train.epochs": epochs, "model.hidden": [16]})


@pytest.fixture(scope="module")
def one_epoch(bars, tmp_path_factory) -> Path:
    """A finished 1-epoch run (the checkpoint that must survive)."""
    x_train, _, x_test, _ = bars
    path = tmp_path_factory.mktemp("runs") / "vae"
    train(_cfg(1), x_train, x_test, path, quiet=True, meta={"dataset": "bars"})
    return path


def _copy(run: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "run"
    shutil.copytree(run, dst)
    return dst


def _snapshot(run: Path) -> dict[str, bytes]:
    return {name: (run / name).read_bytes() for name in CHECKPOINT_FILES}


def _resume(run: Path, bars) -> None:
    x_train, _, x_test, _ = bars
    train(_cfg(2), x_train, x_test, run, resume=True, quiet=True, meta={"dataset": "bars"})


def _leftovers(run: Path) -> list[str]:
    return sorted(p.name for p in run.iterdir() if p.name.startswith((STAGE_PREFIX, COMMIT, ".lock")))


# Every file of the set, and the manifest written after them: each write can fail.
STEPS = (*CHECKPOINT_FILES, file_sets.MANIFEST)


@pytest.mark.parametrize("how", ["enospc", "short-write"])
@pytest.mark.parametrize("step", STEPS)
def test_a_failed_write_at_any_step_keeps_the_previous_checkpoint_and_says_where_and_how_much(
        one_epoch, bars, tmp_path, monkeypatch, step, how) -> None:
    run = _copy(one_epoch, tmp_path)
    before = _snapshot(run)
    real = file_sets._write

    def failing(path: Path, data: bytes) -> None:
        if path.name != step:
            return real(path, data)
        if how == "enospc":
            real(path, data[: len(data) // 2])  # what a full disk leaves: part of the file, then the error
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real(path, data[:-1])  # a write that lost its last byte without saying so: the read-back catches it

    monkeypatch.setattr(file_sets, "_write", failing)
    with pytest.raises(CheckpointError) as info:
        _resume(run, bars)
    message = str(info.value)
    assert str(run) in message and "the previous checkpoint there is whole" in message
    reason = "No space left on device" if how == "enospc" else "differs from the bytes written"
    assert reason in message
    needed = info.value.needed
    # The bytes of the new checkpoint: its files are a few kB bigger than the old (one more history line, moments).
    assert sum(len(b) for b in before.values()) * 0.9 < needed < sum(len(b) for b in before.values()) * 1.2
    assert info.value.free > 0
    assert f"needs {needed / 1e3:.1f} kB" in message
    assert _snapshot(run) == before  # untouched, byte for byte
    assert _leftovers(run) == []  # no staging files, and the lock was released
    assert load_run(run).meta["epochs_done"] == 1
    monkeypatch.setattr(file_sets, "_write", real)
    _resume(run, bars)  # once the disk has room again, the resume goes through
    assert load_run(run).meta["epochs_done"] == 2


@pytest.mark.parametrize("k", range(len(CHECKPOINT_FILES)))
def test_a_crash_while_swapping_in_leaves_a_whole_checkpoint_that_load_finishes(
        one_epoch, bars, tmp_path, monkeypatch, k) -> None:
    run = _copy(one_epoch, tmp_path)
    real = os.replace
    calls = []

    def crash_at_k(src, dst) -> None:
        if Path(src).parent.name == COMMIT:
            calls.append(Path(src).name)
            if len(calls) == k + 1:
                raise Crash
        real(src, dst)

    monkeypatch.setattr(file_sets.os, "replace", crash_at_k)
    with pytest.raises(Crash):
        _resume(run, bars)
    monkeypatch.setattr(file_sets.os, "replace", real)
    assert calls == list(CHECKPOINT_FILES[: k + 1])  # in this order: meta.json, with the checksums, moves in last
    assert (run / COMMIT).is_dir()  # half swapped: the new set is whole in .commit
    loaded = load_run(run)  # finishes the swap
    assert loaded.meta["epochs_done"] == 2 and len(loaded.history) == 2
    assert not (run / COMMIT).exists()
    x_train, _, x_test, _ = bars
    train(_cfg(3), x_train, x_test, run, resume=True, quiet=True, meta={"dataset": "bars"})  # and it resumes
    assert load_run(run).meta["epochs_done"] == 3


def test_a_crash_before_the_commit_leaves_the_previous_checkpoint(one_epoch, bars, tmp_path, monkeypatch) -> None:
    run = _copy(one_epoch, tmp_path)
    before = _snapshot(run)
    real = file_sets._write

    def crash_on_optimizer(path: Path, data: bytes) -> None:
        if path.name == OPTIMIZER:
            real(path, data[:100])
            raise Crash
        real(path, data)

    monkeypatch.setattr(file_sets, "_write", crash_on_optimizer)
    monkeypatch.setattr(file_sets.shutil, "rmtree", lambda *a, **k: None)  # a dead process cleans nothing up
    with pytest.raises(Crash):
        _resume(run, bars)
    monkeypatch.undo()
    assert [p.name.startswith(STAGE_PREFIX) for p in run.iterdir() if p.is_dir()] == [True]
    assert _snapshot(run) == before and load_run(run).meta["epochs_done"] == 1
    _resume(run, bars)  # the next writer removes the stale staging directory
    assert load_run(run).meta["epochs_done"] == 2 and _leftovers(run) == []


CRASHER = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    from latentlab import file_sets
    real = file_sets.os.replace
    def die(src, dst):
        if Path(src).name == sys.argv[2]:
            os._exit(9)  # the process dies mid-swap: no exception, no cleanup
        real(src, dst)
    file_sets.os.replace = die
    file_sets.write_file_set(Path(sys.argv[1]), {"a.txt": b"new a", "b.txt": b"new b", "meta": b"new meta"},
                             last="meta")
""")


def test_a_killed_process_mid_swap_leaves_a_set_the_next_reader_finishes(tmp_path) -> None:
    write_file_set(tmp_path, {"a.txt": b"old a", "b.txt": b"old b", "meta": b"old meta"}, last="meta")
    proc = subprocess.run([sys.executable, "-c", CRASHER, str(tmp_path), "b.txt"], timeout=60)
    assert proc.returncode == 9
    assert (tmp_path / "a.txt").read_bytes() == b"new a" and (tmp_path / "meta").read_bytes() == b"old meta"
    assert file_sets.pending_commit(tmp_path)
    file_sets.finish_pending(tmp_path)
    assert [(tmp_path / n).read_bytes() for n in ("a.txt", "b.txt", "meta")] == [b"new a", b"new b", b"new meta"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt", "meta"]


def test_a_pending_set_in_a_read_only_directory_is_a_run_error_saying_what_to_do(tmp_path, monkeypatch) -> None:
    (tmp_path / COMMIT).mkdir()
    (tmp_path / COMMIT / file_sets.MANIFEST).write_text('{"order": ["x"], "sha256": {}}')
    (tmp_path / COMMIT / "x").write_text("new")

    def read_only(*_a, **_k):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(file_sets.os, "replace", read_only)
    monkeypatch.setattr(file_sets, "run_lock", lambda *a, **k: (_ for _ in ()).throw(RunError("read-only")))
    with pytest.raises(RunError, match="Read-only file system.*open the run once where the directory is writable"):
        file_sets.finish_pending(tmp_path)


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 1200 kB tmpfs (root only; skipped where mounting is not permitted)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1200k", "tmpfs", str(mnt)], capture_output=True)
    if proc.returncode:
        pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.decode().strip() or proc.returncode})")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_a_real_full_disk_keeps_the_previous_checkpoint(one_epoch, bars, small_tmpfs) -> None:
    run = small_tmpfs / "run"
    shutil.copytree(one_epoch, run)
    size = sum(f.stat().st_size for f in run.iterdir())
    # Fill the disk until less than one checkpoint is free, but enough for a few files of one.
    free = shutil.disk_usage(small_tmpfs).free
    (small_tmpfs / "ballast").write_bytes(b"\0" * max(0, free - size // 2))
    before = _snapshot(run)
    with pytest.raises(CheckpointError, match="No space left on device") as info:
        _resume(run, bars)
    assert f"{run}" in str(info.value) and "free" in str(info.value)
    assert info.value.free < info.value.needed
    assert _snapshot(run) == before and _leftovers(run) == []
    assert load_run(run).meta["epochs_done"] == 1
    (small_tmpfs / "ballast").unlink()  # space freed: the same resume now goes through
    _resume(run, bars)
    assert load_run(run).meta["epochs_done"] == 2
    assert read_json(run / META)["files"][MODEL] != hashlib.sha256(before[MODEL]).hexdigest()
