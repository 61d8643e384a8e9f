"""Which command-line flag sets which library name: one table per command, derived from its argparse parser.

Library errors carry the argument or config field at fault (`LatentlabError.field`, and `related` for the other
names their hint advises setting); the CLI turns each into the flag of the command that was run. The parser is the
one source of truth: an option sets its own `dest` (`--data-dir` sets data_dir, `--no-auto` sets auto=False), plus
the library names declared where it is added (`sets(p.add_argument("--lr", ...), "train.lr")`); a dotted config
field without a flag of its own is set with `--set FIELD=VALUE` where the command has `--set`. Nothing here reads an
error's message.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from collections.abc import Mapping

from latentlab.config import RunConfig
from latentlab.errors import LatentlabError

_SETS = "latentlab_sets"  # the attribute an argparse Action keeps its declared library names in


def sets(action: argparse.Action, *names: str) -> argparse.Action:
    """Declare the library names (config fields, Python arguments) that `action`'s flag sets besides its dest.

    Parameters
    ----------
    action : argparse.Action
        What `add_argument` returned.
    *names : str
        E.g. ``"train.lr"`` for ``--lr``, or ``"train.noise.kind", "train.noise.factor"`` for ``--noise``.

    Returns
    -------
    argparse.Action
        `action`, for chaining.
    """
    setattr(action, _SETS, (*getattr(action, _SETS, ()), *names))
    return action


def config_fields(cls: type = RunConfig, prefix: str = "") -> list[str]:
    """Every field of the run config, dotted: ``name``, ..., ``model.latent_dim``, ..., ``train.noise.kind``."""
    hints = typing.get_type_hints(cls)
    out: list[str] = []
    for f in dataclasses.fields(cls):
        kind = hints[f.name]
        out += config_fields(kind, f"{prefix}{f.name}.") if dataclasses.is_dataclass(kind) else [prefix + f.name]
    return out


def flag_table(parser: argparse.ArgumentParser) -> dict[str, str]:
    """Library name -> how one command sets it, as a note: ``{"train.lr": "train.lr is --lr", ...}``.

    A flag that sets its name to False reads ``auto=False is --no-auto``; a dotted config field without a flag of
    its own reads ``train.schedule is --set train.schedule=VALUE`` where the command has ``--set``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The (sub)parser of one command (`command_parser`).

    Returns
    -------
    dict of str to str
        Name -> note, for the command's optional arguments only: a positional is typed as a value, so a message
        naming its value is already clear.
    """
    table: dict[str, str] = {}
    for action in parser._actions:
        if not action.option_strings or action.dest == "help":
            continue
        flag = max(action.option_strings, key=len)
        if isinstance(action, argparse._StoreTrueAction) and action.dest.startswith("no_"):
            table.setdefault(action.dest[3:], f"{action.dest[3:]}=False is {flag}")
        else:
            table.setdefault(action.dest, f"{action.dest} is {flag}")
        for name in getattr(action, _SETS, ()):
            table.setdefault(name, f"{name} is {flag}")
    if "set" in table:
        for name in config_fields():
            if "." in name:
                table.setdefault(name, f"{name} is --set {name}=VALUE")
    return table


def command_parser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The (sub)parser that parsed the command `args` came from, e.g. that of `benchmark one-class`."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):  # argparse keeps the subparsers only here
            chosen = getattr(args, action.dest, None)
            if chosen in action.choices:
                return command_parser(action.choices[chosen], args)
    return parser


def with_flags(exc: LatentlabError, table: Mapping[str, str]) -> str:
    """`exc`'s message with a note naming the flag of its `field` and of each `related` name the command has.

    A name the command has no flag for is left as the message says it, and so is a field that is already a flag
    (``--seeds``: the CLI's own errors name flags, and no table has such a key).

    Parameters
    ----------
    exc : LatentlabError
        The error, in the library's words (argument and config-field names).
    table : mapping of str to str
        `flag_table` of the command that was run (name -> note).

    Returns
    -------
    str
        ``str(exc)``, followed by " (on the command line: NAME is --FLAG; ...)" when any name has a flag.
    """
    notes = [table[name] for name in dict.fromkeys((exc.field, *exc.related)) if name in table]
    return str(exc) + (f" (on the command line: {'; '.join(notes)})" if notes else "")


__all__ = ["command_parser", "config_fields", "flag_table", "sets", "with_flags"]
