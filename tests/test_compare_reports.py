"""scripts/compare_reports.py: two report folders compared metric by metric and figure byte by byte."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

_spec = importlib.util.spec_from_file_location("compare_reports",
                                               Path(__file__).parents[1] / "scripts" / "compare_reports.py")
compare_reports = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(compare_reports)


def _report(root: Path, metrics: dict, figures: dict[str, bytes]) -> Path:
    root.mkdir()
    (root / "metrics.json").write_text(json.dumps(metrics))
    for name, data in figures.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def test_the_same_reports_have_no_differences(tmp_path, capsys):
    metrics = {"mnist-vae": {"test": {"bce": 0.1 + 0.2, "auroc": [0.9, 1.0]}}}
    old = _report(tmp_path / "old", metrics, {"runs/a/recon.png": b"\x89PNG1"})
    new = _report(tmp_path / "new", metrics, {"runs/a/recon.png": b"\x89PNG1"})
    assert compare_reports.compare(old, new) == []
    assert compare_reports.main([str(old), str(new)]) == 0
    assert "the same" in capsys.readouterr().out


def test_a_last_bit_a_missing_key_and_other_bytes_are_each_named(tmp_path):
    old = _report(tmp_path / "old", {"a": {"x": 0.30000000000000004, "gone": 1}, "l": [1, 2]},
                  {"f/one.png": b"1", "f/two.png": b"2"})
    new = _report(tmp_path / "new", {"a": {"x": 0.3, "added": 2}, "l": [1, 2]},
                  {"f/one.png": b"1!", "f/three.png": b"3"})
    assert compare_reports.compare(old, new) == [
        "metric only in new: a.added = 2",
        "metric only in old: a.gone = 1",
        "metric differs: a.x: 0.30000000000000004 -> 0.3",
        "figure differs: f/one.png",
        "figure only in new: f/three.png",
        "figure only in old: f/two.png",
    ]
    assert compare_reports.main([str(old), str(new)]) == 1
