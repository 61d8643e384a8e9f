"""A fitted novelty detector on disk: detector[-SCORE].json (parameters, threshold, fingerprints) beside
detector[-SCORE].safetensors (its arrays). JSON and safetensors only: loading never unpickles anything."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load as load_tensors
from safetensors.numpy import save as save_tensors

from latentlab.errors import DetectorFileError, MissingDetectorError
from latentlab.files import atomic_write_bytes, atomic_write_text


def file_stem(score: str) -> str:
    """The default detector is saved as detector.json / detector.safetensors, others as detector-SCORE.*."""
    return "detector" if score == "combined" else f"detector-{score}"


def write_detector(run_dir: str | Path, score: str, info: dict[str, Any], arrays: dict[str, np.ndarray]) -> Path:
    """Write the arrays, then the JSON (each atomically); returns the JSON path."""
    run_dir = Path(run_dir)
    stem = file_stem(score)
    atomic_write_bytes(run_dir / f"{stem}.safetensors", save_tensors(arrays))
    atomic_write_text(run_dir / f"{stem}.json", json.dumps(info, indent=2) + "\n")
    return run_dir / f"{stem}.json"


def read_detector(run_dir: str | Path, score: str, kind: str, fmt: int) -> tuple[Path, dict[str, Any],
                                                                                 dict[str, np.ndarray]]:
    """(JSON path, info, arrays) of the detector for `score` in `run_dir`. `MissingDetectorError` when there is none;
    `DetectorFileError` when it is damaged, of another class than `kind` or of another format than `fmt`."""
    run_dir = Path(run_dir)
    stem = file_stem(score)
    path = run_dir / f"{stem}.json"
    if not path.is_file():
        raise MissingDetectorError(f"{path} does not exist; fit one with NoveltyDetector(...).fit(x).save(run_dir)",
                                   field="run_dir", value=str(path))
    try:
        info = json.loads(path.read_text())
        arrays = load_tensors((run_dir / f"{stem}.safetensors").read_bytes())  # any folder name, not only UTF-8
    except (json.JSONDecodeError, SafetensorError, OSError) as exc:
        raise DetectorFileError(f"{path} or its .safetensors is damaged ({exc}); delete both and refit",
                                field="run_dir", value=str(path)) from None
    if info.get("class") != kind or info.get("format", 0) != fmt:
        raise DetectorFileError(f"{path} is not a NoveltyDetector this latentlab can read; delete it and refit",
                                field="run_dir", value=str(path))
    return path, info, arrays
