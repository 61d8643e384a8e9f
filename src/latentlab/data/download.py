"""Checksums and atomic downloads from a list of mirrors, with urllib only.

A download goes to a hidden temporary file next to its destination and is renamed into place only after
its md5 matches, so an interrupted or corrupt transfer never leaves a file that looks finished.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import sys
import tempfile
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from latentlab.data.idx import read_bytes
from latentlab.errors import DatasetError
from latentlab.files import file_digest

TIMEOUT_S = 30.0  # per connection attempt and per read; a stalled mirror is abandoned after this
_CHUNK = 1 << 16


def checksum_ok(path: str | Path, md5: str, raw_md5: str | None = None) -> bool:
    """True if the file's md5 is ``md5`` or, unpacked, ``raw_md5`` (see ``latentlab.data.idx.read_bytes``).

    Debian's dataset-fashion-mnist gzips the original data again, so only the second form matches it.
    """
    try:
        read_bytes(path, md5, raw_md5)
    except DatasetError:
        return False
    return True


def download(
    filename: str,
    md5: str,
    mirrors: Sequence[str],
    dest_dir: str | Path,
    *,
    progress: bool = True,
    timeout: float = TIMEOUT_S,
) -> Path:
    """Fetch ``filename`` from the first mirror that delivers bytes with the right md5.

    Returns ``dest_dir / filename``. Any failure (refused connection, HTTP error, connection dropped
    part way, wrong bytes) moves on to the next mirror. If all fail, raises ``DatasetError`` listing each
    mirror's reason; nothing is left in ``dest_dir`` in that case.
    """
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    reasons = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + filename
        try:
            return _fetch(url, md5, dest_dir / filename, progress, timeout)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            # OSError covers URLError, HTTPError, timeouts and resets; HTTPException covers IncompleteRead.
            reasons.append(f"{url}: {exc}")
    tried = "; ".join(reasons) if reasons else "no mirrors configured"
    raise DatasetError(f"could not download {filename} ({tried})", field="dataset", value=filename)


def _fetch(url: str, md5: str, dest: Path, progress: bool, timeout: float) -> Path:
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            total = response.headers.get("Content-Length")
            total = int(total) if total and total.isdigit() else None
            received = 0
            with tqdm(
                total=total, unit="B", unit_scale=True, desc=dest.name, disable=not progress,
                file=sys.stderr, leave=False,
            ) as bar:
                while block := response.read(_CHUNK):
                    out.write(block)
                    received += len(block)
                    bar.update(len(block))
        # http.client may return short data without raising when the server closes early.
        if total is not None and received != total:
            raise OSError(f"connection closed after {received} of {total} bytes")
        got = file_digest(tmp, "md5")
        if got != md5:
            raise ValueError(f"wrong bytes (md5 {got}, expected {md5})")
        os.replace(tmp, dest)
        return dest
    finally:
        # Also runs on KeyboardInterrupt, so an interrupted transfer never leaves a .part file behind.
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
