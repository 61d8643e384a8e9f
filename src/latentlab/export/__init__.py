"""Export: a trained run as files that other tools load without latentlab or torch.

`FORMATS` maps a format name to its exporter, `exporter(run_or_path, out_dir) -> {name: path}`; ONNX is the one
there is (`to_onnx`: encoder and decoder graphs plus a JSON model card). Importing this package loads torch but
not onnx: the exporter imports its optional extra when it runs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from latentlab.export.card import model_card
from latentlab.export.onnx_graphs import to_onnx
from latentlab.runs import Run

FORMATS: dict[str, Callable[[Run | str | Path, str | Path], dict[str, Path]]] = {
    "onnx": to_onnx,
}
"""Export formats: name -> `exporter(run_or_path, out_dir) -> {name: path}`."""

__all__ = ["FORMATS", "model_card", "to_onnx"]
