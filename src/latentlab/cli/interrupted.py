"""What `latentlab` says when Ctrl-C (SIGINT) or SIGTERM stops it: what was kept, and the exact command that goes
on from there (`--resume` only where a checkpoint is kept; otherwise the same command again)."""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Sequence
from pathlib import Path

#: Commands that train runs through `training.reuse.ensure_run`: the same command again reuses the runs that
#: finished and resumes the one that was interrupted.
REUSING = ("report", "sweep")


def interrupted_message(argv: Sequence[str], args: argparse.Namespace | None) -> str:
    """The one line printed to stderr when the command `argv` (parsed as `args`, None if parsing was interrupted)
    was interrupted.

    Parameters
    ----------
    argv : sequence of str
        The command's arguments, as typed after ``latentlab``.
    args : argparse.Namespace or None
        What they parsed to; `cmd_train` adds ``run_dir`` as soon as it knows it. While it is None the command is
        named from `argv`'s first word.

    Returns
    -------
    str
        ``latentlab COMMAND: interrupted: WHAT WAS KEPT; to go on: COMMAND LINE``.
    """
    # Before its arguments are parsed (building a command's parser imports torch for its choices, which takes a
    # while), the command is the first word typed.
    typed = argv[0] if argv and not argv[0].startswith("-") else None
    command = getattr(args, "command", None) or typed
    again = shlex.join(["latentlab", *argv])
    if command == "train":
        run_dir = getattr(args, "run_dir", None) or getattr(args, "resume", None)
        if run_dir is not None:
            from latentlab.file_sets import kept_checkpoint

            kept = kept_checkpoint(Path(run_dir))
            if kept:
                go_on = ["latentlab", "train", "--resume", str(run_dir)]
                if getattr(args, "data_dir", None):  # not part of the run's config: the resume needs it again
                    go_on += ["--data-dir", args.data_dir]
                return (f"latentlab train: interrupted: {kept} is kept in {run_dir}; to go on from it: "
                        f"{shlex.join(go_on)}")
            return (f"latentlab train: interrupted before the first checkpoint: nothing was kept in {run_dir}; to "
                    f"start again, run the same command: {again}")
    if command in REUSING:
        return (f"latentlab {command}: interrupted: the runs that finished are kept, and the checkpoint of the one "
                f"that was training; to go on, run the same command again (it reuses and resumes them): {again}")
    name = f"latentlab {command}" if command else "latentlab"
    return f"{name}: interrupted before its output was written: nothing was kept; to do it, run the same command " \
           f"again: {again}"


__all__ = ["REUSING", "interrupted_message"]
