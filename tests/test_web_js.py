"""The page's pure JavaScript (plane geometry, the in-page decoder, formatting, the store, the API wrappers),
tested with node's own test runner: tests/js/*.test.mjs, no npm packages."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

JS_TESTS = Path(__file__).parent / "js"


def test_node_tests_pass():
    node = shutil.which("node")
    assert node, "node (18 or later) is needed for tests/js/*.test.mjs: install Node.js (apt-get install nodejs)"
    # Files, not the directory: node 21+ reads --test arguments as glob patterns.
    files = sorted(str(p) for p in JS_TESTS.glob("*.test.mjs"))
    assert files, f"no *.test.mjs files in {JS_TESTS}"
    r = subprocess.run([node, "--test", *files], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"node --test failed ({r.returncode}):\n{r.stdout[-6000:]}\n{r.stderr[-2000:]}"
