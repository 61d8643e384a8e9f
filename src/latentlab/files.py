"""Atomic file writes and file digests: the one way latentlab writes a file that someone may be reading.

A write goes to a hidden temporary file in the same directory and is renamed over the target, so a reader (the
web page, a resumed run, a second process) sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

# Bytes of the target's name kept in a temporary file's name: 255 (a name's limit) less ".", ".", 8 random
# characters and ".tmp". A cut in the middle of a character leaves surrogates, which the OS writes as bytes.
TMP_NAME_ROOM = 255 - 14 - 16


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; once the block ends without error it is renamed to `path`.

    For writers that want a file name (safetensors, matplotlib). On any exception the temporary file is removed
    and `path` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # The temporary name must fit where the target's does: a name near the 255-byte limit is cut for it.
    stem = path.name.encode("utf-8", "surrogateescape")[:TMP_NAME_ROOM].decode("utf-8", "surrogateescape")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{stem}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; run directories and reports are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` atomically (see the module docstring)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write `text` (UTF-8) to `path` atomically."""
    atomic_write_bytes(path, text.encode())


def atomic_write_with(path: str | Path, writer: Callable[[Path], object]) -> None:
    """Call `writer(tmp_path)` and move the result to `path` atomically."""
    with atomic_path(path) as tmp:
        writer(tmp)


def file_digest(path: str | Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file's bytes (`algorithm` as hashlib names it: sha256, md5), read in 1 MiB chunks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def shown_name(name: str | Path) -> str:
    """A file or folder name as text that can always be printed, encoded or sent as JSON: the bytes of a name that
    are not UTF-8 (a Latin-1 name from a Windows zip, which Python keeps as surrogate escapes) shown as \\xNN."""
    text = str(name)
    if not any("\udc80" <= ch <= "\udcff" for ch in text):
        return text
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def check_name_lengths(path: str | Path, what: str, room: int = 0) -> None:
    """ConfigError unless every part of `path` fits a file system's 255 bytes a name, less `room` bytes that will
    be added to its last part; `what` names the argument in the message."""
    from latentlab.errors import ConfigError

    parts = Path(path).parts
    for i, part in enumerate(parts):
        limit = 255 - (room if i == len(parts) - 1 else 0)
        size = len(part.encode("utf-8", "surrogateescape"))
        if size > limit:
            raise ConfigError(f"{what}={shown_name(path)[:60]!r}...: the name {shown_name(part)[:40]!r}... has "
                              f"{size} bytes, more than the {limit} a file or folder name may have here; choose "
                              "a shorter one", field=what, value=str(path))
