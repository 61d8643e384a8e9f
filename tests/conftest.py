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


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory) -> Iterator:
    """The session's own cache: $XDG_CACHE_HOME, the one variable latentlab's cache folders are read from
    (`data.places.cache_dir`: downloads and the sample-quality classifiers; `analysis.novelty.run_cache_dir`: what a
    read-only run cannot hold), points into this session's tmp folder, for the tests and the commands they start.
    Tests never read what the user's ~/.cache/latentlab holds, nor leave anything there."""
    folder = tmp_path_factory.mktemp("xdg-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(folder))
        yield folder


@pytest.fixture(scope="session")
def bars() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test): 512 + 128 synthetic bar images."""
    x, y = make_images(640)
    return x[:512], y[:512], x[512:], y[512:]


BETAS = (0.0, 1.0, 100.0)


@pytest.fixture(scope="session")
def mnist_small():
    """The bundled mnist-sample cut to 2,048 train and 500 test images (real digits, no network)."""
    from dataclasses import replace

    from latentlab import load_dataset

    data = load_dataset("mnist-sample", progress=False)
    return replace(data, x_train=data.x_train[:2048], y_train=data.y_train[:2048], x_test=data.x_test[:500],
                   y_test=data.y_test[:500])


@pytest.fixture(scope="session")
def beta_runs(mnist_small, tmp_path_factory) -> dict:
    """beta -> a saved, reloaded run of a 784-64-2 VAE trained 256 steps (4 epochs of 64 batches of 32) on
    `mnist_small` with that beta, for beta in 0, 1 and 100: under a second each on one CPU core."""
    import torch

    from latentlab.config import override
    from latentlab.presets import preset_config
    from latentlab.runs import load_run
    from latentlab.training import train

    runs = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # models this small train fastest on one thread, and a busy machine adds no spin
    try:
        for beta in BETAS:
            cfg = override(preset_config("mnist-vae"), {
                "name": f"vae-beta{beta:g}", "model.beta": beta, "model.hidden": [64], "train.epochs": 4,
                "train.batch_size": 32, "train.device": "cpu", "dataset": "mnist-sample"})
            run_dir = tmp_path_factory.mktemp("beta-runs") / cfg.name
            train(cfg, mnist_small.x_train, mnist_small.x_test, run_dir, quiet=True,
                  meta={"dataset": mnist_small.name, "data_source": mnist_small.source})
            runs[beta] = load_run(run_dir)
    finally:
        torch.set_num_threads(threads)
    return runs


@pytest.fixture
def one_thread():
    """Train on one thread: models this small train fastest so, and a busy machine adds no spin."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def square_or_noise(n_per_class: int, n_classes: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Class 0: black images with one small white square (jittered); every other class: uniform noise."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(n_classes), n_per_class)
    images = rng.integers(0, 256, (len(labels), 28, 28), dtype=np.uint8)
    for i in np.flatnonzero(labels == 0):
        r, c = rng.integers(8, 14, 2)
        images[i] = 0
        images[i, r:r + 6, c:c + 6] = 255
    return images, labels


@pytest.fixture(scope="session")
def one_class_npz(tmp_path_factory) -> str:
    """A labelled .npz with its own test split (120 + 40 images per class) in which class 0 is trivially apart."""
    x, y = square_or_noise(120)
    x_test, y_test = square_or_noise(40, seed=1)
    path = tmp_path_factory.mktemp("one-class") / "toy.npz"
    np.savez(path, x=x, y=y, x_test=x_test, y_test=y_test)
    return str(path)


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
