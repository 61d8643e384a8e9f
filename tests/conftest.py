"""Shared fixtures: small synthetic image sets that need neither network nor bundled files."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import numpy as np
import pytest


def make_images(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`n` uint8 28x28 images in 10 classes: class k is a bright bar at angle k*18 degrees, with jitter."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    yy, xx = np.mgrid[0:28, 0:28] - 13.5
    images = np.empty((n, 28, 28), np.uint8)
    for i, k in enumerate(labels):
        angle = np.deg2rad(k * 18 + rng.normal(0, 4))
        dist = np.abs(xx * np.sin(angle) - yy * np.cos(angle))
        along = np.abs(xx * np.cos(angle) + yy * np.sin(angle))
        img = np.clip(1.6 - dist, 0, 1) * (along < 10 + rng.normal(0, 1))
        images[i] = np.clip(img * 255 + rng.normal(0, 8, (28, 28)), 0, 255).astype(np.uint8)
    return images, labels.astype(np.int64)


@pytest.fixture(scope="session")
def bars() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test): 512 + 128 synthetic bar images."""
    x, y = make_images(640)
    return x[:512], y[:512], x[512:], y[512:]


@contextmanager
def _deadline(seconds: int) -> Iterator[None]:
    def expire(*_: object) -> None:
        raise TimeoutError(f"took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def deadline() -> Callable[[int], AbstractContextManager[None]]:
    """`with deadline(s):` raises TimeoutError in the main thread after s seconds: a test that hangs fails."""
    return _deadline
