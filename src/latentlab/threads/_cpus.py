"""The CPUs a process may really use: its affinity mask and its cgroup's CPU quota (not `os.cpu_count()`)."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CPUs:
    """The CPUs a process may really run on: `affinity` CPUs in its mask, and `quota` CPUs of time per period
    from its cgroup (None when unlimited)."""

    affinity: int
    quota: float | None = None

    @property
    def usable(self) -> int:
        """Whole CPUs to plan threads for: the affinity count, capped by the quota (a quota of 1.5 CPUs is 1)."""
        cap = self.affinity if self.quota is None else max(1, math.floor(self.quota + 0.05))
        return max(1, min(self.affinity, cap))

    def describe(self) -> str:
        quota = "" if self.quota is None else f", cgroup quota {self.quota:g} CPUs"
        return f"{self.affinity} CPUs in the affinity mask{quota}"


def affinity_count() -> int:
    """CPUs in this process's affinity mask (`os.cpu_count()` where the OS has no mask: macOS, Windows)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def cgroup_quota(proc: Path = Path("/proc/self/cgroup"), root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """The CPU quota of this process's cgroup and its parents, in CPUs (the smallest found), or None when none is
    set. Reads cgroup v2's `cpu.max` ("max 100000" or "50000 100000") and v1's `cpu.cfs_quota_us` /
    `cpu.cfs_period_us` (-1 is unlimited). A container usually sees its own cgroup as the root: that is read too."""
    try:
        lines = proc.read_text().splitlines()
    except OSError:
        return None
    found: list[float] = []
    for line in lines:
        _, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        names = controllers.split(",")
        if controllers == "":  # v2
            bases = [root]
        elif "cpu" in names:  # v1, mounted as cpu or cpu,cpuacct
            bases = [root / "cpu", root / "cpu,cpuacct", root / "cpuacct,cpu"]
        else:
            continue
        for base in bases:
            found += _quotas_up(base, path.strip("/"), v2=controllers == "")
    return min(found) if found else None


def _quotas_up(base: Path, path: str, v2: bool) -> list[float]:
    out = []
    parts = [p for p in path.split("/") if p]
    for depth in range(len(parts), -1, -1):
        folder = base.joinpath(*parts[:depth])
        try:
            if v2:
                quota, period = (folder / "cpu.max").read_text().split()[:2]
                if quota != "max":
                    out.append(int(quota) / int(period))
            else:
                quota = int((folder / "cpu.cfs_quota_us").read_text())
                if quota > 0:
                    out.append(quota / int((folder / "cpu.cfs_period_us").read_text()))
        except (OSError, ValueError):
            continue
    return out


def available_cpus() -> CPUs:
    """The CPUs this process may use now (see `CPUs`)."""
    return CPUs(affinity_count(), cgroup_quota())


def others_running(proc: Path = Path("/proc"), samples: int = 3) -> int | None:
    """Threads of other processes that are running or ready to run now (Linux: /proc/loadavg's runnable count less
    this process's own running threads), the smallest of `samples` readings so that a passing blip is not counted;
    None where /proc cannot say."""
    counts = []
    for _ in range(samples):
        try:
            running = int((proc / "loadavg").read_text().split()[3].split("/")[0])
            ours = 0
            for task in (proc / "self" / "task").iterdir():
                stat = (task / "stat").read_text()
                ours += stat[stat.rindex(")") + 2] == "R"
        except (OSError, ValueError, IndexError):
            return None
        counts.append(max(0, running - ours))
    return min(counts)
