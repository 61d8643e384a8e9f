"""Compare two report folders bit for bit: every number of metrics.json and the bytes of every figure.

    python scripts/compare_reports.py OLD_REPORT NEW_REPORT

Prints the metrics that differ (dotted path, old value, new value), those only one side has, and the PNG files
(anywhere under the folders) whose bytes differ or that only one side has; exits 0 when everything is the same,
1 otherwise. Used to show that a refactor changed nothing it did not mean to (`latentlab report --epochs 1 --jobs 1
--presets ...` at both commits, then this).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """{"a.b.0": leaf, ...} of nested dicts and lists; leaves are kept as JSON read them (floats exactly)."""
    if isinstance(value, dict):
        return {k: v for key, item in value.items() for k, v in flatten(item, f"{prefix}{key}.").items()}
    if isinstance(value, list):
        return {k: v for i, item in enumerate(value) for k, v in flatten(item, f"{prefix}{i}.").items()}
    return {prefix.rstrip("."): value}


def digests(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of each PNG under `root`."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*.png"))}


def compare(old: Path, new: Path) -> list[str]:
    """The differences between two report folders, one line each (empty when they are the same)."""
    metrics = [flatten(json.loads((side / "metrics.json").read_text())) for side in (old, new)]
    return (_differences("metric", *metrics, lambda k, a, b: f"{k}: {a!r} -> {b!r}")
            + _differences("figure", digests(old), digests(new), lambda k, a, b: k))


def _differences(kind: str, a: dict[str, Any], b: dict[str, Any], show) -> list[str]:
    """One line per key of `a` or `b` missing on one side or of another value; `show(key, old, new)` words a change."""
    lines = []
    for key in sorted(a.keys() | b.keys()):
        if key not in b:
            lines.append(f"{kind} only in old: {key}" + (f" = {a[key]!r}" if kind == "metric" else ""))
        elif key not in a:
            lines.append(f"{kind} only in new: {key}" + (f" = {b[key]!r}" if kind == "metric" else ""))
        elif a[key] != b[key]:
            lines.append(f"{kind} differs: {show(key, a[key], b[key])}")
    return lines


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    lines = compare(Path(argv[0]), Path(argv[1]))
    print("\n".join(lines) if lines else "the same: every metric and every figure's bytes")
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
