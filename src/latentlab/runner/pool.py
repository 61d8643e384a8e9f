"""`run_tasks(fn, tasks)`: independent tasks on an Executor, with one progress bar, one line per finished task,
results in task order, failures reported instead of raised, and Ctrl-C that stops the workers cleanly.

`jobs=1` is the reference: the tasks run here, one after another, with no pool. Anything else submits
`worker.call(fn, task)` to an executor; a task's result comes back in the same order and, for the same seeds and
the same number of torch threads per task, with the same values, bit for bit (each task must seed itself). The
thread count matters because CPU kernels split their sums by thread: 1 and 2 threads differ in the last bits.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import BrokenExecutor, CancelledError, Executor, Future, ProcessPoolExecutor, as_completed, wait
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from tqdm import tqdm

from latentlab.config import check_count
from latentlab.errors import TaskError
from latentlab.runner.executors import check_picklable, default_jobs, local_pool, open_executor
from latentlab.runner.worker import Reply, call

#: Seconds running tasks get, after Ctrl-C, to stop by themselves (a training saves a checkpoint) before their
#: workers are terminated.
GRACE_S = 30.0


@dataclass(frozen=True)
class Outcome:
    """How one task of `run_tasks` ended.

    Parameters
    ----------
    task : object
        The task as given.
    label : str
        Its name in the lines printed.
    result : object, default None
        What `fn(task)` returned, when it finished.
    error : BaseException or None, default None
        The exception it raised, or why it could not run (its worker died: TaskError).
    traceback : str, default ""
        The worker's traceback of `error`.
    seconds : float, default 0.0
        Wall time of the task.
    """

    task: Any
    label: str
    result: Any = None
    error: BaseException | None = None
    traceback: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether the task finished.

        Returns
        -------
        bool
            True when there is no error.
        """
        return self.error is None

    @property
    def why(self) -> str:
        """The error in one line.

        Returns
        -------
        str
            "Kind: message"; empty when the task finished.
        """
        return "" if self.error is None else f"{type(self.error).__name__}: {self.error}"


def check_workers(jobs: int | None, threads: int | None) -> None:
    """Check `jobs` and `threads` before any work (callers that load data first ask before they do).

    Parameters
    ----------
    jobs : int or None
        Tasks at once; None for the default.
    threads : int or None
        torch threads per task; None for the default.

    Raises
    ------
    ConfigError
        Either is not None and not a whole number >= 1.
    """
    if jobs is not None:
        check_count("jobs", jobs, "a whole number of tasks at once, at least 1 (1 runs them here, one after another)")
    if threads is not None:
        check_count("threads", threads, "torch threads per task, at least 1")


def run_tasks(fn: Callable[[Any], Any], tasks: Iterable[Any], *, jobs: int | None = None,
              executor: Executor | str | Any | None = None, threads: int | None = None, progress: bool = True,
              desc: str = "tasks", label: Callable[[Any], str] = str,
              cost: Callable[[Any], float] | None = None) -> list[Outcome]:
    """Call `fn(task)` for every task, here or in worker processes or on a cluster.

    A task that raises, or whose worker dies, is an Outcome with an error; the other tasks go on. Ctrl-C cancels
    what has not started, asks the running tasks to stop, shuts the workers down and re-raises KeyboardInterrupt.
    `fn` and the tasks must be picklable for anything but jobs=1: `fn` a module's top-level function, and the
    tasks small (a data set's name rather than its arrays, where a worker can load it).

    Parameters
    ----------
    fn : callable
        ``fn(task) -> result``.
    tasks : iterable
        The tasks.
    jobs : int, optional
        Tasks at once on a local process pool (default `default_jobs()`); 1 runs them here, in order.
    executor : concurrent.futures.Executor or str, optional
        Any Executor (used as is and left open), a distributed.Client, or "dask://HOST:PORT" (a client to that
        scheduler, closed at the end); `jobs` is then not used.
    threads : int, optional
        torch threads per task; by default a local pool's share of the cores, and with jobs=1 this process's own
        setting. Give the same number to compare jobs=1 and a pool bit for bit.
    progress : bool, default True
        On stderr: a bar, a line per task, a summary.
    desc : str, default "tasks"
        What the tasks are, in those lines.
    label : callable, default str
        ``label(task)`` names a task in those lines.
    cost : callable, optional
        ``cost(task)``, a rough relative cost: the costliest tasks are submitted first.

    Returns
    -------
    list of Outcome
        One per task, in task order.

    Raises
    ------
    ConfigError
        jobs or threads below 1.
    KeyboardInterrupt
        Re-raised after the workers are shut down.
    """
    tasks = list(tasks)
    check_workers(jobs, threads)
    jobs = default_jobs() if jobs is None else jobs
    labels = [str(label(t)) for t in tasks]
    outcomes: list[Outcome | None] = [None] * len(tasks)
    bar = tqdm(total=len(tasks), desc=desc, unit="task", dynamic_ncols=True, disable=True if not progress else None)

    def done(i: int, outcome: Outcome) -> None:
        outcomes[i] = outcome
        bar.update(1)
        if progress:
            tqdm.write(_line(outcome), file=sys.stderr)

    try:
        if executor is None and jobs == 1:
            with _torch_threads(threads):
                for i, task in enumerate(tasks):
                    done(i, _from_reply(task, labels[i], call(fn, task)))
        elif tasks:
            order = sorted(range(len(tasks)), key=lambda i: -cost(tasks[i])) if cost else range(len(tasks))
            _parallel(fn, tasks, labels, list(order), executor, jobs, threads, done)
    finally:
        bar.close()
    final = [o for o in outcomes if o is not None]
    if progress and tasks:
        print(summary(final, desc), file=sys.stderr, flush=True)
    return final


def summary(outcomes: list[Outcome], desc: str = "tasks") -> str:
    """The outcomes in words.

    Parameters
    ----------
    outcomes : list of Outcome
        As `run_tasks` returns them.
    desc : str, default "tasks"
        What the tasks are.

    Returns
    -------
    str
        "DESC: N of M finished", and a line for each failure with its error.
    """
    failed = [o for o in outcomes if not o.ok]
    head = f"{desc}: {len(outcomes) - len(failed)} of {len(outcomes)} finished"
    if not failed:
        return head
    return head + f"; {len(failed)} failed:\n" + "\n".join(f"  {o.label}: {o.why}" for o in failed)


def _line(o: Outcome) -> str:
    if o.ok:
        return f"{o.label}: done in {o.seconds:.1f} s"
    return f"{o.label}: FAILED after {o.seconds:.1f} s: {o.why}"


def _from_reply(task: Any, label: str, reply: Reply) -> Outcome:
    return Outcome(task, label, reply.result, reply.error, reply.traceback, reply.seconds)


def _from_future(future: Future, task: Any, label: str) -> Outcome:
    try:
        reply = future.result()
    except CancelledError:
        return Outcome(task, label, error=TaskError(f"{label} was cancelled before it finished"))
    except Exception as exc:  # the executor's own trouble: a dead worker, a task it could not send or run
        return Outcome(task, label, error=exc)
    if not isinstance(reply, Reply):  # an executor that returned something else than call's reply
        return Outcome(task, label, error=TaskError(f"{label}: the executor returned {type(reply).__name__}"))
    return _from_reply(task, label, reply)


@contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    if threads is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _parallel(fn: Callable[[Any], Any], tasks: list[Any], labels: list[str], order: list[int], executor: Any,
              jobs: int, threads: int | None, done: Callable[[int, Outcome], None]) -> None:
    if executor is None or isinstance(executor, ProcessPoolExecutor):
        check_picklable(fn)  # fail once, here, rather than once per task (Dask's cloudpickle sends lambdas too)
    opened = open_executor(executor, jobs, len(tasks), threads)
    futures: dict[Future, int] = {}
    try:
        for i in order:
            futures[opened.executor.submit(call, fn, tasks[i], True)] = i
        broken = []
        for future in as_completed(futures):
            i = futures[future]
            outcome = _from_future(future, tasks[i], labels[i])
            if opened.local and isinstance(outcome.error, BrokenExecutor):
                broken.append(i)  # maybe this task's worker died, maybe another's: find out below
            else:
                done(i, outcome)
        if broken:
            opened.close()
            for i, outcome in _alone(fn, tasks, labels, sorted(broken), opened.workers, opened.threads):
                done(i, outcome)
    except KeyboardInterrupt:
        _stop(opened.executor, futures, opened.local)
        raise
    finally:
        opened.close()


def _alone(fn: Callable[[Any], Any], tasks: list[Any], labels: list[str], indices: list[int], workers: int,
           threads: int) -> Iterator[tuple[int, Outcome]]:
    """When a worker dies the whole pool breaks, and every task in it fails alike. Run those tasks again, each in
    a pool of its own (as many at once as the pool had workers), so that a death is pinned on its task."""
    for start in range(0, len(indices), workers):
        chunk = indices[start:start + workers]
        pools = {i: local_pool(1, threads) for i in chunk}
        futures = {pools[i].submit(call, fn, tasks[i], True): i for i in chunk}
        try:
            for future in as_completed(futures):
                i = futures[future]
                outcome = _from_future(future, tasks[i], labels[i])
                if isinstance(outcome.error, BrokenExecutor):
                    outcome = replace(outcome, error=TaskError(
                        "the worker process running this task died (killed, out of memory, or a crash in native "
                        "code), and again when the task ran alone; what it had not saved is lost"))
                yield i, outcome
        except KeyboardInterrupt:
            for i, p in pools.items():
                _stop(p, {f: j for f, j in futures.items() if j == i}, True)
            raise
        finally:
            for p in pools.values():
                p.shutdown(wait=True, cancel_futures=True)


def _stop(executor: Executor, futures: dict[Future, int], local: bool) -> None:
    """After Ctrl-C: cancel what has not started; in a pool of ours, pass the interrupt on to the workers (a
    terminal's Ctrl-C reaches them itself, a signal sent to this process alone does not), give the running
    tasks GRACE_S to stop by themselves (a training saves its checkpoint), then end the workers."""
    for future in futures:
        future.cancel()
    if not local:
        try:
            executor.shutdown(wait=False, cancel_futures=True)
        except TypeError:  # Dask's executor has no cancel_futures; wait=False cancels there
            executor.shutdown(wait=False)
        return
    workers = list((getattr(executor, "_processes", None) or {}).values())  # no public way to reach them
    until, running = time.monotonic() + GRACE_S, True
    while running and time.monotonic() < until:
        # Again each second: a worker may have taken a task that was already queued to it after the last one.
        for p in workers:
            if p.is_alive() and p.pid is not None:
                os.kill(p.pid, signal.SIGINT)
        running = bool(wait(futures, timeout=1.0).not_done)
    if running:  # a task that ignores Ctrl-C: end its worker (idle workers exit by themselves, cleaning up)
        for p in workers:
            if p.is_alive():
                p.terminate()
    executor.shutdown(wait=True, cancel_futures=True)
