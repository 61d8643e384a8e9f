"""What the novelty detectors compute from images alone, kept for the process and looked up by content.

The pixel views' distances and the images' compressed sizes do not depend on the model: the report's five
MNIST-sample experiments fit their detectors on the same training images and score the same test and
out-of-distribution sets, and within one experiment three detectors (combined, pixel-knn, hyperplane) standardise
on the same leave-one-out distances. Measured on the quick report (2-core CPU, cProfile): the pixel views took
56 of its 151 s and zlib 7.5 s, nearly all of it repeated work. Keys name the content (SHA-256 of the images and of
the references), never an object's identity, so a hit is always the value that would have been computed.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")
# Each value is a few float64 arrays of one entry per image (10,000 test images, three views: 240 kB), so 64
# entries stay under ~16 MB; the report's quick profile makes 30 distinct ones.
MAX_ENTRIES = 64
_entries: OrderedDict[tuple, Any] = OrderedDict()
_lock = threading.Lock()  # a Dask worker may run two tasks of one process in threads


def recall(key: tuple) -> Any | None:
    """The value kept under `key`, or None."""
    with _lock:
        if key not in _entries:
            return None
        _entries.move_to_end(key)
        return _entries[key]


def remember(key: tuple, value: T) -> T:
    """Keep `value` (its arrays made read-only: callers share them) under `key`, dropping the least recently used
    beyond MAX_ENTRIES; returns `value`."""
    for array in value.values() if isinstance(value, dict) else [value]:
        if isinstance(array, np.ndarray):
            array.flags.writeable = False
    with _lock:
        _entries[key] = value
        _entries.move_to_end(key)
        while len(_entries) > MAX_ENTRIES:
            _entries.popitem(last=False)
    return value


def memoised(key: tuple, make: Callable[[], T]) -> T:
    """`recall(key)`, or `remember(key, make())`."""
    found = recall(key)
    return found if found is not None else remember(key, make())


def once(store: dict, key: object, make: Callable[[], T]) -> T:
    """`store[key]`, made by `make()` the first time: what detectors of one run share for one image set."""
    if key not in store:
        store[key] = make()
    return store[key]


def forget() -> None:
    """Drop everything kept (tests, and callers that measure the cost of the first computation)."""
    with _lock:
        _entries.clear()
