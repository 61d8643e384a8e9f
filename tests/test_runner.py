"""latentlab.runner: tasks in order, failures reported (a raise, a dead worker), Ctrl-C, executors, Dask."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from latentlab.errors import ConfigError, TaskError
from latentlab.runner import Outcome, default_jobs, run_tasks, summary
from latentlab.runner.executors import dask_address
from latentlab.runner.worker import cores


def square(x: int) -> tuple[int, int]:
    """The task of most tests: x*x and the torch threads it ran with."""
    import torch

    if x == 2:
        raise ValueError("two is not allowed")
    return x * x, torch.get_num_threads()


def die_on_three(x: int) -> int:
    if x == 3:
        os._exit(7)  # as if killed: no exception, no reply
    return x * x


def nap(path: str) -> str:
    """Mark the task started, then sleep for a minute in small steps (a Ctrl-C ends it)."""
    Path(path).write_text("started")
    for _ in range(600):
        time.sleep(0.1)
    return path


def test_jobs_1_runs_here_in_order_and_reports_a_raising_task(capsys) -> None:
    out = run_tasks(square, [3, 2, 1], jobs=1, desc="squares")
    assert [o.label for o in out] == ["3", "2", "1"]
    assert [o.result[0] for o in out if o.ok] == [9, 1]
    bad = out[1]
    assert not bad.ok and isinstance(bad.error, ValueError) and bad.why == "ValueError: two is not allowed"
    assert "square" in bad.traceback
    err = capsys.readouterr().err
    assert "2: FAILED" in err and "squares: 2 of 3 finished; 1 failed:\n  2: ValueError: two is not allowed" in err


def test_jobs_1_lets_ctrl_c_through_and_stops() -> None:
    def interrupt(x: int) -> int:
        if x == 1:
            raise KeyboardInterrupt
        return x

    ran = []
    with pytest.raises(KeyboardInterrupt):
        run_tasks(lambda x: ran.append(x) or interrupt(x), [0, 1, 2], jobs=1, progress=False)
    assert ran == [0, 1]


def test_a_pool_gives_the_same_results_in_task_order_with_its_share_of_the_cores(deadline) -> None:
    here = run_tasks(square, range(6), jobs=1, progress=False)
    with deadline(120):
        pooled = run_tasks(square, range(6), jobs=2, progress=False)
    assert [o.result and o.result[0] for o in pooled] == [o.result and o.result[0] for o in here]
    assert {o.result[1] for o in pooled if o.ok} == {max(1, cores() // 2)}
    assert [o.ok for o in pooled] == [True, True, False, True, True, True]
    assert isinstance(pooled[2].error, ValueError) and "square" in pooled[2].traceback
    assert summary(pooled).startswith("tasks: 5 of 6 finished; 1 failed")


@pytest.mark.slow
def test_a_dead_worker_fails_its_task_only(deadline) -> None:
    with deadline(180):
        out = run_tasks(die_on_three, range(6), jobs=2, progress=False)
    assert [o.result for o in out] == [0, 1, 4, None, 16, 25]
    assert isinstance(out[3].error, TaskError) and "died" in out[3].why
    assert not multiprocessing.active_children()


@pytest.mark.slow
def test_ctrl_c_cancels_what_has_not_started_and_stops_the_workers(tmp_path, deadline) -> None:
    paths = [str(tmp_path / f"task{i}") for i in range(5)]

    def press_ctrl_c() -> None:  # once two tasks run, as a terminal's Ctrl-C reaching this process would
        while sum(Path(p).exists() for p in paths) < 2:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=press_ctrl_c, daemon=True).start()
    start = time.perf_counter()
    with deadline(120), pytest.raises(KeyboardInterrupt):
        run_tasks(nap, paths, jobs=2, progress=False)
    assert time.perf_counter() - start < 50  # the naps were stopped, not waited for
    assert sum(Path(p).exists() for p in paths) == 2  # nothing started after Ctrl-C
    assert not multiprocessing.active_children()


def test_arguments_are_checked_before_anything_runs() -> None:
    with pytest.raises(ConfigError, match="jobs=0"):
        run_tasks(square, [1], jobs=0)
    with pytest.raises(ConfigError, match="threads=0"):
        run_tasks(square, [1], jobs=1, threads=0)
    with pytest.raises(ConfigError, match="top level of a module"):
        run_tasks(lambda x: x, [1, 2], jobs=2)
    with pytest.raises(ConfigError, match="dask://HOST:PORT"):
        run_tasks(square, [1], executor="tcp://127.0.0.1:8786")
    with pytest.raises(ConfigError, match="not one latentlab can use"):
        run_tasks(square, [1], executor=42)
    assert default_jobs(threads_per_job=1) == cores() and default_jobs(threads_per_job=10**6) == 1


def test_a_given_executor_is_used_and_left_open() -> None:
    with ThreadPoolExecutor(2) as pool:
        out = run_tasks(lambda x: -x, [1, 2, 3], executor=pool, progress=False)
        assert [o.result for o in out] == [-1, -2, -3] and all(isinstance(o, Outcome) for o in out)
        assert pool.submit(int, "5").result() == 5  # still open
    assert run_tasks(square, [], jobs=2, progress=False) == []


def test_the_costliest_tasks_are_sent_first_and_results_stay_in_task_order() -> None:
    ran = []
    with ThreadPoolExecutor(1) as pool:
        out = run_tasks(lambda x: ran.append(x) or x, [1, 5, 3], executor=pool, cost=float, progress=False)
    assert ran == [5, 3, 1] and [o.result for o in out] == [1, 5, 3]


def test_an_unreachable_dask_scheduler_is_a_config_error(deadline) -> None:
    pytest.importorskip("distributed")
    with deadline(60), pytest.raises(ConfigError, match="no Dask scheduler answered"):
        run_tasks(square, [1], executor="dask://127.0.0.1:9")  # port 9 (discard): nothing listens


class _Listener:
    """A TCP server on 127.0.0.1 that is not a Dask scheduler: it accepts and then stays silent, answers as an HTTP
    server, or sends garbage. It stops by itself after `life` seconds (and on leaving the `with`)."""

    def __init__(self, mode: str, life: float = 30.0) -> None:
        import socket

        self.mode, self.sock = mode, socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port, self.stop, self.held = self.sock.getsockname()[1], threading.Event(), []
        self.until = time.monotonic() + life
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.stop.is_set() and time.monotonic() < self.until:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.held.append(conn)
            if self.mode == "http":
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok")
            elif self.mode == "garbage":
                conn.sendall(bytes(range(256)) * 4)
        for conn in self.held:
            conn.close()
        self.sock.close()

    def __enter__(self) -> _Listener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()


@pytest.mark.parametrize(("mode", "said"), [
    ("silent", "accepted the connection but did not answer as a Dask scheduler within 1.5 s"),
    ("http", "did not answer as a Dask scheduler"),
    ("garbage", "did not answer as a Dask scheduler"),
])
def test_a_server_that_is_not_a_dask_scheduler_is_refused_within_seconds(mode, said, deadline) -> None:
    pytest.importorskip("distributed")
    start = time.perf_counter()
    with _Listener(mode) as server, deadline(30), pytest.raises(ConfigError, match=said) as info:
        run_tasks(square, [1], executor=f"dask://127.0.0.1:{server.port}?connect_timeout=1.5", progress=False)
    assert time.perf_counter() - start < 10
    assert f"tcp://127.0.0.1:{server.port}" in str(info.value) and "EiB" not in str(info.value)


def test_a_scheduler_without_workers_is_refused_after_the_worker_timeout(deadline) -> None:
    pytest.importorskip("distributed")
    import re
    import subprocess

    # A real scheduler process with no worker, on a free port of 127.0.0.1; killed at the end whatever happens.
    scheduler = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                                  "--port", "0", "--dashboard-address", ":0", "--no-show"],
                                 stderr=subprocess.PIPE, text=True)
    try:
        with deadline(90):
            address = next(m[1] for line in scheduler.stderr if (m := re.search(r"Scheduler at:\s+(tcp://\S+)", line)))
            start = time.perf_counter()
            with pytest.raises(ConfigError, match=r"had no workers after 2 s; start one \(`dask worker tcp://127"):
                run_tasks(square, [1], executor=address.replace("tcp://", "dask://") + "?worker_timeout=2",
                          progress=False)
            assert time.perf_counter() - start < 20
    finally:
        scheduler.kill()
        scheduler.wait(10)


def test_the_dask_address_takes_its_timeouts_and_refuses_others() -> None:
    assert dask_address("dask://10.0.0.5:8786") == ("tcp://10.0.0.5:8786", 10.0, 60.0)
    assert dask_address("dask://h:1?worker_timeout=300&connect_timeout=2.5") == ("tcp://h:1", 2.5, 300.0)
    for bad in ("dask://h:1?timeout=5", "dask://h:1?connect_timeout=0", "dask://h:1?worker_timeout=soon"):
        with pytest.raises(ConfigError, match="connect_timeout and worker_timeout"):
            dask_address(bad)


@pytest.mark.slow
def test_dask_local_cluster_gives_the_results_of_jobs_1(deadline) -> None:
    distributed = pytest.importorskip("distributed")
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import this test module
    here = run_tasks(die_on_three, [0, 1, 2, 4], jobs=1, progress=False)
    cluster = client = None
    try:
        with deadline(240):
            cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                               dashboard_address=None)
            client = distributed.Client(cluster)
            via_client = run_tasks(die_on_three, [0, 1, 2, 4], executor=client.get_executor(), progress=False)
            via_address = run_tasks(square, [0, 1, 2, 4], executor=cluster.scheduler_address.replace(
                "tcp://", "dask://"), progress=False)
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    assert [o.result for o in via_client] == [o.result for o in here] == [0, 1, 4, 16]
    assert [o.ok for o in via_address] == [True, True, False, True]
    assert isinstance(via_address[2].error, ValueError) and via_address[3].result[0] == 16
