"""What runs inside a worker process: the initializer, the call wrapper around every task, a per-process data cache.

Nothing here imports torch at module level: the parent imports this module to name the functions it submits.
"""

from __future__ import annotations

import os
import pickle
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from latentlab.errors import TaskError
from latentlab.memory import release_memory
from latentlab.threads import POLICY_VARIABLES, available_cpus, configure_threads, start_threads

_DATA: dict[tuple[str, str], Any] = {}
_STOP = threading.Event()  # a worker that saw Ctrl-C starts no further task (the pool may have queued one)
_DATA_KEEP = 2  # data sets kept per process (the report uses two)


def cores() -> int:
    """Whole CPUs this process may use: its affinity mask, capped by its cgroup's CPU quota (`threads.CPUs`)."""
    return available_cpus().usable


def init_worker(threads: int | None, workers: int = 1, env: dict[str, str] | None = None) -> None:
    """Pool initializer: the thread policy of one of `workers` processes sharing the CPUs (`threads` torch threads
    when the caller fixed them, else its share, adapted while steps run), so that workers share the cores instead
    of each taking all of them; and Ctrl-C noted while idle, not raised (the parent stops the pool; `call` raises
    it in a task). `env`: the parent's thread variables (`threads.policy_env()`), which replace those this process
    inherited from its forkserver (started once, with the environment of an earlier moment)."""
    if env is not None:
        for key in POLICY_VARIABLES:
            if key in env:
                os.environ[key] = env[key]
            else:
                os.environ.pop(key, None)
    configure_threads(threads, workers=workers)
    start_threads()
    signal.signal(signal.SIGINT, _note_stop)


def _note_stop(*_: Any) -> None:
    _STOP.set()


def _stop_now(*_: Any) -> None:
    _STOP.set()
    raise KeyboardInterrupt


@dataclass(frozen=True)
class Reply:
    """What a worker sends back for one task: its result, or the error it raised (with the worker's traceback)."""

    result: Any
    error: BaseException | None
    traceback: str
    seconds: float


def call(fn: Callable[[Any], Any], task: Any, in_worker: bool = False) -> Reply:
    """Run `fn(task)`, timing it; an Exception becomes part of the reply. KeyboardInterrupt propagates here in the
    parent (jobs=1: Ctrl-C stops everything); in a worker (`in_worker`) it is this task's failure, and the parent,
    which sees Ctrl-C itself when one was pressed, decides whether the other tasks go on."""
    start = time.perf_counter()
    if in_worker and _STOP.is_set():
        return Reply(None, TaskError("cancelled: its worker had been told to stop (Ctrl-C) before it began"), "", 0.0)
    try:
        with _sigint(in_worker):
            result = fn(task)
    except Exception as exc:
        return Reply(None, _portable(exc), traceback.format_exc(), time.perf_counter() - start)
    except KeyboardInterrupt:
        if not in_worker:
            raise
        error = TaskError("interrupted: a SIGINT or SIGTERM reached its worker process; run it again to redo it")
        return Reply(None, error, traceback.format_exc(), time.perf_counter() - start)
    finally:
        release_memory()
    return Reply(result, None, "", time.perf_counter() - start)


@contextmanager
def _sigint(enabled: bool) -> Iterator[None]:
    # Only the main thread may set handlers (a Dask worker runs tasks in threads: leave its signals alone).
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, _stop_now)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _portable(exc: Exception) -> Exception:
    """`exc` if it survives pickling back to the parent, else a RuntimeError carrying its type and message."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def dataset(name: str, data_dir: str | Path | None = None, progress: bool = False) -> Any:
    """`load_dataset(name, data_dir)`, once per process.

    Tasks that share a worker (or the parent, with jobs=1) share the arrays instead of reading and verifying the
    files again.

    Parameters
    ----------
    name : str
        A data set's name or path.
    data_dir : str or Path, optional
        Where the published files are.
    progress : bool, default False
        Print the source line on stderr.

    Returns
    -------
    ImageData
        The data set (the same object for the same arguments in one process).
    """
    from latentlab.data import load_dataset

    key = (name, str(data_dir or ""))
    if key not in _DATA:
        while len(_DATA) >= _DATA_KEEP:
            del _DATA[next(iter(_DATA))]
        _DATA[key] = load_dataset(name, data_dir=data_dir, progress=progress)
    return _DATA[key]
