"""Peak resident memory of a full-data training run, each model in a fresh child process.

The parent reads the child's own peak RSS from wait4's rusage (ru_maxrss, KiB on Linux), which covers
the interpreter, torch and its libraries, the dataset and the run-directory writes.

    python bench/memory.py MODEL EPOCHS   # the child: train MODEL on the bench data into a temporary run dir
"""

from __future__ import annotations

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
    return {"peak_rss_mib": usage.ru_maxrss / 1024.0, "epochs": epochs, "wall_s": time.perf_counter() - t0,
            "child": out.strip().splitlines()[-1] if out.strip() else ""}


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(ROOT))
    from bench.common import bench_config, load_data
    from latentlab.train import train

    model, epochs, data_name = argv[0], int(argv[1]), argv[2]
    data = load_data(data_name)
    with tempfile.TemporaryDirectory(prefix="latentlab-bench-") as tmp:
        result = train(bench_config(model, epochs), data.x_train, data.x_test, Path(tmp) / model, quiet=True)
    print(f"{model}: {len(data.x_train)} images, {len(result.history)} epochs, {result.status}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
