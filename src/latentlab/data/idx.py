"""Strict reader and writer for the IDX format used by MNIST and Fashion-MNIST.

An IDX file is: two zero bytes, one dtype code, the number of dimensions, each dimension as a big-endian
uint32, then exactly prod(dims) items, big-endian. The reader tells a gzip-compressed file by its content
(the gzip magic bytes 1f 8b; an IDX file starts with 00 00), not by its name: copies are often unpacked and
left under the ``.gz`` name, or packed without it. The writer compresses when the name ends in ``.gz``.

The reader checks every part of that and raises ``DatasetError`` naming the file, what is wrong and what
to do. It never returns partial data: a file one byte short or one byte long is an error.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from latentlab.errors import ChecksumError, DatasetError

# dtype code -> big-endian numpy dtype, as defined by the format.
DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dtype.newbyteorder("="): code for code, dtype in DTYPES.items()}

FIX_HINT = "delete it and download again, or pass data_dir (or set LATENTLAB_DATA) pointing at good copies"
GZIP_MAGIC = b"\x1f\x8b"


def is_gzip(head: bytes) -> bool:
    """True if ``head``, the first bytes of a file, start a gzip stream."""
    return head[:2] == GZIP_MAGIC


def read_bytes(path: str | Path, md5: str | None = None, raw_md5: str | None = None) -> bytes:
    """Return the file's content, gunzipped when it is gzip data (by content, whatever the name).

    With ``md5``, the file must have that md5, or its unpacked content must have ``raw_md5`` (which
    accepts re-compressed and unpacked copies); otherwise ``ChecksumError``. Checking here, on bytes
    already in memory, spares a second read and gunzip of large files.
    """
    path = Path(path)
    try:
        packed = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot be read ({exc.strerror or exc}); check the path",
                           field="dataset", value=str(path)) from exc
    if md5 is not None and hashlib.md5(packed).hexdigest() == md5:
        md5 = None  # verified; nothing left to check
    try:
        data = gzip.decompress(packed) if is_gzip(packed) else packed
    # A truncated gzip stream raises EOFError, a damaged one BadGzipFile or zlib.error.
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        error = ChecksumError if md5 is not None else DatasetError
        raise error(f"{path}: damaged gzip data ({exc or type(exc).__name__}); {FIX_HINT}") from exc
    if md5 is not None and (raw_md5 is None or hashlib.md5(data).hexdigest() != raw_md5):
        raise ChecksumError(f"{path}: md5 differs from the published file (corrupt or a different version); "
                            f"{FIX_HINT}", field="dataset", value=str(path))
    return data


def parse_idx(data: bytes, path: str | Path = "<bytes>") -> np.ndarray:
    """Decode IDX bytes into a native-endian, writable, C-contiguous array; ``path`` is for messages."""
    if len(data) < 4:
        raise DatasetError(f"{path}: only {len(data)} bytes, too short for an IDX header; {FIX_HINT}",
                           field="dataset", value=str(path))
    if data[0] != 0 or data[1] != 0:
        what = "still gzip data: packed twice? gunzip it" if is_gzip(data) else "neither IDX nor gzip data"
        raise DatasetError(f"{path}: bad magic bytes {data[:2].hex()} ({what}); {FIX_HINT}",
                           field="dataset", value=str(path))
    code, ndim = data[2], data[3]
    if code not in DTYPES:
        raise DatasetError(f"{path}: unknown IDX dtype code 0x{code:02x}; {FIX_HINT}", field="dataset", value=str(path))
    if ndim == 0:
        raise DatasetError(f"{path}: IDX header declares zero dimensions; {FIX_HINT}", field="dataset", value=str(path))
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DatasetError(f"{path}: truncated IDX header ({len(data)} of {header} bytes); {FIX_HINT}",
                           field="dataset", value=str(path))
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = DTYPES[code]
    expected = math.prod(dims) * dtype.itemsize
    got = len(data) - header
    if got != expected:
        what = "truncated" if got < expected else "trailing bytes"
        raise DatasetError(
            f"{path}: {what}: header {dims} needs {expected} data bytes, file has {got}; {FIX_HINT}",
            field="dataset", value=str(path))
    # astype copies, so the result owns writable native-endian memory instead of viewing `data`.
    return np.frombuffer(data, dtype=dtype, offset=header).astype(dtype.newbyteorder("=")).reshape(dims)


def read_idx(path: str | Path, md5: str | None = None, raw_md5: str | None = None) -> np.ndarray:
    """Read an IDX file, gzipped or not (told by content); raise ``DatasetError`` on any defect.

    ``md5`` and ``raw_md5`` are checked as in ``read_bytes``; a mismatch raises ``ChecksumError``.
    """
    return parse_idx(read_bytes(path, md5, raw_md5), path)


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write ``array`` as IDX, gzipped when ``path`` ends in ``.gz`` (with a zero timestamp, so the
    same array always gives the same bytes)."""
    array = np.asarray(array)
    code = _CODES.get(array.dtype.newbyteorder("="))
    if code is None:
        raise ValueError(f"IDX cannot store dtype {array.dtype}; use one of uint8, int8, int16, int32, float32/64")
    if array.ndim == 0 or array.ndim > 255:
        raise ValueError(f"IDX needs 1 to 255 dimensions, got {array.ndim}")
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(DTYPES[code], copy=False).tobytes()
    path = Path(path)
    if path.suffix == ".gz":
        payload = gzip.compress(payload, mtime=0)
    path.write_bytes(payload)


def read_idx_shape(path: str | Path) -> tuple[int, ...]:
    """Return the dimensions from an IDX header without reading the data (for listings)."""
    path = Path(path)
    try:
        with open(path, "rb") as raw:
            gzipped = is_gzip(raw.read(2))
        with (gzip.open if gzipped else open)(path, "rb") as f:
            head = f.read(4)
            if len(head) < 4 or head[:2] != b"\0\0":
                raise DatasetError(f"{path}: not an IDX file; {FIX_HINT}", field="dataset", value=str(path))
            return struct.unpack(f">{head[3]}I", f.read(4 * head[3]))
    except (OSError, EOFError, zlib.error, struct.error) as exc:
        raise DatasetError(f"{path}: unreadable IDX header ({exc}); {FIX_HINT}",
                           field="dataset", value=str(path)) from exc
