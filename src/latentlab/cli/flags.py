"""Which command-line flag sets which library name: one table per command, derived from its argparse parser.

Library errors carry the argument or config field at fault (`LatentlabError.field`, and `related` for the other
names their hint advises setting); the CLI turns each into the flag of the command that was run. The parser is the
one source of truth: an option sets its own `dest` (`--data-dir` sets data_dir, `--no-auto` sets auto=False), plus
the library names declared where it is added (`sets(p.add_argument("--lr", ...), "train.lr")`); a dotted config
field without a flag of its own is set with `--set FIELD=VALUE` where the command has `--set`. Only the names an
error carries are looked for in its message, and each is rewritten as its flag (`allow_data_change=True` ->
`--allow-data-change`), so that no message shows a Python name where the command has a flag.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Flag:
    """How one command sets one library name.

    Parameters
    ----------
    name : str
        The library name (``train.lr``, ``auto``).
    flag : str
        The option that sets it (``--lr``, ``--no-auto``, ``--set``).
    kind : str
        "value" (``--lr 0.01``), "on" (a switch that sets the name True), "off" (a switch that sets it False:
        ``--no-auto``) or "set" (``--set train.schedule=VALUE``).
    """

    name: str
    flag: str
    kind: str

    def says(self, value: str | None = None) -> str:
        """What ``name=value`` (or the bare name, `value` None) reads as on the command line: ``--lr 0.01``,
        ``--allow-data-change`` for ``allow_data_change=True``, ``--no-auto`` for ``auto=False``."""
        if self.kind == "set":
            return f"--set {self.name}={'VALUE' if value is None else value}"
        if self.kind in ("on", "off"):
            meant = {"on": "True", "off": "False"}[self.kind]
            return self.flag if value in (None, meant) else f"no {self.flag}"
        return self.flag if value is None else f"{self.flag} {value}"


def flag_table(parser: argparse.ArgumentParser) -> dict[str, Flag]:
    """Library name -> how one command sets it: ``{"train.lr": Flag("train.lr", "--lr", "value"), ...}``.

    A flag that sets its name to False (``--no-auto``) is of kind "off"; a dotted config field without a flag of its
    own is set with ``--set`` where the command has it.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The (sub)parser of one command (`command_parser`).

    Returns
    -------
    dict of str to Flag
        For the command's optional arguments only: a positional is typed as a value, so a message naming its value
        is already clear.
    """
    table: dict[str, Flag] = {}
    for action in parser._actions:
        if not action.option_strings or action.dest == "help":
            continue
        flag = max(action.option_strings, key=len)
        switch = isinstance(action, argparse._StoreTrueAction)
        if switch and action.dest.startswith("no_"):
            table.setdefault(action.dest[3:], Flag(action.dest[3:], flag, "off"))
        else:
            table.setdefault(action.dest, Flag(action.dest, flag, "on" if switch else "value"))
        for name in getattr(action, _SETS, ()):
            table.setdefault(name, Flag(name, flag, "on" if switch else "value"))
    if "set" in table:
        for name in config_fields():
            if "." in name:
                table.setdefault(name, Flag(name, "--set", "set"))
    return table


def command_parser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The (sub)parser that parsed the command `args` came from, e.g. that of `benchmark one-class`."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):  # argparse keeps the subparsers only here
            chosen = getattr(args, action.dest, None)
            if chosen in action.choices:
                return command_parser(action.choices[chosen], args)
    return parser


# A value written after "name=" in a message: quoted, a list, or a word (not the punctuation that ends a clause).
_VALUE = r"""'[^']*'|"[^"]*"|\[[^\]]*\]|[^\s,;()]*[^\s,;().:]"""


def _mention(name: str, assigned: bool = False) -> re.Pattern[str]:
    """Where a message names `name`: ``name=VALUE`` or, for a name no prose would use (``data_dir``, ``train.lr``)
    and unless `assigned`, the bare name; a plain word (``score``, ``dataset``) only in ``score=VALUE``, since the
    prose uses it too. Not an item of it (``model.hidden[1]=...``), which no flag sets alone."""
    value = rf"=(?P<value>{_VALUE})"
    bare = not assigned and ("_" in name or "." in name)
    # Not after "--set ": a message already in the command's words (`pass --set model.n_classes=12`).
    return re.compile(rf"(?<![\w.\-/=])(?<!--set ){re.escape(name)}(?:{value}){'?' if bare else ''}"
                      rf"(?![\w\-[]|\.\w)")


def with_flags(exc: LatentlabError, table: Mapping[str, Flag]) -> str:
    """`exc`'s message in the command's words: each name it carries (`field`, `related`) that the command has a flag
    for is written as that flag where the message names it, and noted after it where it does not; any other name
    the message gives a value (``dataset=PATH``) is written as its flag where the command has one.

    ``allow_data_change=True`` reads ``--allow-data-change``, ``data_dir=DIR`` reads ``--data-dir DIR``,
    ``train.lr`` reads ``--lr``; a name the command has no flag for is left as the message says it, and so is a
    field that is already a flag (``--seeds``: the CLI's own errors name flags, and no table has such a key).

    Parameters
    ----------
    exc : LatentlabError
        The error, in the library's words (argument and config-field names).
    table : mapping of str to Flag
        `flag_table` of the command that was run.

    Returns
    -------
    str
        The message, followed by " (see --FLAG, ...)" for each flagged name it does not mention.
    """
    text, unsaid = str(exc), []
    names = [name for name in dict.fromkeys((exc.field, *exc.related)) if name in table]
    for name in sorted(names, key=len, reverse=True):  # train.noise.kind before a shorter name inside it
        text, count = _mention(name).subn(lambda m, flag=table[name]: flag.says(m.group("value")), text)
        if not count:
            unsaid.append(name)
    # Any other name the message gives a value (its hint's ``pass dataset=PATH``) is advice in Python's words too:
    # written as the flag where the command has one, though the error does not carry it.
    others = [name for name in table if name not in names and f"{name}=" in text]
    for name in sorted(others, key=len, reverse=True):
        text = _mention(name, assigned=True).sub(lambda m, flag=table[name]: flag.says(m.group("value")), text)
    notes = [table[name].says() for name in names if name in unsaid]
    return text + (f" (see {', '.join(notes)})" if notes else "")


__all__ = ["Flag", "command_parser", "config_fields", "flag_table", "sets", "with_flags"]
