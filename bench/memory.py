"""Peak resident memory of a full-data training run, each model in a fresh child process.

The child reports its own high-water mark (VmHWM in /proc/self/status): the interpreter, torch and its
libraries, the dataset, training and the run-directory writes. wait4's ru_maxrss is kept beside it, but it
can include the parent's pages from before exec (a forked copy of a large parent), so it is not the number used.

    python bench/memory.py MODEL EPOCHS   # the child: train MODEL on the bench data into a temporary run dir
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def peak_rss(model: str, epochs: int, data: str = "fashion-mnist") -> dict[str, Any]:
    """Train `model` for `epochs` in a child process; its peak RSS in MiB and wall time."""
    cmd = [sys.executable, str(Path(__file__).resolve()), model, str(epochs), data]
    t0 = time.perf_counter()
    # Output goes to a file, not a pipe: wait4 must reap the child itself, and a full pipe would block it.
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        log.seek(0)
        out = log.read()
    if code != 0:
        raise RuntimeError(f"memory child for {model} failed (exit {code}): {out[-2000:]}")
    report = json.loads(out.strip().splitlines()[-1])
    return {"peak_rss_mib": report["vm_hwm_kib"] / 1024.0, "ru_maxrss_mib": usage.ru_maxrss / 1024.0,
            "epochs": epochs, "wall_s": time.perf_counter() - t0, "n_train": report["n_train"],
            "status": report["status"]}


def vm_hwm_kib() -> int:
    """Peak resident set size of this process in KiB (Linux), 0 where /proc is missing."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(ROOT))
    from bench.common import bench_config, load_data
    from latentlab.training import train

    model, epochs, data_name = argv[0], int(argv[1]), argv[2]
    data = load_data(data_name)
    with tempfile.TemporaryDirectory(prefix="latentlab-bench-") as tmp:
        result = train(bench_config(model, epochs), data.x_train, data.x_test, Path(tmp) / model, quiet=True)
    print(json.dumps({"model": model, "n_train": len(data.x_train), "status": result.status,
                      "vm_hwm_kib": vm_hwm_kib()}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
