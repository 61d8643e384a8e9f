"""latentlab's exceptions: one base class and one kind per sort of trouble.

Every message names the thing, says what is wrong and what to do. Library errors speak Python (argument and
config-field names); the command line maps them to its flags. An error also carries its data: `field` (the
argument or config field at fault), `value`, `allowed` (the valid choices, where they are a list), `hint` (what to
do) and `related` (other names the hint tells the user to set), so no caller parses the message: the CLI notes the
flag of `field` and of each `related` name from these attributes alone. Each kind also derives from the built-in
exception a caller would have caught before it existed (ValueError, RuntimeError), so older code keeps working.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, TypeVar

T = TypeVar("T")


class LatentlabError(Exception):
    """Base of every error latentlab raises on purpose; anything else escaping is a bug.

    The message is `problem`, or "problem: hint" when there is a hint; the parts stay attributes (`problem`,
    `hint`, `field`, `value`, `allowed`, `related`), None (or ``()``) where not given.

    Parameters
    ----------
    problem : str
        What went wrong, in words; the message (before the hint).
    hint : str or None, default None
        What to do about it; appended to the message after a colon when given.
    field : str or None, default None
        The config field or argument at fault (e.g. ``model.latent_dim``), when there is one.
    value : Any, default None
        The offending value, when there is one.
    allowed : tuple or None, default None
        The values that would have been accepted, when they are a finite set.
    related : tuple of str, default ()
        Other arguments or config fields the message tells the user to set (``resume`` ... ``allow_data_change``);
        the command line names their flags after that of `field`.
    """

    def __init__(self, problem: str, *, hint: str | None = None, field: str | None = None, value: Any = None,
                 allowed: tuple[Any, ...] | None = None, related: tuple[str, ...] = ()) -> None:
        super().__init__(problem if hint is None else f"{problem}: {hint}")
        self.problem, self.hint, self.field, self.value, self.allowed = problem, hint, field, value, allowed
        self.related = related


class ConfigError(LatentlabError, ValueError):
    """A config value or argument is impossible; the message names it and the allowed values."""


class DatasetError(LatentlabError, RuntimeError):
    """A data set is missing, corrupt or malformed."""


class ChecksumError(DatasetError):
    """A file is well-formed as far as it was read, but is not the published one."""


class RunError(LatentlabError, RuntimeError):
    """A run directory is missing, incomplete or damaged."""


class DetectorFileError(RunError, ValueError):
    """A run's saved novelty detector cannot be used: damaged, of another format, or fitted for other weights."""


class MissingDetectorError(DetectorFileError, FileNotFoundError):
    """A run has no saved novelty detector for the score asked for."""


class CheckpointError(RunError):
    """A checkpoint could not be written (disk full, over quota, an I/O error); the previous one is kept whole.
    `path` is the run directory, `free` and `needed` are bytes (free is None when the disk could not be asked)."""

    def __init__(self, message: str, path: str = "", free: int | None = None, needed: int = 0, **data: Any) -> None:
        super().__init__(message, **data)
        self.path, self.free, self.needed = path, free, needed


class RunLockedError(RunError):
    """Another process is writing the run directory; `holder` is what its lock file says (pid, host, started)."""

    def __init__(self, message: str, holder: dict | None = None, **data: Any) -> None:
        super().__init__(message, **data)
        self.holder = holder or {}


class TrainingError(LatentlabError, RuntimeError):
    """Training cannot go on (non-finite loss, a resume that does not fit, no such device)."""


class DataChangedError(TrainingError):
    """A resume was given other training images than the run was trained on (and no explicit allowance)."""


class TaskError(LatentlabError, RuntimeError):
    """A task given to `latentlab.runner` could not run to its end: its worker process died, or it was cancelled."""


class ImageError(LatentlabError, ValueError):
    """An image cannot be used as model input (damaged, empty, of the wrong shape or size).

    Its kinds say why: `ImageTooLargeError` (file or pixel count over the limit) and `ImageFormatError` (not a
    format latentlab reads); the web page maps each kind to its HTTP status (400, 413, 415).
    """


class ImageTooLargeError(ImageError):
    """An image is too large to decode: its file or its pixel count is over the limit."""


class ImageFormatError(ImageError):
    """A file is not an image format latentlab reads (its content is checked, not its name)."""


def choose(registry: Mapping[str, T] | Collection[str], value: Any, field: str, *, hint: str = "",
           problem: str | None = None, kind: type[LatentlabError] = ConfigError) -> T:
    """`registry[value]` (or `value`, for a collection of names); else a `kind` error carrying field, value and the
    registry's names as `allowed`: "{field}={value!r} is invalid: choose one of a, b, c{hint}" (`problem` replaces
    the part before the colon)."""
    if isinstance(value, str) and value in registry:
        return registry[value] if isinstance(registry, Mapping) else value  # type: ignore[return-value]
    allowed = tuple(registry)
    raise kind(problem or f"{field}={value!r} is invalid", hint=f"choose one of {', '.join(allowed)}{hint}",
               field=field, value=value, allowed=allowed)
