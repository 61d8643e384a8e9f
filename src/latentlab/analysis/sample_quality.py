"""Sample quality without a network from outside: a small classifier trained here, and what it says of samples.

Inception-based FID needs weights that cannot be downloaded here, so a small CNN is trained on the data set's own
training split (a few seconds to a minute on a CPU) and cached per data set, keyed by the SHA-256 of its images and
labels. From it:

- `classifier_fid`: the Frechet distance between two sets of images in the classifier's penultimate features (128
  numbers per image). It ranks samplers and models on one data set against one classifier, and nothing else: it
  is NOT comparable with published (Inception) FIDs, nor across data sets or classifiers.
- `class_agreement`: for conditional samples, the share of the samples of class c that the classifier calls c.

The classifier's test accuracy is stored with it (`SampleClassifier.test_accuracy`); quote it beside any number
it produces: a classifier that cannot tell the classes apart says little about samples.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from latentlab.analysis.inference import to_float
from latentlab.data import ImageData, cache_dir
from latentlab.errors import ConfigError, DatasetError
from latentlab.files import atomic_write_text

# Bump when the network or its training changes: the cache key includes it, so an old file is never reused.
VERSION = 1
EPOCHS = 3
BATCH = 128
LR = 1e-3
FEATURES = 128
WEIGHTS, INFO = "classifier.safetensors", "classifier.json"
N_SAMPLES = 10_000  # samples per FID, as the literature's FID-10k


class SmallCNN(nn.Module):
    """Two 3x3 conv + 2x2 max-pool stages (16, 32 channels), a 128-unit ReLU layer (the features) and the class
    logits. Input (B, C, H, W) float32 in [0, 1]; H and W are pooled twice (28 -> 14 -> 7)."""

    def __init__(self, image_shape: tuple[int, int, int], n_classes: int) -> None:
        super().__init__()
        c, h, w = image_shape
        self.image_shape, self.n_classes = tuple(image_shape), n_classes
        self.body = nn.Sequential(
            nn.Conv2d(c, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(32 * (h // 4) * (w // 4), FEATURES), nn.ReLU())
        self.head = nn.Linear(FEATURES, n_classes)

    def features(self, x: Tensor) -> Tensor:
        """Penultimate features (B, 128) of images `x` (B, C, H, W)."""
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.body(x))


@dataclass
class SampleClassifier:
    """A trained `SmallCNN` and what is known of it: `test_accuracy` on the data set's test split (a fraction),
    `digest` (the data's SHA-256 the cache is keyed by), `path` (its cache folder) and `how` ("trained" or
    "cached")."""

    net: SmallCNN
    dataset: str
    classes: tuple[str, ...]
    digest: str
    test_accuracy: float
    path: Path
    how: str

    def _batches(self, images: np.ndarray | Tensor, batch: int = 1024):
        with torch.inference_mode():
            for i in range(0, len(images), batch):
                x = to_float(images[i:i + batch], self.net.image_shape)
                yield x

    def features(self, images: np.ndarray | Tensor) -> np.ndarray:
        """Penultimate features (N, 128) float64 of images: uint8 as stored, or floats in [0, 1], (N, H, W),
        (N, H, W, 3) or (N, C, H, W)."""
        parts = [self.net.features(x).double().numpy() for x in self._batches(images)]
        return np.concatenate(parts) if parts else np.zeros((0, FEATURES))

    def predict(self, images: np.ndarray | Tensor) -> np.ndarray:
        """The predicted class (N,) int64 of each image (as `features` takes them)."""
        parts = [self.net(x).argmax(1).numpy() for x in self._batches(images)]
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def data_digest(data: ImageData) -> str:
    """SHA-256 (hex) of a labelled data set's images and labels, both splits, and of the classifier's version."""
    if data.y_train is None or data.y_test is None or not data.classes:
        raise DatasetError(f"{data.name}: the sample-quality classifier needs labelled training and test images; "
                           "this data set has no labels (use a registered data set or a folder per class)",
                           field="dataset", value=data.name)
    h = hashlib.sha256(f"latentlab-sample-classifier-v{VERSION}".encode())
    for a in (data.x_train, data.y_train, data.x_test, data.y_test):
        h.update(str(a.shape).encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def classifier_for(data: ImageData, *, cache: str | Path | None = None, epochs: int = EPOCHS, seed: int = 0,
                   progress: bool = False) -> SampleClassifier:
    """The sample-quality classifier of labelled `data`: loaded from `cache` (default the user cache,
    `$XDG_CACHE_HOME/latentlab/classifiers`) when one was trained on the same images and labels, else trained on
    `data.x_train` for `epochs` epochs (Adam, lr 1e-3, batch 128; reproducible for `seed`, torch's global RNG
    untouched), scored on `data.x_test`, and saved there as safetensors + JSON. Raises DatasetError for
    unlabelled data."""
    from safetensors.torch import load_file, save_file

    digest = data_digest(data)
    folder = Path(cache) if cache is not None else cache_dir("classifiers")
    folder = folder / f"{_slug(data.name)}-{digest[:16]}"
    info_path = folder / INFO
    net = SmallCNN(data.image_shape, len(data.classes))
    if info_path.is_file() and (folder / WEIGHTS).is_file():
        info = json.loads(info_path.read_text())
        if info.get("digest") == digest and info.get("epochs") == epochs and info.get("seed") == seed:
            net.load_state_dict(load_file(str(folder / WEIGHTS)))
            net.eval()
            return SampleClassifier(net, data.name, tuple(data.classes), digest, float(info["test_accuracy"]),
                                    folder, "cached")
    started = time.perf_counter()
    _train(net, data, epochs, seed, progress)
    net.eval()
    made = SampleClassifier(net, data.name, tuple(data.classes), digest, 0.0, folder, "trained")
    made.test_accuracy = float((made.predict(data.x_test) == data.y_test).mean()) if len(data.x_test) else 0.0
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(folder / WEIGHTS))
    info = {"dataset": data.name, "digest": digest, "version": VERSION, "epochs": epochs, "seed": seed,
            "n_train": len(data.x_train), "n_test": len(data.x_test), "classes": list(data.classes),
            "test_accuracy": made.test_accuracy, "train_s": round(time.perf_counter() - started, 2)}
    atomic_write_text(info_path, json.dumps(info, indent=2) + "\n")  # last: its presence marks a whole entry
    if progress:
        print(f"sample-quality classifier for {data.name}: test accuracy {made.test_accuracy:.4f} "
              f"({info['train_s']:.0f} s), saved in {folder}", flush=True)
    return made


def _train(net: SmallCNN, data: ImageData, epochs: int, seed: int, progress: bool) -> None:
    with torch.random.fork_rng(devices=[]):  # seeded here without changing the caller's global RNG
        torch.manual_seed(seed)
        net.load_state_dict(SmallCNN(net.image_shape, net.n_classes).state_dict())
        g = torch.Generator().manual_seed(seed)
        x_all, y_all = to_float(data.x_train, net.image_shape), torch.from_numpy(data.y_train)
        opt = torch.optim.Adam(net.parameters(), lr=LR)
        net.train()
        for epoch in range(epochs):
            order = torch.randperm(len(x_all), generator=g)
            total = 0.0
            for idx in order.split(BATCH):
                loss = nn.functional.cross_entropy(net(x_all[idx]), y_all[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(idx)
            if progress:
                print(f"  classifier epoch {epoch + 1}/{epochs}: cross-entropy {total / len(x_all):.4f}", flush=True)


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in Path(name).name)[:40] or "data"


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to feature sets `a` (N, D) and `b` (M, D):
    |mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2)). The matrix square root's trace comes from the eigenvalues
    of S_a^(1/2) S_b S_a^(1/2) (symmetric, so `eigh`: no complex parts to drop, unlike `sqrtm` of S_a S_b).
    Raises ConfigError for fewer than 2 rows or different widths."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise ConfigError(f"frechet_distance needs two (N, D) arrays of one width D and at least 2 rows each; got "
                          f"{a.shape} and {b.shape}", field="a", value=(a.shape, b.shape))
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = np.linalg.eigh(s_a)
    root_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    cross = np.linalg.eigvalsh(root_a @ s_b @ root_a)
    trace_root = np.sqrt(np.clip(cross, 0, None)).sum()
    return float(max(((mu_a - mu_b) ** 2).sum() + np.trace(s_a) + np.trace(s_b) - 2 * trace_root, 0.0))


def classifier_fid(classifier: SampleClassifier, samples: np.ndarray | Tensor,
                   reference: np.ndarray | Tensor) -> float:
    """"Classifier-FID" of `samples` against `reference` images (typically the test split), in the classifier's
    penultimate features. Lower is closer. Not comparable with published Inception FIDs (another network, another
    feature space, 128-D), only with other classifier-FIDs from the same classifier and reference set; it also
    falls with the number of samples, so compare at one N (`N_SAMPLES`, 10,000, by default)."""
    return frechet_distance(classifier.features(samples), classifier.features(reference))


def class_agreement(classifier: SampleClassifier, samples: np.ndarray | Tensor,
                    labels: np.ndarray) -> dict[str, Any]:
    """For samples generated for classes `labels` (N,): the share of each class's samples the classifier assigns
    to that class ("per_class": {class name: fraction}), their mean ("mean", over the classes present) and the
    lowest ("min")."""
    labels = np.asarray(labels, np.int64)
    if len(labels) != len(samples):
        raise ConfigError(f"class_agreement: {len(samples)} samples but {len(labels)} labels; give one label each",
                          field="labels", value=len(labels))
    hit = classifier.predict(samples) == labels
    per = {classifier.classes[c]: float(hit[labels == c].mean()) for c in np.unique(labels)}
    return {"per_class": per, "mean": float(np.mean(list(per.values()))) if per else float("nan"),
            "min": float(min(per.values())) if per else float("nan"), "n": int(len(labels))}
