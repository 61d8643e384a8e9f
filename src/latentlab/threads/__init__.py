"""How many CPU threads torch uses, and how they wait: one decision (`decide`), applied where latentlab owns the
process, and a governor that drops to one thread while another process keeps a core busy.

Why: torch's CPU build runs its kernels on GNU OpenMP, whose threads spin at the end of every parallel region
waiting for each other. When another process takes one of the cores, the thread that shares it is descheduled for
a whole time slice while its partner spins, and a training step of many small kernels becomes 10-100x slower
(pytorch/pytorch #57715; measured here: mnist-vae at 34,500-38,200 img/s idle, 1,300-3,200 with one core busy).
Neither fixed cure keeps the idle speed: a passive wait cost 43% idle, one thread 30%. So the thread count follows
the machine: as many threads as the CPUs this process may use (affinity mask and cgroup quota, not
`os.cpu_count()`), and one thread while steps measure faster with one (`Governor`).

The user's word wins: `--threads`, `OMP_NUM_THREADS` and `OMP_WAIT_POLICY`/`GOMP_SPINCOUNT` are kept as given, and
`LATENTLAB_THREADS=torch` leaves torch's own defaults alone. Nothing here imports torch until threads are set.
"""

from latentlab.threads._cpus import CPUs, available_cpus, cgroup_quota
from latentlab.threads._governor import Governor, governor, ladder, paced
from latentlab.threads._policy import (
    OFF_VARIABLE,
    POLICY_VARIABLES,
    ThreadPolicy,
    active,
    apply_count,
    check_environment,
    configure_threads,
    decide,
    describe_in_force,
    in_force,
    policy_env,
    scope,
    start_threads,
)

__all__ = ["CPUs", "Governor", "OFF_VARIABLE", "POLICY_VARIABLES", "ThreadPolicy", "active", "apply_count",
           "check_environment",
           "available_cpus", "cgroup_quota", "configure_threads", "decide", "describe_in_force", "governor", "in_force",
           "ladder", "paced", "policy_env", "scope", "start_threads"]
