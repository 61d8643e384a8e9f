"""Where tasks run: a local process pool (the default), or a Dask cluster named by `dask://HOST:PORT`.

Dask is imported only when one is asked for, so the `cluster` extra stays optional.
"""

from __future__ import annotations

import multiprocessing
import pickle
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from latentlab.errors import ConfigError
from latentlab.runner.worker import cores, init_worker

#: torch threads one training is given when `jobs` is left to choose: small models gain little from more, and
#: two jobs on four cores finish sooner than one job with four threads.
THREADS_PER_JOB = 2
"""torch threads one task gets when `jobs` is left to choose (`default_jobs`)."""
DASK = "dask://"
CONNECT_TIMEOUT_S = 10


def default_jobs(threads_per_job: int = THREADS_PER_JOB) -> int:
    """How many tasks run at once when `jobs` is not given.

    Parameters
    ----------
    threads_per_job : int, default THREADS_PER_JOB
        torch threads each task gets.

    Returns
    -------
    int
        cores // threads_per_job, at least 1.
    """
    return max(1, cores() // max(1, threads_per_job))


def start_method() -> str:
    # Forking a parent that has torch's thread pools running can deadlock the child; forkserver forks from a
    # clean server process instead, and spawn (Windows, macOS) starts a fresh interpreter.
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


def local_pool(workers: int, threads: int | None = None) -> ProcessPoolExecutor:
    """A process pool of `workers`, each running `threads` torch threads (default: its share of the cores)."""
    threads = threads or max(1, cores() // workers)
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(start_method()),
                               initializer=init_worker, initargs=(threads,))


@dataclass
class Opened:
    """An executor for one `run_tasks` call: `local` when it is a pool of ours (so worker deaths can be retried
    and its workers signalled); `close` releases what was opened here, and nothing the caller passed in."""

    executor: Executor
    local: bool
    close: Callable[[], None]
    workers: int = 1
    threads: int = 0


def open_executor(executor: Executor | str | Any | None, jobs: int, n_tasks: int,
                  threads: int | None = None) -> Opened:
    """The executor `run_tasks` submits to: `executor` as given, a Dask one for "dask://HOST:PORT" or a
    `distributed.Client`, else a local pool of min(jobs, n_tasks) workers of `threads` torch threads each."""
    if executor is None:
        workers = max(1, min(jobs, n_tasks))
        threads = threads or max(1, cores() // workers)
        pool = local_pool(workers, threads)
        return Opened(pool, True, lambda: pool.shutdown(wait=True, cancel_futures=True), workers, threads)
    if isinstance(executor, str):
        client = _dask_client(executor)
        return Opened(client.get_executor(pure=False), False, client.close)
    if isinstance(executor, Executor):
        return Opened(executor, False, lambda: None)
    if hasattr(executor, "get_executor"):  # a distributed.Client: the caller keeps it open
        return Opened(executor.get_executor(pure=False), False, lambda: None)
    raise ConfigError(f"executor={executor!r} is not one latentlab can use: pass a concurrent.futures.Executor, "
                      f"a distributed.Client, a '{DASK}HOST:PORT' address, or None for a local process pool")


def _dask_client(address: str) -> Any:
    host = address.removeprefix(DASK)
    if not address.startswith(DASK) or ":" not in host or not host.rpartition(":")[2].isdigit():
        raise ConfigError(f"executor={address!r} is not understood: write {DASK}HOST:PORT, the address of a Dask "
                          f"scheduler (e.g. {DASK}127.0.0.1:8786)")
    try:
        from distributed import Client
    except ImportError as exc:
        raise ConfigError(f"executor={address!r} needs Dask, which is not installed ({exc.name} is missing): "
                          "pip install 'latentlab[cluster]'") from None
    try:
        return Client(f"tcp://{host}", timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError) as exc:
        raise ConfigError(f"executor={address!r}: no Dask scheduler answered at tcp://{host} within "
                          f"{CONNECT_TIMEOUT_S} s ({exc}); start one (`dask scheduler`, then `dask worker "
                          f"tcp://{host}` on each machine) or correct the address") from None


def check_picklable(fn: Callable[..., Any]) -> None:
    """ConfigError unless `fn` can be sent to a worker process (by reference: a module's top-level function)."""
    try:
        pickle.dumps(fn)
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        raise ConfigError(f"fn={getattr(fn, '__qualname__', fn)!r} cannot be sent to worker processes ({exc}): pass "
                          "a function defined at the top level of a module, not a lambda or a nested function; or "
                          "jobs=1 to run the tasks here") from None
