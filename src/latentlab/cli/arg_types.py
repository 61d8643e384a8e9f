"""argparse types of latentlab's flags: each turns the text typed into a value, or says what it wants."""

from __future__ import annotations

import argparse
import json
import math
import shlex
from pathlib import Path
from typing import Any

from latentlab.config import MAX_SAMPLES


def parse_set(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"--set wants KEY=VALUE (e.g. train.lr=3e-4), got {text!r}")
    try:
        return key, json.loads(value)  # numbers, lists such as [128,64], true/false
    except json.JSONDecodeError:
        if value.startswith("[") and value.endswith("]"):
            # A list with a word in it ([256,abc]): kept a list, so the config can name the element that is wrong.
            return key, [parse_item(v.strip()) for v in value[1:-1].split(",") if v.strip()]
        return key, value


def output_file(text: str) -> str:
    """A file latentlab writes (-o/--output of plot, decode, generate, interpolate): its folder must exist already.
    The one rule of every output flag: a missing folder is said, not made, because a mistyped path would otherwise
    leave a new folder tree behind; only flags documented as a folder latentlab owns make theirs (`output_dir`)."""
    path = Path(text).expanduser()
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a folder; give a file name in it (e.g. {Path(text) / 'out.png'})")
    folder = path.parent
    if not folder.is_dir():
        what = "is a file, not a folder" if folder.exists() else "does not exist"
        raise argparse.ArgumentTypeError(f"the folder {folder} {what}; create it first (mkdir -p "
                                         f"{shlex.quote(str(folder))}) or write into a folder that exists")
    return text


def output_dir(text: str) -> str:
    """A folder latentlab owns and writes into (a run directory, --out of report, sweep and benchmark, --explain,
    export's -o, --tensorboard): made, with any missing parents, when it is written; refused when it is a file."""
    if Path(text).expanduser().exists() and not Path(text).expanduser().is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a file; give a folder (it is made if missing)")
    return text


def sample_count(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if not 1 <= n <= MAX_SAMPLES:
        raise argparse.ArgumentTypeError(f"wants a whole number of images from 1 to {MAX_SAMPLES:,}, got {text!r}")
    return n


def port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"wants a port number from 1 to 65535 (e.g. 8000), got {text!r}")
    return port


def parse_item(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_classes(text: str) -> list[int]:
    """argparse type of one --classes word: class numbers separated by commas ("0,3,6"; several words, "0 3 6", are
    joined by `cmd_benchmark`)."""
    try:
        return [int(c) for c in text.split(",") if c.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--classes wants class numbers separated by commas or spaces, e.g. 0,3,6; "
                                         f"got {text!r}") from None


def parse_grid(text: str) -> tuple[str, list[Any]]:
    key, sep, values = text.partition("=")
    if not sep or not values:
        raise argparse.ArgumentTypeError(f"--set-grid wants KEY=V1,V2,... (e.g. train.lr=1e-3,3e-3), got {text!r}")
    try:
        return key, json.loads(f"[{values}]")  # numbers, true/false, lists such as [128,64],[256]
    except json.JSONDecodeError:
        return key, values.split(",")  # names, e.g. train.schedule=none,cosine


def finite_float(text: str) -> float:
    """argparse type: a finite number (a latent coordinate; nan and inf decode to nothing a figure can show)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text} is not a finite number; give a latent coordinate such as -1 or 3")
    return value


def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1 (argparse names the flag in its error)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is too small: at least 1")
    return value
