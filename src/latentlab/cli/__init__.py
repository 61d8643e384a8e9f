"""`latentlab` on the command line: the only package that reads argv and formats for the terminal.

Library errors speak Python (argument and config-field names); `main` prints them with the flags that set
those names, so the advice fits where the user typed. Only latentlab's own errors become one-line messages:
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Mapping, Sequence

from latentlab.errors import LatentlabError

# Python names in library messages whose flag is spelled otherwise -> that flag's argparse `dest`. Every other name
# is looked up as its own dest (data_dir -> --data-dir), and only in the parser of the command that was run: the
# parser is the one source of truth for which flags a command has.
DESTS = {
    "train.lr": "lr", "train.epochs": "epochs", "train.batch_size": "batch_size", "train.seed": "seed",
    "train.device": "device", "model.latent_dim": "latent_dim", "train.noise.kind": "noise",
    "train.noise.factor": "noise", "auto": "no_auto", "tensorboard_dir": "tensorboard", "grid": "set_grid",
}
# Library names a flag sets the other way round: `auto=False` is `--no-auto`.
INVERTED = {"auto"}
# Names that are also everyday words ("classes", "steps", "device" as in "No space left on device") or values
# ("auto") count only when a message writes them as `name=value`.
_NAME = re.compile(r"(?<![\w.-])((?:model|train)\.[a-z_.]*[a-z_]|data_dir|resume|score|dataset|presets"
                   r"|tensorboard_dir|executor|image_size|grayscale|allow_data_change)(?==|\b)"
                   r"|(?<![\w.-])(preset|steps|classes|seeds|jobs|threads|grid|auto|iwae_k|device|name|out)(?==)")


def command_flags(parser: argparse.ArgumentParser) -> dict[str, str]:
    """dest -> the long flag that sets it, for the optional arguments of one command's parser."""
    return {a.dest: max(a.option_strings, key=len) for a in parser._actions
            if a.option_strings and a.dest != "help"}


def command_parser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The (sub)parser that parsed the command `args` came from, e.g. that of `benchmark one-class`."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):  # argparse keeps the subparsers only here
            chosen = getattr(args, action.dest, None)
            if chosen in action.choices:
                return command_parser(action.choices[chosen], args)
    return parser


def all_flags(parser: argparse.ArgumentParser) -> dict[str, str]:
    """dest -> flag over every command of `parser` (for messages not tied to one command)."""
    out = command_flags(parser)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                out = {**all_flags(sub), **out}
    return out


def in_flags(message: str, flags: Mapping[str, str] | None = None, fields: Sequence[str] = ()) -> str:
    """A library message with a note naming the command-line flag of each Python name it is about.

    First `fields`, the names an error carries (`exc.field`), then those the message mentions (for errors that
    carry none). A dotted config field without a flag of its own is set with `--set` where the command has it; any
    other name without a flag is left as the message says it.

    Parameters
    ----------
    message : str
        An error message in the library's words (argument and config-field names).
    flags : mapping of str to str, optional
        dest -> flag of the command that was run (default: those of every command).
    fields : sequence of str, optional
        Names the error carries (its `field`), noted first.

    Returns
    -------
    str
        `message`, followed by " (on the command line: NAME is --FLAG; ...)" when it names any.
    """
    if flags is None:
        from latentlab.cli.parser import build_parser

        flags = all_flags(build_parser())
    notes = []
    # `latentlab presets` and the like in backticks are commands to type, not names; 'auto' or 'train.epoch' in
    # quotes are values the user gave (an unknown field has no flag to point to).
    mentioned = (a or b for a, b in _NAME.findall(re.sub(r"`[^`]*`|(?<!\w)'[^'\s]*'(?!\w)", "", message)))
    for name in dict.fromkeys([*fields, *mentioned]):
        flag = flags.get(DESTS.get(name, name))
        if flag is None and "." in name and "set" in flags:
            note = f"{name} is --set {name}=VALUE"
        elif flag is None:
            continue
        else:
            note = f"{name}=False is {flag}" if name in INVERTED else f"{name} is {flag}"
        if note not in notes:
            notes.append(note)
    return message + (f" (on the command line: {'; '.join(notes)})" if notes else "")


def main(argv: Sequence[str] | None = None) -> int:
    """The `latentlab` command.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments (default: sys.argv[1:]).

    Returns
    -------
    int
        The exit status: 0 done, 1 some tasks failed, 2 a usage or latentlab error (printed as one line naming the
        flags), 130 interrupted, 141 the reader of stdout went away.
    """
    from latentlab.cli.parser import build_parser

    argv = list(sys.argv[1:] if argv is None else argv)
    for stream in (sys.stdout, sys.stderr):
        # A path with bytes that are not UTF-8 (a Latin-1 folder name) is printed with them escaped, not refused.
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    parser = build_parser(argv[0] if argv else None)
    args = parser.parse_args(argv)
    from latentlab import threads

    # Torch threads are decided here, before any command loads torch: `--threads` counts for this process only
    # when the tasks run here (`--jobs 1`); otherwise each worker applies it (runner.worker.init_worker).
    here = (getattr(args, "jobs", None) or 1) == 1 and getattr(args, "executor", None) is None
    try:
        with threads.scope(getattr(args, "threads", None) if here else None):
            code = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler below, not at the interpreter's exit
        return code
    except BrokenPipeError:
        # The reader stopped (`latentlab presets | head -1`): end quietly, as Unix tools do. stdout is pointed at
        # /dev/null so that the interpreter's last flush of the unwritten rest does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a tool the signal ended
    except LatentlabError as exc:
        flags = command_flags(command_parser(parser, args))
        fields = [exc.field] if exc.field else []
        print(f"latentlab {args.command}: error: {in_flags(str(exc), flags, fields)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


__all__ = ["in_flags", "main"]
