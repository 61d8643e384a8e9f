"""A command's wall time and the peak resident memory of every process it starts (parent, forkserver, workers).

A thread polls /proc every POLL_S seconds for the command's process tree and keeps the last VmHWM (the kernel's
own high-water mark of resident memory) seen for each process. VmHWM only grows, so what can be missed is the
growth in a process's last POLL_S before it exits; pool workers and the parent are idle then (shutting down, or
writing the page), so their peaks are caught. The parent's ru_maxrss from wait4 is kept beside its VmHWM, not
used: it can include the bench's own pages from before exec (see memory.py).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

POLL_S = 0.2


def _status(pid: int) -> dict[str, int]:
    """VmHWM and VmRSS of `pid` in KiB ({} once it has exited)."""
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(("VmHWM:", "VmRSS:")):
                out[line[:5]] = int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return {}
    return out


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process on the machine."""
    out = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        out[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])  # the name in (...) may hold spaces
    return out


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def descendants(root: int) -> dict[int, int]:
    """pid -> parent pid of every living process below `root`."""
    parents = _parents()
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = {}, [root]
    while todo:
        for child in children.get(todo.pop(), []):
            out[child] = parents[child]
            todo.append(child)
    return out


def role(pid: int, root: int, tree: dict[int, int], cmdline: str) -> str:
    """What a process of the command is: the parent, the forkserver, a pool worker (its children), or a helper."""
    if pid == root:
        return "parent"
    if "resource_tracker" in cmdline:
        return "resource tracker"
    if "forkserver" in cmdline:
        return "forkserver" if tree.get(pid) == root else "worker"
    return "worker" if tree.get(pid) != root else "child"


class Watch:
    """Samples the peak RSS of `root` and of every process below it until `stop()`."""

    def __init__(self, root: int) -> None:
        self.root, self.seen, self._stop = root, {}, threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(POLL_S)

    def sample(self) -> None:
        tree = descendants(self.root)
        for pid in [self.root, *tree]:
            st = _status(pid)
            if not st:
                continue
            old = self.seen.get(pid)
            cmd = old["cmdline"] if old else _cmdline(pid)
            self.seen[pid] = {"pid": pid, "role": role(pid, self.root, tree, cmd) if not old else old["role"],
                              "cmdline": cmd, "peak_rss_mib": round(st.get("VmHWM", 0) / 1024, 1)}

    def stop(self) -> list[dict[str, Any]]:
        self._stop.set()
        self._thread.join()
        order = {"parent": 0, "worker": 1, "forkserver": 2, "child": 3, "resource tracker": 4}
        return sorted(self.seen.values(), key=lambda p: (order.get(p["role"], 9), p["pid"]))


def run(cmd: list[str], cwd: str | Path, timeout_s: float, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run `cmd`; its wall time, exit code, the tail of its output and every process's peak RSS in MiB."""
    t0 = time.perf_counter()
    # Output goes to a file, not a pipe: wait4 reaps the child itself, and a full pipe would block it.
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, text=True, env=env)
        watch = Watch(proc.pid)
        code, usage = None, None
        while code is None:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                code = os.waitstatus_to_exitcode(status)
            elif time.perf_counter() - t0 > timeout_s:
                _kill_tree(proc.pid, descendants(proc.pid))
            else:
                time.sleep(0.05)
                if not watch.seen:
                    watch.sample()  # a fast command: sample before the first poll
        proc.returncode = code
        wall = time.perf_counter() - t0
        processes = watch.stop()
        log.seek(0)
        tail = log.read()[-3000:]
    timed_out = wall > timeout_s
    workers = [p["peak_rss_mib"] for p in processes if p["role"] == "worker"]
    parent = next((p["peak_rss_mib"] for p in processes if p["role"] == "parent"), 0.0)
    return {"command": " ".join(cmd[2:] if cmd[1:2] == ["-m"] else cmd), "wall_s": round(wall, 2),
            "returncode": code, "status": "timed out" if timed_out else ("ok" if code == 0 else f"failed ({code})"),
            "parent_peak_rss_mib": parent, "parent_ru_maxrss_mib": round(usage.ru_maxrss / 1024, 1) if usage else None,
            "max_worker_peak_rss_mib": max(workers, default=None), "max_process_peak_rss_mib": max([parent, *workers]),
            "processes": processes, "output_tail": "" if code == 0 else tail}


def _kill_tree(root: int, tree: dict[int, int]) -> None:
    for pid in [*tree, root]:  # only the command's own processes, by id
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 9)
