"""The user's own arrays as a data set: an .npz with ``x`` of shape (N, H, W) grey or (N, H, W, 3) colour, uint8."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from latentlab import images
from latentlab.data.base import ImageData, check_labels, image_data, split_description, stratified_split
from latentlab.errors import DatasetError


def non_finite_places(x: np.ndarray, shown: int = 5) -> str:
    """The first `shown` positions of NaN or infinite values in `x` as "x[3, 0, 0] = nan, x[7, 5, 5] = inf"
    (index tuples in `x`'s own axes), and how many more there are."""
    where = np.argwhere(~np.isfinite(x))
    parts = [f"[{', '.join(str(int(i)) for i in idx)}] = {x[tuple(idx)]}" for idx in where[:shown]]
    more = len(where) - len(parts)
    return ", ".join(parts) + (f" and {more:,} more" if more > 0 else "")


def load_npz(path: Path) -> ImageData:
    """Read ``x`` (N, H, W) or (N, H, W, 3) and optional ``y``, ``x_test``, ``y_test`` and ``classes``, at their own
    size and colour (``x_test`` the same size as ``x``; `load_dataset` then checks the sides a model takes).

    Images are uint8; floats in [0, 1] and integers in 0..255 of another dtype are converted (see ``to_uint8``)
    and the source line says so; anything else is refused with the conversion to use.
    """
    _check_zip(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {key: z[key] for key in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        # allow_pickle=False makes ragged (mixed-size) image lists fail here as object arrays.
        raise DatasetError(f"{path}: cannot be read as plain numeric arrays ({exc}); save it with "
                           "numpy.savez(path, x=uint8 images of shape (N, H, W) or (N, H, W, 3), y=labels)",
                           field="dataset", value=str(path)) from exc
    if "x" not in arrays:
        raise DatasetError(f"{path}: has no array 'x' (found {sorted(arrays)}); save the images as x=",
                           field="dataset", value=str(path))
    if "y_test" in arrays and "x_test" not in arrays:
        raise DatasetError(f"{path}: has 'y_test' but no 'x_test'; add the test images or drop 'y_test'",
                           field="dataset", value=str(path))
    pairs = [("x", "y"), ("x_test", "y_test")] if "x_test" in arrays else [("x", "y")]
    if len({yk in arrays for _, yk in pairs}) > 1:
        raise DatasetError(f"{path}: has only one of 'y' and 'y_test'; give labels for both splits or neither",
                           field="dataset", value=str(path))
    notes: list[str] = []
    for xk, yk in pairs:
        x = arrays[xk] = _images(arrays[xk], f"{path}: '{xk}'", notes)
        if xk == "x_test" and x.shape[1:] != arrays["x"].shape[1:]:
            raise DatasetError(f"{path}: 'x_test' is {x.dtype} {x.shape} but 'x' holds images of "
                               f"{arrays['x'].shape[1:]}; give both the same size and colour",
                               field="dataset", value=str(path))
        arrays[xk], note = to_uint8(x, f"{path}: '{xk}'")
        notes += [f"'{xk}' {note}"] if note else []
        y = arrays.get(yk)
        if y is not None and (y.ndim != 1 or not np.issubdtype(y.dtype, np.integer) or len(y) != len(x)):
            raise DatasetError(f"{path}: '{yk}' is {y.dtype} {y.shape} but must be integer labels, one "
                               f"per image of '{xk}' ({len(x)})", field="dataset", value=str(path))
    y = arrays.get("y")
    if "classes" in arrays:
        classes = tuple(str(c) for c in arrays["classes"])
    else:
        top = max((int(a.max()) for k in ("y", "y_test") if len(a := arrays.get(k, [])) > 0), default=-1)
        classes = tuple(str(i) for i in range(top + 1))
    for yk in ("y", "y_test"):
        if yk in arrays:
            check_labels(arrays[yk], classes, f"{path} '{yk}'")
    if "x_test" in arrays:
        x_train, y_train, x_test, y_test = arrays["x"], y, arrays["x_test"], arrays.get("y_test")
        how = f"npz file {path} (its own test split)"
    else:
        train, test = stratified_split(y, len(arrays["x"]))
        x_train, x_test = arrays["x"][train], arrays["x"][test]
        y_train, y_test = (None, None) if y is None else (y[train], y[test])
        how = f"npz file {path}, {split_description(y)}"
    how = "; ".join([how, *notes])
    return image_data(path.stem, x_train, y_train, x_test, y_test, classes if y is not None else (), how,
                      path=path.resolve())


def _check_zip(path: Path) -> None:
    """DatasetError unless `path` starts like a zip file, as every .npz does. Without this numpy takes anything else
    for a pickle, and a text file named .npz would be reported as pickled data."""
    try:
        with path.open("rb") as f:
            head = f.read(8)
    except OSError as exc:
        raise DatasetError(f"{path}: cannot be read ({exc.strerror}); check the path and its permissions",
                           field="dataset", value=str(path)) from None
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return
    save = "save the images with numpy.savez(path, x=uint8 images (N, H, W) or (N, H, W, 3), y=labels)"
    if head.startswith(b"\x93NUMPY"):
        what = "a single .npy array, not an .npz archive"
    elif head[:1] == b"\x80":
        what = "pickled Python data, which latentlab never loads"
    elif not head:
        what = "empty"
    elif all(32 <= b < 127 or b in b"\t\r\n" for b in head):
        what = f"text (it starts {head.decode('ascii')!r}), not an .npz archive"
    else:
        what = f"not an .npz archive (a zip of .npy arrays; it starts with the bytes {head!r})"
    raise DatasetError(f"{path}: is {what}; {save}", field="dataset", value=str(path))


def _images(x: np.ndarray, where: str, notes: list[str]) -> np.ndarray:
    """`x` as (N, H, W) or (N, H, W, 3); (N, H, W, 1) is taken as grey and said; channels first is refused."""
    if x.ndim == 4 and x.shape[3] == 1:
        notes.append(f"{where.split(': ')[-1]} {x.shape} taken as grey (N, H, W)")
        return x[..., 0]
    if x.ndim == 4 and x.shape[1] in (1, 3) and x.shape[3] not in (1, 3):
        raise DatasetError(f"{where} is {x.dtype} {x.shape}: channels first; latentlab stores images channels last "
                           "as numpy and Pillow do: save x.transpose(0, 2, 3, 1)", field="dataset", value=where)
    if x.ndim == 3 or (x.ndim == 4 and x.shape[3] == 3):
        return x
    raise DatasetError(f"{where} is {x.dtype} {x.shape}, expected images of shape (N, H, W) for grey or "
                       "(N, H, W, 3) for colour", field="dataset", value=where)


def to_uint8(x: np.ndarray, where: str) -> tuple[np.ndarray, str]:
    """``x`` as uint8 pixels and what was done ("" when it was uint8); ``where`` names it in errors.

    Only conversions that keep every pixel are made: floats in [0, 1] are scaled by 255 and rounded, integers
    in 0..255 change dtype. Anything else is refused with its dtype, range and the conversion that fits that
    range (a float 0..255 image is rounded, non-negative integers scaled by their maximum), since
    ``astype(numpy.uint8)`` alone wraps or truncates such values without a word. NaN and infinite pixels are
    counted and located.
    """
    if x.dtype == np.uint8 or x.size == 0:
        return x.astype(np.uint8, copy=False), ""
    where = f"{where} is {x.dtype}"
    if x.dtype == np.bool_:
        raise DatasetError(f"{where}, expected uint8 pixels in 0..255; convert: (x * 255).astype(numpy.uint8)",
                           field="dataset", value=where)
    if x.dtype.kind not in "fiu":
        raise DatasetError(f"{where}, expected numbers: uint8 pixels in 0..255, or floats in [0, 1]; save the "
                           "images as numbers", field="dataset", value=where)
    stretch = "((x - x.min()) / (x.max() - x.min()) * 255).round().astype(numpy.uint8)"
    if x.dtype.kind == "f":
        bad = ~np.isfinite(x)
        if bad.any():
            rows = np.flatnonzero(bad.reshape(len(x), -1).any(axis=1))
            raise DatasetError(f"{where} with {int(bad.sum()):,} NaN or infinite pixels in {len(rows):,} image"
                               f"{'s' * (len(rows) > 1)}, the first in image {int(rows[0])}; at "
                               f"{non_finite_places(x)}; fix or drop those images", field="dataset", value=where)
        lo, hi = float(x.min()), float(x.max())
        if lo >= 0 and hi <= 1:
            return images.to_uint8(x), f"{x.dtype} in [0, 1] scaled by 255 and rounded to uint8"
        fix = ("x.round().astype(numpy.uint8)" if lo >= 0 and hi <= 255 else
               "((x + 1) * 127.5).round().astype(numpy.uint8)" if lo >= -1 and hi <= 1 else stretch)
        span = f"{lo:g}..{hi:g}"
    else:
        lo, hi = int(x.min()), int(x.max())
        if lo >= 0 and hi <= 255:
            return x.astype(np.uint8), f"{x.dtype} in 0..255 converted to uint8"
        # Scaled by the observed maximum: `x // 257` is right only for images that span 16 bits (0..65535).
        fix = (f"(x * (255 / {hi})).round().astype(numpy.uint8), which maps the observed 0..{hi} to 0..255"
               + (" (for 16-bit images of the full 0..65535 range: (x // 257).astype(numpy.uint8))"
                  if x.dtype == np.uint16 else "") if lo >= 0 else stretch)
        span = f"{lo}..{hi}"
    if fix == stretch and lo == hi:  # the stretch would divide by max - min = 0: every pixel is NaN after it
        raise DatasetError(f"{where} with every value {lo:g}, expected uint8 pixels in 0..255 (floats in [0, 1] and "
                           "integers in 0..255 are converted); one value has no range to stretch: every image is "
                           "blank, so check how x was made (for blank images on purpose: "
                           "numpy.zeros(x.shape, numpy.uint8))", field="dataset", value=where)
    raise DatasetError(f"{where} with values {span}, expected uint8 pixels in 0..255 (floats in [0, 1] and "
                       f"integers in 0..255 are converted); convert with {fix}", field="dataset", value=where)
