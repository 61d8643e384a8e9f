"""`latentlab` on the command line: the only package that reads argv and formats for the terminal.

Library errors speak Python (argument and config-field names) and carry the name at fault (`exc.field`);
`main` prints them with the flag that sets that name in the command that was run (cli.flags derives the table from
the parser), so the advice fits where the user typed. Only latentlab's own errors become one-line messages:
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys
from collections.abc import Sequence

from latentlab.errors import LatentlabError


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
    from latentlab import threads

    try:
        # Before anything imports torch: GNU OpenMP prints its own warning of a bad OMP_NUM_THREADS as it loads (a
        # command's parser may load torch for its choices), and this error would then come second.
        threads.check_environment(os.environ)
    except LatentlabError as exc:
        name = f"latentlab {argv[0]}" if argv and not argv[0].startswith("-") else "latentlab"
        print(f"{name}: error: {exc}", file=sys.stderr)
        return 2
    args = None
    try:
        parser = build_parser(argv[0] if argv else None)
        args, extra = parser.parse_known_args(argv)
        if extra:
            _unrecognised(parser, args, extra)
        return _run(parser, args)
    except KeyboardInterrupt:
        from latentlab.cli.interrupted import interrupted_message

        # Said whenever it comes (loading data, before the first checkpoint, or after training saved one).
        print(interrupted_message(argv, args), file=sys.stderr)
        return 130


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """Run the parsed command; latentlab's errors become one line naming the flags."""
    from latentlab import threads

    # Torch threads are decided here, before any command loads torch: `--threads` counts for this process only
    # when the tasks run here (`--jobs 1`); otherwise each worker applies it (runner.worker.init_worker).
    here = (getattr(args, "jobs", None) or 1) == 1 and getattr(args, "executor", None) is None
    # How a command says a latentlab error it reports without stopping (a notice): in its flags, as below.
    args.in_flags = lambda exc: _in_flags(parser, args, exc)
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
        print(f"latentlab {args.command}: error: {_in_flags(parser, args, exc)}", file=sys.stderr)
        return 2


def _in_flags(parser: argparse.ArgumentParser, args: argparse.Namespace, exc: LatentlabError) -> str:
    """`exc`'s message with the flags of the command `args` was parsed for (`cli.flags.with_flags`)."""
    from latentlab.cli.flags import command_parser, flag_table, with_flags

    return with_flags(exc, flag_table(command_parser(parser, args)))


__all__ = ["main"]


def _unrecognised(parser: argparse.ArgumentParser, args: argparse.Namespace, extra: list[str]) -> None:
    """Exit 2 with the usage of the (sub)command that was run, not the top level's, and the closest flag of that
    command for each mistyped one (`--epochz` -> `--epochs`)."""
    from latentlab.cli.flags import command_parser

    parser = command_parser(parser, args)
    flags = list(parser._option_string_actions)
    # The hints follow the whole list as typed, so the values stay beside their flags (`--epochz 2`).
    hints = [f"{x.split('=')[0]} -> {close[0]}" for x in extra if x.startswith("-")
             if (close := difflib.get_close_matches(x.split("=")[0], flags, n=1))]
    if len(hints) == 1:
        hint = f" (did you mean {hints[0].split(' -> ')[1]}?)"
    else:
        hint = f" (did you mean: {', '.join(hints)}?)" if hints else ""
    parser.error(f"unrecognized arguments: {' '.join(extra)}{hint}")
