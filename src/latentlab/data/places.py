"""Where data sets are looked for: the user's data dir (``$LATENTLAB_DATA``) and the download cache; the source
line printed on stderr."""

from __future__ import annotations

import os
from pathlib import Path


def default_data_dir(data_dir: str | Path | None) -> Path | None:
    """``data_dir`` if given, else ``$LATENTLAB_DATA`` if set (its documented default), else None."""
    value = data_dir if data_dir is not None else os.environ.get("LATENTLAB_DATA") or None
    return None if value is None else Path(value).expanduser()


def cache_dir(name: str) -> Path:
    """Where downloads of a data set live.

    Parameters
    ----------
    name : str
        The data set's registry name.

    Returns
    -------
    Path
        ``$XDG_CACHE_HOME/latentlab/<name>`` (default ``~/.cache/latentlab/<name>``); it may not exist yet.
    """
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "latentlab" / name
