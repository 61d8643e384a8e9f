"""The thread policy: one decision (`decide`, pure) from the CPUs and the environment, put in force by
`configure_threads` where latentlab owns the process (the CLI, its workers) or where a user calls it."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

from latentlab.errors import ConfigError
from latentlab.threads._cpus import CPUs, available_cpus

#: Environment variable that turns the policy off (`torch`: torch's own defaults, as before the policy).
OFF_VARIABLE = "LATENTLAB_THREADS"
#: The variables with which a user sets the thread count or the wait themselves.
USER_COUNT = ("OMP_NUM_THREADS",)
USER_WAIT = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")


@dataclass(frozen=True)
class ThreadPolicy:
    """What `decide` chose. `threads`: torch's intra-op threads to start with; `adaptive`: the governor may drop to
    one thread while that is faster; `set_env`: variables to set before torch loads (they fix the OpenMP wait);
    `wait`: the wait in words; `reason`: where the count came from."""

    threads: int
    adaptive: bool
    wait: str
    reason: str
    set_env: Mapping[str, str] = field(default_factory=dict)
    managed: bool = True  # False: torch's own defaults (LATENTLAB_THREADS=torch)

    def describe(self) -> str:
        """E.g. "2 threads (1 while the CPU is busy), spin-then-sleep wait" for the line that names the device."""
        count = f"{self.threads} thread{'s' if self.threads != 1 else ''}"
        if self.adaptive:
            count += " (1 while the CPU is busy)"
        return f"{count}, {self.wait}"

    def as_meta(self) -> dict[str, object]:
        """The policy as meta.json records it."""
        return {"threads": self.threads, "adaptive": self.adaptive, "wait": self.wait, "reason": self.reason,
                "managed": self.managed}


def decide(cpus: CPUs, env: Mapping[str, str], threads: int | None = None, workers: int = 1) -> ThreadPolicy:
    """The thread policy for a process that may use `cpus`, with environment `env`, where `threads` was asked for
    explicitly (`--threads`, None if not) and `workers` processes share the CPUs (a pool's jobs, torchrun's
    LOCAL_WORLD_SIZE). Pure: reads nothing else.

    Order: `threads` > OMP_NUM_THREADS > the usable CPUs divided among the workers. The governor adapts only a
    count latentlab chose. The wait is left to OMP_WAIT_POLICY/GOMP_SPINCOUNT when either is set. Raises
    `ConfigError` (field "threads" or "OMP_NUM_THREADS") for a count that is not a whole number >= 1: ignoring it
    would run with a count the user did not choose, and OpenMP itself would reject it.
    """
    if threads is not None and not (isinstance(threads, int) and not isinstance(threads, bool) and threads >= 1):
        raise ConfigError(f"threads={threads!r} is invalid: torch threads are a whole number >= 1",
                          hint="pass e.g. threads=2, or None to let latentlab choose", field="threads",
                          value=threads)
    if env.get(OFF_VARIABLE, "").strip().lower() == "torch":
        return ThreadPolicy(0, False, "torch's default wait", f"{OFF_VARIABLE}=torch", managed=False)
    user_wait = [k for k in USER_WAIT if env.get(k, "").strip()]
    wait = (", ".join(f"{k}={env[k].strip()}" for k in user_wait) + " (yours)") if user_wait else SPIN_WAIT
    set_env = {} if user_wait else dict(SPIN_ENV)
    if threads is not None:
        return ThreadPolicy(threads, False, wait, "--threads", set_env)
    omp = env.get("OMP_NUM_THREADS", "").strip()
    if omp:
        return ThreadPolicy(omp_count(omp), False, wait, f"OMP_NUM_THREADS={omp}", set_env)
    share = max(1, cpus.usable // max(1, workers))
    reason = cpus.describe() + (f", shared by {workers} processes" if workers > 1 else "")
    return ThreadPolicy(share, share > 1, wait, reason, set_env)


def omp_count(text: str) -> int:
    """The thread count of an OMP_NUM_THREADS value: its first number (OpenMP's "4,2" gives nested levels). Raises
    `ConfigError` naming the variable when any of its numbers is not a whole number >= 1 ("abc", "0", "-1", "2.5",
    "4,abc"), as GNU OpenMP would refuse it."""
    levels = [part.strip() for part in text.split(",")]
    if all(part.isdigit() and int(part) >= 1 for part in levels):
        return int(levels[0])
    raise ConfigError(f"the environment variable OMP_NUM_THREADS={text!r} is invalid: it sets the number of threads, "
                      "a whole number >= 1", hint="set it to one (e.g. export OMP_NUM_THREADS=2), or unset it "
                      "(unset OMP_NUM_THREADS) to let latentlab choose from the CPUs", field="OMP_NUM_THREADS",
                      value=text, allowed=None)


# What GNU OpenMP accepts of the wait variables (libgomp's env.c): anything else it warns of on its own line when
# torch loads it, and ignores.
_WAITS = ("active", "passive")
_SPIN = re.compile(r"\s*(infinite|infinity|\d+\s*[kmgt]?)\s*", re.IGNORECASE)


def check_environment(env: dict[str, str]) -> None:
    """Refuse invalid thread variables before torch is imported: GNU OpenMP (libgomp) prints its own warning line
    for them when torch loads it, before any error of ours could be said.

    An empty variable means unset to latentlab and is removed from `env` (libgomp would warn of it too).

    Parameters
    ----------
    env : dict of str to str
        The environment, `os.environ` in the CLI (changed in place: empty thread variables removed).

    Raises
    ------
    ConfigError
        OMP_NUM_THREADS not whole numbers >= 1 (`omp_count`), OMP_WAIT_POLICY not active or passive, GOMP_SPINCOUNT
        not a count (with an optional k, M, G or T) or infinite; `field` names the variable.
    """
    for name in (*USER_COUNT, *USER_WAIT):
        if name in env and not env[name].strip():
            del env[name]
    if "OMP_NUM_THREADS" in env:
        omp_count(env["OMP_NUM_THREADS"])
    wait, spin = env.get("OMP_WAIT_POLICY"), env.get("GOMP_SPINCOUNT")
    if wait is not None and wait.strip().lower() not in _WAITS:
        raise ConfigError(f"the environment variable OMP_WAIT_POLICY={wait!r} is invalid: it is active or passive",
                          hint="set it to one of them, or unset it (unset OMP_WAIT_POLICY) to keep OpenMP's own "
                          "wait", field="OMP_WAIT_POLICY", value=wait, allowed=_WAITS)
    if spin is not None and not _SPIN.fullmatch(spin):
        raise ConfigError(f"the environment variable GOMP_SPINCOUNT={spin!r} is invalid: it is a count (e.g. 300000 "
                          "or 300k) or infinite", hint="set it to one, or unset it (unset GOMP_SPINCOUNT) to keep "
                          "OpenMP's own wait", field="GOMP_SPINCOUNT", value=spin)


# The wait chosen when the user set none: GNU OpenMP's own (spin a while, then sleep), left as it is. Measured on
# this 2-core machine, mnist-vae training, img/s idle / one core busy: default 12,900 / 4,500, OMP_WAIT_POLICY=PASSIVE
# 10,800 / 10,100, GOMP_SPINCOUNT=1000 13,800 / 7,700, one thread 10,300 / 9,900. No wait keeps the idle speed and
# cures the busy case; one thread does the latter, so the governor moves the thread count and the wait stays.
SPIN_WAIT = "OpenMP's default wait"
# Every variable the decision reads: a pool's workers get the parent's values of these when the pool starts, not
# the ones their forkserver inherited when it started (it is started once, with the environment of that moment).
POLICY_VARIABLES = (OFF_VARIABLE, *USER_COUNT, *USER_WAIT, "LOCAL_WORLD_SIZE")


def policy_env() -> dict[str, str]:
    """The variables of this process's environment the thread policy reads (POLICY_VARIABLES that are set).

    Returns
    -------
    dict of str to str
        Name -> value, for a worker process to decide as this one would (`init_worker`).
    """
    return {key: os.environ[key] for key in POLICY_VARIABLES if key in os.environ}
SPIN_ENV: dict[str, str] = {}

_ACTIVE: ThreadPolicy | None = None


def active() -> ThreadPolicy | None:
    """The policy in force in this process (None until `configure_threads` ran, as in a plain Python session)."""
    return _ACTIVE


def configure_threads(threads: int | None = None, env: Mapping[str, str] | None = None,
                      workers: int = 1) -> ThreadPolicy:
    """Decide the policy for this process and put it in force: the wait variables are set in `os.environ` when
    torch is not imported yet (OpenMP reads them once, when torch loads; child processes inherit them), and torch's
    thread count is set now if torch is loaded, else when latentlab starts torch work. Returns the policy.

    Call it first thing in a notebook or script that trains with latentlab (before `import torch` for the wait to
    change too): `latentlab.configure_threads()`. The command line and its workers call it themselves.

    Parameters
    ----------
    threads : int or None, default None
        torch's intra-op thread count, asked for explicitly (as `--threads`); it wins over OMP_NUM_THREADS and
        the CPU share. None: decide from the environment and the usable CPUs.
    env : Mapping[str, str] or None, default None
        The environment the policy is decided from (LATENTLAB_THREADS, OMP_NUM_THREADS, OMP_WAIT_POLICY,
        GOMP_SPINCOUNT, LOCAL_WORLD_SIZE); None reads `os.environ`. Variables the policy sets still go to
        `os.environ`.
    workers : int, default 1
        How many processes share the CPUs (a pool's jobs); at 1 it is read from LOCAL_WORLD_SIZE (torchrun),
        else 1.

    Returns
    -------
    ThreadPolicy
        The policy now in force (also what `active()` returns): the thread count, whether the governor adapts it,
        the wait, where the count came from and the variables set.
    """
    global _ACTIVE
    env = os.environ if env is None else env
    workers = workers if workers > 1 else _local_world_size(env)
    policy = decide(available_cpus(), env, threads, workers)
    if "torch" in sys.modules and policy.set_env:
        policy = replace(policy, set_env={}, wait="torch's default wait (torch was loaded before the policy)")
    for key, value in policy.set_env.items():
        os.environ[key] = value
    _ACTIVE = policy
    if "torch" in sys.modules:
        apply_count(policy.threads)
    return policy


@contextmanager
def scope(threads: int | None = None, workers: int = 1) -> Iterator[ThreadPolicy]:
    """`configure_threads` for the length of a `with` block (one command run in-process): the previous policy, the
    environment variables it set and torch's thread count are restored afterwards."""
    global _ACTIVE
    before, env_before = _ACTIVE, dict(os.environ)
    count = _torch_count()
    try:
        yield configure_threads(threads, workers=workers)
    finally:
        _ACTIVE = before
        for key in (*USER_WAIT, *SPIN_ENV):
            if key in env_before:
                os.environ[key] = env_before[key]
            else:
                os.environ.pop(key, None)
        if count:
            apply_count(count)


def _torch_count() -> int:
    if "torch" not in sys.modules:
        return 0
    import torch

    return torch.get_num_threads()


def in_force() -> dict[str, object]:
    """The thread policy of this process as meta.json records it: the active policy's fields, or torch's own
    count when no policy is in force (a Python session that did not call `configure_threads`)."""
    if _ACTIVE is not None and _ACTIVE.managed:
        return _ACTIVE.as_meta()
    return {"threads": _torch_count(), "adaptive": False, "wait": "not set by latentlab",
            "reason": f"{OFF_VARIABLE}=torch" if _ACTIVE is not None else "torch's own (configure_threads not called)",
            "managed": False}


def describe_in_force() -> str:
    """The policy in words, for the line that names the device: "2 threads (1 while the CPU is busy), OpenMP's
    default wait"."""
    if _ACTIVE is not None and _ACTIVE.managed:
        return _ACTIVE.describe()
    count = _torch_count()
    return f"{count} thread{'s' if count != 1 else ''} (torch's own setting)"


def _local_world_size(env: Mapping[str, str]) -> int:
    try:
        return max(1, int(env.get("LOCAL_WORLD_SIZE", "1")))
    except ValueError:
        return 1


def apply_count(threads: int) -> None:
    """Set torch's intra-op thread count (a no-op for 0, torch's default)."""
    if threads >= 1:
        import torch

        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)


def start_threads() -> ThreadPolicy | None:
    """Put the active policy's thread count in force before torch work starts (fit, inference); returns it."""
    if _ACTIVE is not None and _ACTIVE.managed:
        apply_count(_ACTIVE.threads)
    return _ACTIVE
