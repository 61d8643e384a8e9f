"""Giving freed memory back to the operating system: between the big stages of a long job, and as it is freed."""

from __future__ import annotations

import ctypes
import gc
from contextlib import suppress


def release_memory() -> None:
    """Hand the heap a finished task freed back to the OS, so the next task (or the report page) starts from a
    smaller process: glibc keeps freed arenas resident (measured after the Fashion-VAE's metrics: 1,036 MiB
    resident with its arrays freed, 505 MiB after malloc_trim, which took milliseconds). A no-op without glibc."""
    gc.collect()
    with suppress(OSError, AttributeError):  # not glibc (macOS, musl, Windows): nothing to trim
        ctypes.CDLL(None).malloc_trim(0)


# glibc's mallopt parameter for "allocations this large or larger are mmapped" (malloc.h).
M_MMAP_THRESHOLD = -3
# 8 MiB: a dense model's training batch (256 x 784 floats, 0.8 MB) and a conv model's activations (batch 128:
# 3.2 MB) stay on the heap; evaluation batches, pixel-distance blocks and whole image sets go back when freed.
MMAP_THRESHOLD = 8 * 1024 * 1024


def bound_heap() -> None:
    """Have glibc return large blocks to the OS when they are freed, for the rest of the process (the CLI and its
    workers call it; a library import never does). By default glibc raises its mmap threshold to the largest block
    freed so far (up to 32 MiB), so the 10-30 MB blocks of evaluation were later carved from the heap and their
    pages stayed resident: mnist-simple, mnist-vae and fashion-vae's metrics in one process peaked at 960 MiB,
    770 MiB with this. A no-op without glibc."""
    with suppress(OSError, AttributeError):
        ctypes.CDLL(None).mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
