"""One writer per run directory: `run_lock(dir)` holds an exclusive flock on dir/.lock, which says who holds it.

The kernel drops an flock when its process dies, so a lock file left by a killed process (its PID gone) is free
and is taken over, and said. The lock file holds JSON: pid, host, started (UTC, ISO 8601) and what it is doing,
so that a refused second writer can say who holds the run. Locks are re-entrant inside one process (the CLI, then
`fit`, may both take the lock of one run).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from latentlab.errors import RunError, RunLockedError

LOCK = ".lock"


@dataclass
class Lock:
    """A held lock: `taken_over` is what a stale lock file said (its holder died without releasing it), else None."""

    path: Path
    taken_over: dict[str, Any] | None = None

    @property
    def note(self) -> str:
        """One sentence about a stale lock taken over; "" when there was none."""
        old = self.taken_over
        if not old:
            return ""
        return (f"{self.path.parent}: took over the lock left by process {old.get('pid', '?')} on "
                f"{old.get('host', '?')} (started {old.get('started', '?')}, {old.get('what', 'writing')}), which no "
                f"longer holds it (it ended without releasing it); its last complete checkpoint is kept")


_held: dict[str, list[Any]] = {}  # real path of the directory -> [fd, depth, Lock]


@contextlib.contextmanager
def run_lock(directory: str | Path, what: str = "training") -> Iterator[Lock]:
    """Hold `directory`'s lock for the block (the directory is made if missing). RunLockedError, naming the holder's
    PID, host and start time, when another process holds it; RunError when the lock file cannot be made (a
    read-only directory)."""
    directory = Path(directory)
    key = os.path.realpath(directory)
    if key in _held:  # this process holds it already (a stale lock it took over was said by the outer holder)
        _held[key][1] += 1
        try:
            yield Lock(_held[key][2].path)
        finally:
            _held[key][1] -= 1
        return
    made = not directory.exists()
    fd, lock = _acquire(directory, what)
    _held[key] = [fd, 1, lock]
    try:
        yield lock
    finally:
        del _held[key]
        with contextlib.suppress(OSError):
            os.unlink(lock.path)  # while still locked: a waiting writer then sees a new inode and retries
        os.close(fd)
        if made:  # nothing was written (a training refused before its first checkpoint): leave no empty folder
            with contextlib.suppress(OSError):
                directory.rmdir()


def _acquire(directory: Path, what: str) -> tuple[int, Lock]:
    path = directory / LOCK
    if directory.exists() and not directory.is_dir():
        raise RunError(f"{directory} is a file, not a run directory; move it away or write the run elsewhere",
                       field="run_dir", value=str(directory))
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunError(f"cannot make the run directory {directory} ({exc.strerror}); choose a writable place",
                       field="run_dir", value=str(directory)) from None
    for _ in range(10):  # only loops while another process releases (and unlinks) the file between open and flock
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise RunError(f"cannot lock the run directory {directory} ({exc.strerror}: {path}); it must be writable "
                           "to train into it; choose a writable one (--out)",
                           field="run_dir", value=str(directory)) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(fd)
            os.close(fd)
            raise RunLockedError(
                f"{directory} is being written by another process: pid {holder.get('pid', '?')} on "
                f"{holder.get('host', '?')}, {holder.get('what', 'writing')} since {holder.get('started', '?')}; "
                f"wait for it to end (or stop it), or write elsewhere (--out)", holder, field="run_dir",
                value=str(directory)) from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if not same:  # the previous holder removed the file after we opened it: lock the new one instead
            os.close(fd)
            continue
        old = _read(fd)
        info = {"pid": os.getpid(), "host": socket.gethostname(),
                "started": datetime.now(UTC).isoformat(timespec="seconds"), "what": what}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
        return fd, Lock(path, old or None)
    raise RunLockedError(f"{directory}: its lock kept changing hands; try again", field="run_dir", value=str(directory))


def _read(fd: int) -> dict[str, Any]:
    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def holder(directory: str | Path) -> dict[str, Any] | None:
    """Who holds `directory`'s lock now (pid, host, started, what), or None when nobody does."""
    path = Path(directory) / LOCK
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _read(fd) or {"pid": "?"}
    finally:
        os.close(fd)
    return None
