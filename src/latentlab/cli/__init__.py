"""`latentlab` on the command line: the only package that reads argv and formats for the terminal.

Library errors speak Python (argument and config-field names); `main` prints them with the flags that set
those names, so the advice fits where the user typed. Only latentlab's own errors become one-line messages:
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence

from latentlab.errors import LatentlabError

# Python names in library messages -> the flag that sets them. Other config fields are set with --set.
FLAGS = {
    "train.lr": "--lr", "train.epochs": "--epochs", "train.batch_size": "--batch-size", "train.seed": "--seed",
    "train.device": "--device", "model.latent_dim": "--latent-dim", "train.noise.kind": "--noise",
    "train.noise.factor": "--noise", "data_dir": "--data-dir", "device": "--device", "resume": "--resume",
    "score": "--score", "dataset": "--dataset", "presets": "--presets", "auto": "--no-auto",
    "tensorboard_dir": "--tensorboard", "image_size": "--image-size", "grayscale": "--grayscale",
    "preset": "--preset", "steps": "--steps", "classes": "--classes", "seeds": "--seeds", "jobs": "--jobs",
    "executor": "--executor", "threads": "--threads", "grid": "--set-grid",
}
# Names that are also everyday words ("classes", "steps") count only when a message writes them as `name=value`.
_NAME = re.compile(r"(?<![\w.-])((?:model|train)\.[a-z_.]*[a-z_]|data_dir|device|resume|score|dataset|presets|auto"
                   r"|tensorboard_dir|executor|image_size|grayscale)(?==|\b)"
                   r"|(?<![\w.-])(preset|steps|classes|seeds|jobs|threads|grid)(?==)")


def in_flags(message: str) -> str:
    """`message` with a note naming the command-line flag of each Python name it mentions."""
    notes = []
    for name in dict.fromkeys(a or b for a, b in _NAME.findall(message)):
        flag = FLAGS.get(name) or (f"--set {name}=VALUE" if "." in name else None)
        if flag and flag not in notes:
            notes.append(f"{name} is {flag}")
    return message + (f" (on the command line: {'; '.join(notes)})" if notes else "")


def main(argv: Sequence[str] | None = None) -> int:
    from latentlab.cli.parser import build_parser

    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(argv[0] if argv else None).parse_args(argv)
    try:
        return args.func(args)
    except LatentlabError as exc:
        print(f"latentlab {args.command}: error: {in_flags(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


__all__ = ["main"]
