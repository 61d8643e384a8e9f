"""The strict IDX reader: round trips, and every kind of damage gives a DatasetError naming the file."""

import gzip
import hashlib
import struct

import numpy as np
import pytest

from latentlab.data.idx import ChecksumError, DatasetError, parse_idx, read_bytes, read_idx, read_idx_shape, write_idx


def _images(n: int = 5) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(n, 28, 28), dtype=np.uint8)


@pytest.mark.parametrize("name", ["images.idx", "images.idx.gz"])
def test_round_trip_uint8(tmp_path, name):
    x = _images()
    write_idx(tmp_path / name, x)
    y = read_idx(tmp_path / name)
    assert y.dtype == np.uint8 and y.shape == (5, 28, 28) and y.flags.c_contiguous and y.flags.writeable
    np.testing.assert_array_equal(x, y)
    assert read_idx_shape(tmp_path / name) == (5, 28, 28)


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.float32, np.float64])
def test_round_trip_other_dtypes_are_native_endian(tmp_path, dtype):
    x = np.arange(-6, 6).astype(dtype).reshape(3, 4)
    write_idx(tmp_path / "a.idx", x)
    y = read_idx(tmp_path / "a.idx")
    assert y.dtype == np.dtype(dtype) and y.dtype.isnative
    np.testing.assert_array_equal(x, y)


def test_gz_output_is_deterministic(tmp_path):
    write_idx(tmp_path / "a.gz", _images())
    write_idx(tmp_path / "b.gz", _images())
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()


def test_write_rejects_unsupported_dtype(tmp_path):
    with pytest.raises(ValueError, match="uint8"):
        write_idx(tmp_path / "a.idx", np.zeros(3, dtype=np.uint64))


def _raw(x: np.ndarray) -> bytes:
    return bytes([0, 0, 0x08, x.ndim]) + struct.pack(f">{x.ndim}I", *x.shape) + x.tobytes()


GOOD = _raw(_images(2))
CORRUPTIONS = {
    "truncated": (GOOD[:-1], "truncated"),
    "trailing bytes": (GOOD + b"\0", "trailing bytes"),
    "wrong count": (GOOD[:4] + struct.pack(">I", 3) + GOOD[8:], "truncated"),
    "wrong magic": (b"\1\0" + GOOD[2:], "magic"),
    "wrong dtype code": (GOOD[:2] + b"\x07" + GOOD[3:], "dtype code 0x07"),
    "zero dims": (b"\0\0\x08\0", "zero dimensions"),
    "short header": (GOOD[:10], "truncated IDX header"),
    "tiny": (b"\0\0", "too short"),
}


@pytest.mark.parametrize("case", CORRUPTIONS)
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_corruption_is_a_clear_error(tmp_path, case, suffix):
    data, what = CORRUPTIONS[case]
    path = tmp_path / f"train-images-idx3-ubyte{suffix}"
    path.write_bytes(gzip.compress(data) if suffix else data)
    with pytest.raises(DatasetError, match=what) as info:
        read_idx(path)
    message = str(info.value)
    assert str(path) in message and "delete it" in message and "\n" not in message


@pytest.mark.parametrize("damage", [lambda b: b[: len(b) // 2], lambda b: b[:20] + bytes(40) + b[60:],
                                    lambda b: b"\x1f\x8b" + bytes(30)])
def test_bad_gzip_is_a_clear_error(tmp_path, damage):
    path = tmp_path / "x.gz"
    path.write_bytes(damage(gzip.compress(GOOD)))
    with pytest.raises(DatasetError, match="damaged gzip") as info:
        read_idx(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("name, packed", [("train-images-idx3-ubyte.gz", False), ("train-images-idx3-ubyte", True),
                                          ("x.idx", True)])
def test_gzip_is_told_by_content_not_by_name(tmp_path, name, packed):
    # An unpacked copy left under the .gz name, or a packed one without it: both are the same IDX data.
    path = tmp_path / name
    path.write_bytes(gzip.compress(GOOD) if packed else GOOD)
    np.testing.assert_array_equal(read_idx(path), parse_idx(GOOD))
    assert read_idx_shape(path) == (2, 28, 28)
    assert read_idx(path, "0" * 32, hashlib.md5(GOOD).hexdigest()).shape == (2, 28, 28)  # raw md5 still checks


def test_gzip_packed_twice_is_named(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(gzip.compress(GOOD)))
    with pytest.raises(DatasetError, match="still gzip data: packed twice") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(DatasetError, match="cannot be read"):
        read_idx(tmp_path / "nope.gz")


def test_checksums(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(GOOD))
    packed_md5 = hashlib.md5(path.read_bytes()).hexdigest()
    raw_md5 = hashlib.md5(GOOD).hexdigest()
    assert read_idx(path, packed_md5).shape == (2, 28, 28)
    # A re-compressed copy (as Debian ships Fashion-MNIST) passes on the md5 of its content.
    assert read_idx(path, "0" * 32, raw_md5).shape == (2, 28, 28)
    with pytest.raises(ChecksumError, match="md5 differs") as info:
        read_idx(path, "0" * 32, "1" * 32)
    assert str(path) in str(info.value)
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(ChecksumError, match="damaged gzip"):
        read_bytes(path, packed_md5, raw_md5)


def test_parse_never_returns_a_view_of_the_input():
    x = parse_idx(GOOD)
    x[0, 0, 0] ^= 1  # writable, and the bytes object is untouched
    assert parse_idx(GOOD)[0, 0, 0] != x[0, 0, 0]
