"""The thread policy (`latentlab.threads`): the decision from the CPUs and the environment, the cgroup and /proc
readings, the governor's moves on step times it is fed, and that the CLI and its workers put the policy in force."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from latentlab.threads import CPUs, Governor, cgroup_quota, decide, ladder
from latentlab.threads._cpus import others_running

ROOT = Path(__file__).resolve().parents[1]


# --- the decision -------------------------------------------------------------------------------------------------

def test_the_count_comes_from_the_usable_cpus_and_adapts() -> None:
    policy = decide(CPUs(2), {})
    assert (policy.threads, policy.adaptive, policy.managed) == (2, True, True)
    assert policy.reason == "2 CPUs in the affinity mask"
    assert policy.describe() == "2 threads (1 while the CPU is busy), OpenMP's default wait"


@pytest.mark.parametrize(("cpus", "threads"), [
    (CPUs(1), 1),  # taskset -c 0
    (CPUs(2, quota=1.0), 1),  # a container with one CPU of quota on a 2-core host
    (CPUs(2, quota=1.5), 1),  # 1.5 CPUs of time: two threads would be throttled a quarter of every period
    (CPUs(8, quota=2.5), 2),
    (CPUs(4, quota=16.0), 4),  # a quota above the mask changes nothing
])
def test_affinity_and_quota_cap_the_count(cpus: CPUs, threads: int) -> None:
    policy = decide(cpus, {})
    assert policy.threads == threads and policy.adaptive == (threads > 1)
    if cpus.quota is not None:
        assert f"cgroup quota {cpus.quota:g} CPUs" in policy.reason


def test_one_cpu_is_one_thread_and_said() -> None:
    policy = decide(CPUs(1), {})
    assert policy.describe() == "1 thread, OpenMP's default wait" and policy.reason == "1 CPUs in the affinity mask"


def test_workers_share_the_cpus() -> None:
    assert decide(CPUs(8), {}, workers=2).threads == 4
    assert decide(CPUs(2), {}, workers=2).threads == 1 and not decide(CPUs(2), {}, workers=2).adaptive
    assert decide(CPUs(2), {}, workers=3).threads == 1  # never below one


def test_the_users_settings_win_and_are_not_adapted() -> None:
    flag = decide(CPUs(8), {"OMP_NUM_THREADS": "3"}, threads=5)
    assert (flag.threads, flag.adaptive, flag.reason) == (5, False, "--threads")
    omp = decide(CPUs(8), {"OMP_NUM_THREADS": "3"})
    assert (omp.threads, omp.adaptive, omp.reason) == (3, False, "OMP_NUM_THREADS=3")
    nested = decide(CPUs(8), {"OMP_NUM_THREADS": "4,2"})  # OpenMP's nested form: the outer level counts
    assert nested.threads == 4
    wait = decide(CPUs(2), {"OMP_WAIT_POLICY": "PASSIVE"})
    assert wait.wait == "OMP_WAIT_POLICY=PASSIVE (yours)" and not wait.set_env and wait.threads == 2


def test_an_empty_omp_num_threads_is_unset() -> None:
    assert decide(CPUs(2), {"OMP_NUM_THREADS": " "}).threads == 2


@pytest.mark.parametrize("value", ["abc", "0", "-2", "2.5", ",3", "4,abc"])
def test_an_unusable_omp_num_threads_is_an_error_naming_the_variable(value: str) -> None:
    from latentlab.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        decide(CPUs(2), {"OMP_NUM_THREADS": value})
    err = caught.value
    assert (err.field, err.value) == ("OMP_NUM_THREADS", value)
    assert str(err).startswith(f"the environment variable OMP_NUM_THREADS={value!r} is invalid: it sets the number "
                               "of threads, a whole number >= 1: set it to one (e.g. export OMP_NUM_THREADS=2), or "
                               "unset it")


@pytest.mark.parametrize(("variable", "value"), [("OMP_NUM_THREADS", "abc"), ("OMP_NUM_THREADS", "4,0"),
                                               ("OMP_WAIT_POLICY", "fast"), ("GOMP_SPINCOUNT", "lots")])
@pytest.mark.parametrize("command", [["detect", "RUN", "a.png"], ["train", "mnist-simple"], ["presets"], ["serve"],
                                     ["interpolate", "RUN", "a.png", "b.png"]])
def test_an_invalid_thread_variable_is_our_one_line_before_torch_loads(variable, value, command, tmp_path) -> None:
    # GNU OpenMP prints "libgomp: Invalid value for environment variable ..." as torch loads it, and detect's parser
    # loads torch for its --score choices: the check comes before, so stderr is our line alone.
    env = {**os.environ, variable: value}
    done = subprocess.run([sys.executable, "-m", "latentlab", *command], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=120)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [done.stderr.strip()]
    assert done.stderr.startswith(f"latentlab {command[0]}: error: the environment variable {variable}={value!r} is "
                                  "invalid: ") and f"unset {variable}" in done.stderr


def test_empty_thread_variables_mean_unset() -> None:
    from latentlab.threads import check_environment

    env = {"OMP_NUM_THREADS": " ", "OMP_WAIT_POLICY": "", "GOMP_SPINCOUNT": "10k", "PATH": "/bin"}
    check_environment(env)  # libgomp would warn of the empty ones: removed, as latentlab reads them as unset
    assert env == {"GOMP_SPINCOUNT": "10k", "PATH": "/bin"}
    for fine in ({"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": "infinite"}, {"OMP_NUM_THREADS": "4,2"}):
        check_environment(dict(fine))


@pytest.mark.parametrize("threads", [0, -1, True, 2.0])
def test_an_unusable_thread_count_from_python_is_an_error(threads) -> None:
    from latentlab.errors import ConfigError

    with pytest.raises(ConfigError, match=r"threads=.* is invalid: torch threads are a whole number >= 1") as caught:
        decide(CPUs(2), {}, threads=threads)
    assert caught.value.field == "threads"


@pytest.mark.parametrize("value", ["abc", "0"])
def test_the_cli_says_which_variable_is_wrong_and_what_to_set(value: str, monkeypatch, capsys) -> None:
    from latentlab.cli import main

    monkeypatch.setenv("OMP_NUM_THREADS", value)
    assert main(["presets"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"latentlab presets: error: the environment variable OMP_NUM_THREADS={value!r} is invalid")
    assert "export OMP_NUM_THREADS=2" in err and "unset OMP_NUM_THREADS" in err and "Traceback" not in err


@pytest.mark.parametrize("value", ["0", "-1", "two"])
def test_the_threads_flag_takes_a_whole_number_from_one(value: str, capsys) -> None:
    from latentlab.cli import main

    with pytest.raises(SystemExit) as caught:
        main(["detect", "run", "x.png", "--threads", value])
    assert caught.value.code == 2 and "--threads" in capsys.readouterr().err


def test_latentlab_threads_torch_leaves_torch_alone() -> None:
    policy = decide(CPUs(8), {"LATENTLAB_THREADS": "torch", "OMP_NUM_THREADS": "2"})
    assert not policy.managed and policy.threads == 0 and policy.reason == "LATENTLAB_THREADS=torch"


# --- what the machine says ----------------------------------------------------------------------------------------

def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_cgroup_v2_quota_is_the_smallest_up_the_tree(tmp_path: Path) -> None:
    _write(tmp_path / "proc", "0::/user.slice/job\n")
    _write(tmp_path / "cg/cpu.max", "max 100000\n")
    _write(tmp_path / "cg/user.slice/cpu.max", "150000 100000\n")
    _write(tmp_path / "cg/user.slice/job/cpu.max", "max 100000\n")
    assert cgroup_quota(tmp_path / "proc", tmp_path / "cg") == 1.5


def test_cgroup_v1_quota_and_unlimited(tmp_path: Path) -> None:
    _write(tmp_path / "proc", "4:cpu,cpuacct:/docker/abc\n3:memory:/docker/abc\n")
    _write(tmp_path / "cg/cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "50000\n")
    _write(tmp_path / "cg/cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000\n")
    assert cgroup_quota(tmp_path / "proc", tmp_path / "cg") == 0.5
    _write(tmp_path / "cg/cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "-1\n")
    assert cgroup_quota(tmp_path / "proc", tmp_path / "cg") is None
    assert cgroup_quota(tmp_path / "missing", tmp_path / "cg") is None  # no /proc: no quota known


def test_others_running_leaves_out_this_process(tmp_path: Path) -> None:
    _write(tmp_path / "loadavg", "1.00 0.50 0.25 4/321 9999\n")
    _write(tmp_path / "self/task/10/stat", "10 (python (x)) R 1 10 10 0\n")  # a ")" inside the name
    _write(tmp_path / "self/task/11/stat", "11 (python) S 1 10 10 0\n")
    _write(tmp_path / "self/task/12/stat", "12 (python) R 1 10 10 0\n")
    assert others_running(tmp_path) == 2
    assert others_running(tmp_path / "nothing") is None


# --- the governor -------------------------------------------------------------------------------------------------

class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def feed(gov: Governor, clock: Clock, step_s: list[float] | float, windows: int = 1) -> None:
    """`windows` windows of steps of 100 images, each step taking `step_s` (a list: one per step of a window)."""
    times = step_s if isinstance(step_s, list) else [step_s] * Governor.WINDOW
    for _ in range(windows):
        for t in times:
            clock.now += t
            gov.step(100, t)


def governor(threads: int = 2, others: int | None = None) -> tuple[Governor, Clock, list[int]]:
    clock, set_to = Clock(), []
    gov = Governor(threads, True, clock=clock, set_threads=set_to.append, cpus=threads, others=lambda: others)
    return gov, clock, set_to


def test_ladder_halves_down_to_one() -> None:
    assert ladder(8) == [8, 4, 2, 1] and ladder(6) == [6, 3, 1] and ladder(1) == [1] and ladder(0) == [1]


def test_an_idle_machine_never_pays_for_a_try() -> None:
    gov, clock, set_to = governor()
    feed(gov, clock, [0.010, 0.0101, 0.0099, 0.0102, 0.010, 0.0098], windows=200)
    assert gov.switches == 0 and set_to == [] and gov.current == 2


def test_a_busy_core_moves_to_one_thread_and_probes_back_with_growing_pauses() -> None:
    gov, clock, set_to = governor()
    feed(gov, clock, 0.010, windows=2)  # idle
    # One core taken: most steps wait for the descheduled thread (the measured tail: p50 16 ms, mean 29 ms).
    busy_two = [0.012, 0.045, 0.013, 0.060, 0.012, 0.040]
    feed(gov, clock, busy_two)
    assert gov.current == 1 and set_to == [1]
    feed(gov, clock, 0.013)  # one thread, undisturbed: the try won
    assert gov.current == 1
    feed(gov, clock, 0.013, windows=20)  # 1.56 s: past the first pause, so one try up happened...
    assert set_to[:3] == [1, 2, 1]  # ...and lost to a slower window
    pauses = []
    for _ in range(6):
        before = gov.switches
        while gov.switches == before:
            # at two threads a window is slow; at one thread it is steady
            feed(gov, clock, busy_two if gov.current == 2 else [0.013] * Governor.WINDOW)
        pauses.append(gov.pause)
    assert max(pauses) == 16.0 and pauses == sorted(pauses)  # doubled up to max_probe_s


def test_a_try_up_that_spins_is_given_up_at_its_first_slow_step() -> None:
    gov, clock, set_to = governor()
    feed(gov, clock, [0.012, 0.045, 0.013, 0.060, 0.012, 0.040])  # -> one thread
    feed(gov, clock, 0.013, windows=10)
    clock.now += 2
    feed(gov, clock, 0.013)  # this window's end starts a try of two threads
    assert gov.current == 2
    gov.step(100, 0.5)  # one step 38x slower: back at once, not after a window
    assert gov.current == 1 and set_to[-1] == 1


def test_a_freed_machine_goes_back_to_all_threads() -> None:
    gov, clock, set_to = governor()
    feed(gov, clock, [0.012, 0.045, 0.013, 0.060, 0.012, 0.040])
    feed(gov, clock, 0.013, windows=10)
    clock.now += 2
    feed(gov, clock, 0.013)  # try two threads...
    feed(gov, clock, 0.009)  # ...faster now: the machine is idle again
    assert gov.current == 2
    feed(gov, clock, 0.009, windows=50)
    assert gov.current == 2


def test_a_slower_window_than_before_tries_fewer_threads() -> None:
    gov, clock, _ = governor(threads=8)
    feed(gov, clock, 0.010, windows=3)
    feed(gov, clock, 0.020)  # even steps, twice as slow: the reference says a core was taken
    assert gov.current == 4


def test_other_processes_running_now_start_the_work_on_fewer_threads() -> None:
    gov, _, set_to = governor(threads=2, others=1)
    assert gov.current == 1 and set_to == [1]
    gov, _, set_to = governor(threads=8, others=3)
    assert gov.current == 4
    gov, _, set_to = governor(threads=2, others=0)
    assert gov.current == 2 and set_to == []


def test_a_try_the_work_ends_before_decides_nothing() -> None:
    gov, clock, set_to = governor()
    feed(gov, clock, [0.012, 0.045, 0.013, 0.060, 0.012, 0.040])
    assert gov.current == 1
    gov.release()  # the loop ended during the try
    assert gov.current == 2 and set_to[-1] == 2
    gov.resume()
    assert gov.current == 2


def test_release_leaves_the_policy_count_and_resume_restores_the_level() -> None:
    gov, clock, set_to = governor()
    feed(gov, clock, [0.012, 0.045, 0.013, 0.060, 0.012, 0.040])
    feed(gov, clock, 0.013)  # one thread won
    gov.release()
    assert set_to[-1] == 2 and gov.current == 1
    gov.resume()
    assert set_to[-1] == 1


def test_watching_only_warns_once_about_spinning_threads() -> None:
    clock = Clock()
    gov = Governor(2, False, clock=clock, set_threads=lambda n: None)
    feed(gov, clock, 0.010)
    with pytest.warns(RuntimeWarning, match=r"configure_threads\(\)"):
        feed(gov, clock, 0.080)
    feed(gov, clock, 0.080, windows=3)  # no second warning (pytest would fail on an unexpected one below)
    assert gov.warned and gov.switches == 0


# --- in force where latentlab owns the process --------------------------------------------------------------------

def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "GOMP_", "LATENTLAB_THREADS"))}
    env["PYTHONPATH"] = str(ROOT / "src")
    env.update(extra)
    return env


def _train(tmp_path: Path, env: dict[str, str], prefix: tuple[str, ...] = (),
           extra: tuple[str, ...] = ()) -> tuple[dict, str]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    out = subprocess.run([*prefix, sys.executable, "-m", "latentlab", "train", "mnist-simple", "--dataset",
                          "mnist-sample", "--epochs", "1", "--out", str(tmp_path / "run"), *extra], env=env,
                         cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads((tmp_path / "run" / "meta.json").read_text())["threads"], out.stderr


@pytest.mark.slow
def test_the_cli_says_and_records_the_policy(tmp_path: Path) -> None:
    cpus = len(os.sched_getaffinity(0))
    threads, err = _train(tmp_path, _env())
    assert threads["threads"] == max(1, cpus) and threads["managed"] and threads["adaptive"] == (cpus > 1)
    assert f"(cpu, {threads['threads']} thread" in err
    fixed, err = _train(tmp_path / "b", _env(OMP_NUM_THREADS="1"))
    assert fixed == {**fixed, "threads": 1, "adaptive": False, "reason": "OMP_NUM_THREADS=1"}
    off, err = _train(tmp_path / "c", _env(LATENTLAB_THREADS="torch"))
    assert not off["managed"] and "torch's own setting" in err
    flag, err = _train(tmp_path / "d", _env(OMP_NUM_THREADS="2"), extra=("--threads", "1"))
    assert (flag["threads"], flag["reason"], flag["adaptive"]) == (1, "--threads", False) and "(cpu, 1 thread," in err


@pytest.mark.slow
@pytest.mark.skipif(not Path("/usr/bin/taskset").exists() or len(os.sched_getaffinity(0)) < 2,
                    reason="needs taskset and two CPUs")
def test_one_cpu_of_affinity_is_one_thread(tmp_path: Path) -> None:
    threads, err = _train(tmp_path, _env(), prefix=("taskset", "-c", "0"))
    assert threads["threads"] == 1 and not threads["adaptive"] and "(cpu, 1 thread," in err


def _cgroup_v1() -> Path | None:
    base = Path("/sys/fs/cgroup/cpu")
    return base if (base / "cpu.cfs_quota_us").exists() and os.access(base, os.W_OK) else None


@pytest.mark.slow
@pytest.mark.skipif(_cgroup_v1() is None or len(os.sched_getaffinity(0)) < 2,
                    reason="needs a writable cgroup v1 cpu controller (root) and two CPUs")
def test_a_cpu_quota_of_one_is_one_thread(tmp_path: Path) -> None:
    group = _cgroup_v1() / f"latentlab-test-{uuid.uuid4().hex[:8]}"
    group.mkdir()
    try:
        (group / "cpu.cfs_quota_us").write_text(str(int((group / "cpu.cfs_period_us").read_text())))
        threads, err = _train(tmp_path, _env(), prefix=(
            "sh", "-c", f'echo $$ > {group}/cgroup.procs && exec "$@"', "sh"))
        assert threads["threads"] == 1 and "cgroup quota 1 CPUs" in threads["reason"]
    finally:
        group.rmdir()


def policy_of_worker(_: int) -> dict:
    """A task: the thread policy its worker process runs under, and torch's count."""
    import torch

    from latentlab import threads

    return {**threads.in_force(), "torch": torch.get_num_threads()}


def test_workers_apply_the_policy_before_their_tasks(monkeypatch: pytest.MonkeyPatch) -> None:
    from latentlab.runner import run_tasks

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    cpus = len(os.sched_getaffinity(0))
    for outcome in run_tasks(policy_of_worker, [1, 3], jobs=2, progress=False):
        share = max(1, cpus // 2)
        assert outcome.result == {**outcome.result, "threads": share, "torch": share, "managed": True,
                                  "adaptive": share > 1}
        assert "shared by 2 processes" in outcome.result["reason"]
    fixed = run_tasks(policy_of_worker, [1, 3], jobs=2, threads=1, progress=False)
    assert {(o.result["reason"], o.result["torch"]) for o in fixed} == {("--threads", 1)}


def test_workers_decide_from_the_parents_environment_of_now_not_their_forkservers(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from latentlab.runner import run_tasks

    # The forkserver starts once per process, with the environment of that moment: one of these two pools runs
    # with an environment its forkserver did not see, whichever started it first.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    first = run_tasks(policy_of_worker, [1, 3], jobs=2, progress=False)
    assert {(o.result["reason"], o.result["torch"]) for o in first} == {("OMP_NUM_THREADS=1", 1)}
    monkeypatch.delenv("OMP_NUM_THREADS")
    share = max(1, len(os.sched_getaffinity(0)) // 2)
    second = run_tasks(policy_of_worker, [1, 3], jobs=2, progress=False)
    assert {o.result["torch"] for o in second} == {share}
    assert all("shared by 2 processes" in o.result["reason"] for o in second)


def test_scope_restores_the_process(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from latentlab import threads

    before = torch.get_num_threads()
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    with threads.scope(threads=1) as policy:
        assert policy.reason == "--threads" and threads.active() is policy
        threads.start_threads()
        assert torch.get_num_threads() == 1
    assert threads.active() is None and torch.get_num_threads() == before
