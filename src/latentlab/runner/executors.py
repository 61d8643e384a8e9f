"""Where tasks run: a local process pool (the default), or a Dask cluster named by `dask://HOST:PORT`.

Dask is imported only when one is asked for, so the `cluster` extra stays optional. Reaching a cluster never
hangs: the scheduler must answer within `connect_timeout` seconds (10) and have a worker within `worker_timeout`
seconds (60), both settable in the address: ``dask://HOST:PORT?connect_timeout=5&worker_timeout=300``.
"""

from __future__ import annotations

import multiprocessing
import pickle
import threading
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from latentlab.errors import ConfigError
from latentlab.runner.worker import cores, init_worker
from latentlab.threads import policy_env

#: torch threads one training is given when `jobs` is left to choose: small models gain little from more, and
#: two jobs on four cores finish sooner than one job with four threads.
THREADS_PER_JOB = 2
"""torch threads one task gets when `jobs` is left to choose (`default_jobs`)."""
DASK = "dask://"
CONNECT_TIMEOUT_S = 10.0  # seconds for the scheduler to answer (a TCP connection and Dask's handshake)
WORKER_TIMEOUT_S = 60.0  # seconds for the scheduler to have at least one worker


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
    """A process pool of `workers`, each running `threads` torch threads (default: its share of the cores, which
    the thread policy lowers while the machine is busy: `latentlab.threads`)."""
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(start_method()),
                               initializer=init_worker, initargs=(threads, workers, policy_env()))


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
        pool = local_pool(workers, threads)
        share = threads or max(1, cores() // workers)
        return Opened(pool, True, lambda: pool.shutdown(wait=True, cancel_futures=True), workers, share)
    if isinstance(executor, str):
        client = _dask_client(executor)
        return Opened(client.get_executor(pure=False), False, client.close)
    if isinstance(executor, Executor):
        return Opened(executor, False, lambda: None)
    if hasattr(executor, "get_executor"):  # a distributed.Client: the caller keeps it open
        return Opened(executor.get_executor(pure=False), False, lambda: None)
    raise ConfigError(f"executor={executor!r} is not one latentlab can use: pass a concurrent.futures.Executor, "
                      f"a distributed.Client, a '{DASK}HOST:PORT' address, or None for a local process pool",
                      field="executor", value=executor)


def dask_address(address: str) -> tuple[str, float, float]:
    """("tcp://HOST:PORT", connect_timeout, worker_timeout) from "dask://HOST:PORT[?connect_timeout=S&worker_timeout=S]";
    ConfigError for anything else, naming what is allowed."""
    where, _, query = address.partition("?")
    host = where.removeprefix(DASK)
    if not where.startswith(DASK) or ":" not in host or not host.rpartition(":")[2].isdigit():
        raise ConfigError(f"executor={address!r} is not understood: write {DASK}HOST:PORT, the address of a Dask "
                          f"scheduler (e.g. {DASK}127.0.0.1:8786)", field="executor", value=address)
    timeouts = {"connect_timeout": CONNECT_TIMEOUT_S, "worker_timeout": WORKER_TIMEOUT_S}
    for key, value in parse_qsl(query, keep_blank_values=True):
        try:
            seconds = float(value)
        except ValueError:
            seconds = -1.0
        if key not in timeouts or not 0 < seconds < 86_400:
            raise ConfigError(f"executor={address!r}: {key}={value!r} is not understood; the address takes "
                              "connect_timeout and worker_timeout, in seconds above 0 (e.g. "
                              f"{where}?connect_timeout=10&worker_timeout=60)", field="executor", value=address)
        timeouts[key] = seconds
    return f"tcp://{host}", timeouts["connect_timeout"], timeouts["worker_timeout"]


def _dask_client(address: str) -> Any:
    tcp, connect_s, workers_s = dask_address(address)
    try:
        from distributed import Client
    except ImportError as exc:
        raise ConfigError(f"executor={address!r} needs Dask, which is not installed ({exc.name} is missing): "
                          "pip install 'latentlab[cluster]'", field="executor", value=address) from None
    fix = (f"start one (`dask scheduler`, then `dask worker {tcp}` on each machine), correct the address, or give "
           f"it longer ({DASK}HOST:PORT?connect_timeout=SECONDS)")
    # Dask's own timeout covers the TCP connection, not its handshake: a listener that accepts and never answers
    # held Client() forever. So the client is made in a thread that is given up on after the deadline.
    made: dict[str, Any] = {}

    def connect() -> None:
        try:
            made["client"] = Client(tcp, timeout=connect_s)
        except BaseException as exc:  # noqa: BLE001 - a server that is not Dask makes Dask raise anything
            made["error"] = exc

    thread = threading.Thread(target=connect, name="latentlab-dask-connect", daemon=True)
    thread.start()
    thread.join(connect_s + 2)
    if thread.is_alive():
        raise ConfigError(f"executor={address!r}: something at {tcp} accepted the connection but did not answer as "
                          f"a Dask scheduler within {connect_s:g} s; {fix}", field="executor", value=address)
    error = made.get("error")
    if isinstance(error, (OSError, TimeoutError)):
        raise ConfigError(f"executor={address!r}: no Dask scheduler answered at {tcp} within {connect_s:g} s "
                          f"({error}); {fix}", field="executor", value=address) from None
    if error is not None:
        # Dask reads the first bytes of a reply as a frame length: an HTTP server's made it try to allocate EiB.
        raise ConfigError(f"executor={address!r}: the server at {tcp} did not answer as a Dask scheduler (its "
                          f"reply is not Dask's protocol; Dask failed with {type(error).__name__}); is the port a "
                          "Dask scheduler's (8786 by default, not its dashboard's 8787)?",
                          field="executor", value=address) from None
    client = made["client"]
    try:
        client.wait_for_workers(1, timeout=workers_s)
    except (TimeoutError, OSError):
        client.close()
        raise ConfigError(f"executor={address!r}: the Dask scheduler at {tcp} had no workers after {workers_s:g} s; "
                          f"start one (`dask worker {tcp}`) or wait longer ({DASK}HOST:PORT?worker_timeout=SECONDS)"
                          , field="executor", value=address) from None
    return client


def check_picklable(fn: Callable[..., Any]) -> None:
    """ConfigError unless `fn` can be sent to a worker process (by reference: a module's top-level function)."""
    try:
        pickle.dumps(fn)
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        raise ConfigError(f"fn={getattr(fn, '__qualname__', fn)!r} cannot be sent to worker processes ({exc}): pass "
                          "a function defined at the top level of a module, not a lambda or a nested function; or "
                          "jobs=1 to run the tasks here", field="fn", value=fn, related=("jobs",)) from None
