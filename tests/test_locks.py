"""One writer per run directory: a second is refused with the holder's PID and start, a stale lock is taken over."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from latentlab.errors import RunError, RunLockedError
from latentlab.locks import LOCK, holder, run_lock

HOLDER = textwrap.dedent("""
    import sys, time
    from latentlab.locks import run_lock
    with run_lock(sys.argv[1], "training"):
        print("locked", flush=True)
        sys.stdin.readline()  # held until the test writes a line (or closes the pipe)
""")


def _hold(directory: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(directory)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"  # bounded: the child either prints or dies (EOF)
    return proc


def _release(proc: subprocess.Popen) -> None:
    proc.stdin.close()
    proc.wait(timeout=30)


def test_a_second_process_is_refused_with_the_holders_pid_and_start(tmp_path) -> None:
    run = tmp_path / "run"
    proc = _hold(run)
    try:
        with pytest.raises(RunLockedError) as info, run_lock(run):
            pass
        saved = json.loads((run / LOCK).read_text())
        assert saved["pid"] == proc.pid and saved["host"] == socket.gethostname() and saved["what"] == "training"
        assert info.value.holder == saved
        assert f"pid {proc.pid} on {socket.gethostname()}, training since {saved['started']}" in str(info.value)
        assert "wait for it to end (or stop it), or write elsewhere (--out)" in str(info.value)
        assert holder(run) == saved
    finally:
        _release(proc)
    assert not (run / LOCK).exists() and holder(run) is None  # released and removed on a clean exit
    with run_lock(run) as lock:  # and free again
        assert lock.taken_over is None


def test_a_stale_lock_of_a_dead_process_is_taken_over_and_said(tmp_path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)  # a PID that has exited
    stale = {"pid": pid, "host": socket.gethostname(), "started": "2026-01-02T03:04:05+00:00", "what": "training"}
    (run / LOCK).write_text(json.dumps(stale))
    with run_lock(run) as lock:
        assert lock.taken_over == stale
        assert (f"took over the lock left by process {pid} on {socket.gethostname()} (started "
                "2026-01-02T03:04:05+00:00, training), which no longer holds it") in lock.note
        assert json.loads((run / LOCK).read_text())["pid"] == os.getpid()


def test_the_lock_is_reentrant_within_one_process(tmp_path) -> None:
    with run_lock(tmp_path) as outer, run_lock(tmp_path) as inner:
        assert inner.path == outer.path and (tmp_path / LOCK).exists()
    assert not (tmp_path / LOCK).exists()


def test_a_directory_that_cannot_be_written_is_a_run_error(tmp_path, monkeypatch) -> None:
    real = os.open

    def read_only(path, flags, *args):
        if str(path).endswith(LOCK) and flags & os.O_CREAT:
            raise OSError(30, "Read-only file system", str(path))
        return real(path, flags, *args)

    monkeypatch.setattr(os, "open", read_only)
    with pytest.raises(RunError, match="cannot lock the run directory .*Read-only file system"), run_lock(tmp_path):
        pass


def _cli(*args: str, timeout: int = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "latentlab", *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, str]:
    """A finished 1-epoch run of mnist-simple on 64 synthetic images, and the .npz it was trained on."""
    import numpy as np

    from conftest import make_images

    x, y = make_images(96)
    root = tmp_path_factory.mktemp("locked")
    data = root / "bars.npz"
    np.savez(data, x=x[:64], y=y[:64], x_test=x[64:], y_test=y[64:])
    run = root / "run"
    out = _cli("train", "mnist-simple", "--dataset", str(data), "--epochs", "1", "--out", str(run), "--quiet")
    assert out.returncode == 0, out.stderr
    return run, str(data)


@pytest.mark.parametrize("how", ["again", "--overwrite", "--resume"])
def test_training_into_a_run_another_process_is_writing_is_refused(trained, how) -> None:
    run, data = trained
    before = (run / "meta.json").read_bytes()
    proc = _hold(run)  # another process writing the run (a training holds the same lock)
    try:
        if how == "--resume":
            out = _cli("train", "--resume", str(run), "--epochs", "2", "--quiet")
        else:
            out = _cli("train", "mnist-simple", "--dataset", data, "--epochs", "1", "--out", str(run), "--quiet",
                       *([how] if how == "--overwrite" else []))
    finally:
        _release(proc)
    assert out.returncode == 2, out.stderr
    assert f"latentlab train: error: {run} is being written by another process: pid {proc.pid}" in out.stderr
    assert "finished" not in out.stdout
    assert (run / "meta.json").read_bytes() == before  # untouched


def test_two_real_trainings_the_second_is_refused_then_the_first_finishes_its_run(tmp_path, trained) -> None:
    _, data = trained
    run = tmp_path / "run"
    first = subprocess.Popen([sys.executable, "-m", "latentlab", "train", "mnist-simple", "--dataset", data,
                              "--epochs", "100000", "--batch-size", "8", "--out", str(run), "--quiet"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while holder(run) is None or not (run / "meta.json").exists():  # locked, and one epoch saved
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()
            time.sleep(0.2)
        second = _cli("train", "mnist-simple", "--dataset", data, "--epochs", "1", "--out", str(run), "--overwrite")
    finally:
        first.send_signal(signal.SIGINT)  # the first one saves its checkpoint and ends
        out, err = first.communicate(timeout=120)
    assert second.returncode == 2 and f"pid {first.pid}" in second.stderr, second.stderr
    assert first.returncode == 130 and "latentlab train: interrupted: the checkpoint" in err, err
    assert holder(run) is None and not (run / LOCK).exists()
