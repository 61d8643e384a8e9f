"""What the web page needs from one trained run: its test-set codes on a plane, decoding, reconstruction,
denoising and the membership check, with every model call behind the run's lock.

The models are loaded once and shared by all requests. Request handlers run in a thread pool, so each
`RunService` serialises its torch calls with a lock: inference on these small models takes milliseconds,
and one lock per run is simpler to trust than reasoning about torch's thread safety. The novelty detector
has a copy of the model and a lock of its own, so fitting it never stalls the other requests.
"""

from __future__ import annotations

import base64
import copy
import math
import sys
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from latentlab.analysis import inference as evaluate
from latentlab.analysis.evaluate import current_metrics
from latentlab.analysis.ood import detector_unsupported
from latentlab.config import NoiseConfig
from latentlab.data import ImageData
from latentlab.data.base import class_name
from latentlab.errors import DatasetError
from latentlab.images import layout_for
from latentlab.models import has_prior
from latentlab.runs import Run
from latentlab.training.noise import noisy_images

MAX_POINTS = 5000


@dataclass(frozen=True)
class Plane:
    """The 2-D view of a latent space. A plane point (x, y) stands for the code `mean + x*axes[0] + y*axes[1]`:
    the code itself for a 2-D latent, and for more dimensions the first two principal components of the test
    codes, the other directions held at their mean."""

    kind: str  # "latent" or "pca"
    mean: np.ndarray  # (d,)
    axes: np.ndarray  # (2, d)
    explained: tuple[float, ...]  # share of the codes' variance along each axis ("pca" only)
    x_range: tuple[float, float]
    y_range: tuple[float, float]
    limit: float  # |x| and |y| a request may ask for

    @classmethod
    def fit(cls, codes: np.ndarray, latent_dim: int) -> Plane:
        if latent_dim <= 2 or len(codes) < 2:
            kind, mean, axes, explained = "latent", np.zeros(latent_dim), np.eye(2, latent_dim), ()
        else:
            mean = codes.mean(0)
            _, s, vt = np.linalg.svd(codes - mean, full_matrices=False)
            var = s**2
            kind, axes, explained = "pca", vt[:2], tuple(float(v) for v in var[:2] / max(var.sum(), 1e-12))
        pts = (codes - mean) @ axes.T if len(codes) else np.zeros((0, 2))
        if len(pts):
            lo, hi = np.percentile(pts, 0.5, axis=0), np.percentile(pts, 99.5, axis=0)
        else:
            lo, hi = np.full(2, -3.0), np.full(2, 3.0)  # no data: show the bulk of a N(0, 1) prior
        centre = (lo + hi) / 2
        # One scale for both axes so distances look right; a margin so the outer points are not on the edge.
        half = max(float((hi - lo).max()) / 2 * 1.15, 1e-3)
        x_range = (float(centre[0] - half), float(centre[0] + half))
        y_range = (float(centre[1] - half), float(centre[1] + half))
        limit = max(10.0, math.ceil(2 * max(abs(v) for v in (*x_range, *y_range))))
        return cls(kind, mean.astype(np.float32), axes.astype(np.float32), explained, x_range, y_range, limit)

    def project(self, codes: np.ndarray) -> np.ndarray:
        return (np.asarray(codes, np.float32) - self.mean) @ self.axes.T

    def to_codes(self, points: np.ndarray) -> np.ndarray:
        return self.mean + np.asarray(points, np.float32) @ self.axes

    def grid(self, n: int) -> np.ndarray:
        """Centres of an n x n grid over the plane, row by row from the top (high y) down: (n*n, 2)."""
        xs = self.x_range[0] + (np.arange(n) + 0.5) * (self.x_range[1] - self.x_range[0]) / n
        ys = self.y_range[1] - (np.arange(n) + 0.5) * (self.y_range[1] - self.y_range[0]) / n
        return np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2)


def _finite(value: Any) -> Any:
    # JSON has no NaN or infinity: report them as null rather than fail the whole response.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def headline_metrics(run: Run) -> dict[str, Any]:
    """metrics.json of the run if there is one, else the final epoch's losses from the history."""
    metrics = current_metrics(run)  # None when missing, damaged or of other weights: the history still says something
    if metrics is not None:
        return {"source": "metrics.json", "values": _finite(metrics)}
    if not run.history:
        return {"source": "none", "values": {}}
    last = run.history[-1]
    values: dict[str, Any] = {"epochs": last.get("epoch")}
    for split in ("train", "val"):
        for key, v in (last.get(split) or {}).items():
            values[f"{split} {key}"] = v
    return {"source": "history", "values": _finite(values)}


class RunService:
    """One served run: the model, its test images and their codes projected on a `Plane`."""

    def __init__(self, run: Run, data: ImageData | None, data_error: str = "", max_points: int = MAX_POINTS) -> None:
        self.run = run
        self.model: nn.Module = run.model.eval()
        self.data = data
        self.data_error = data_error
        self._lock = threading.Lock()
        self._detectors: dict[str, Any] = {}  # score -> detector
        self._detector_notes: dict[str, str] = {}  # score -> where it was saved, when not in the run (read-only)
        self._labels: dict[str, Any] = {}  # score -> the training labels its detector's neighbours are named by
        self._detector_lock = threading.RLock()
        self.image_shape = tuple(int(v) for v in self.model.image_shape)  # (channels, height, width)
        self.x_test = data.x_test if data is not None else np.zeros((0, *evaluate.image_layout(self.model)), np.uint8)
        y = data.y_test if data is not None else None
        self.y_test = y if y is not None else np.full(len(self.x_test), -1, np.int64)
        self.classes = tuple(data.classes if data is not None else run.meta.get("classes", ()))
        codes = self.embed(self.x_test[:max_points])
        self.plane = Plane.fit(codes, self.latent_dim)
        self.codes = codes
        self.points = self.plane.project(codes)
        self.labels = self.y_test[:max_points]
        # Grey square uploads are laid out like the training images, as `latentlab detect` lays out its files;
        # colour and other shapes are only decoded and resized to the run's shape.
        self.layout = layout_for(self.image_shape, None if data is None else data.x_train,
                                 None if data is None else data.layout)
        self.membership_unavailable = detector_unsupported(self.image_shape)

    @property
    def latent_dim(self) -> int:
        return int(self.model.latent_dim)

    @property
    def noise(self) -> NoiseConfig:
        return self.run.config.train.noise

    # ---- model calls, each under the lock ----------------------------------------------------------------

    def embed(self, x: np.ndarray) -> np.ndarray:
        """Codes (VAE: posterior means) of uint8 images as stored, (N, H, W) or (N, H, W, 3)."""
        with self._lock:
            return evaluate.embed(self.model, x)

    def reconstruct(self, x: np.ndarray) -> np.ndarray:
        with self._lock:
            return evaluate.reconstruct(self.model, x)

    def decode(self, points: np.ndarray) -> np.ndarray:
        """Images (K, H, W) or (K, H, W, 3) in [0, 1] decoded at plane points (K, 2)."""
        with self._lock:
            return evaluate.decode_points(self.model, self.plane.to_codes(points))

    def manifold(self, n: int) -> np.ndarray:
        """The n x n decoded grid as one image, (n*H, n*W) or (n*H, n*W, 3)."""
        images = self.decode(self.plane.grid(n))
        h, w = images.shape[1:3]
        tiles = images.reshape(n, n, *images.shape[1:])
        return tiles.swapaxes(1, 2).reshape(n * h, n * w, *images.shape[3:])

    def try_image(self, image: np.ndarray) -> dict[str, Any]:
        """Reconstruction, code and plane position of one uint8 image, (H, W) or (H, W, 3) as the run's."""
        x = image[None]
        code = self.embed(x)
        recon = self.reconstruct(x)[0]
        return {"reconstruction": recon, "code": code[0].tolist(), "position": self.plane.project(code)[0].tolist(),
                "error": float(np.mean((recon - image / 255.0) ** 2))}

    def detect(self, prepared: Any, score: str = "combined") -> dict[str, Any]:
        """The answer on one image as read (`latentlab.images.Prepared`), in `latentlab detect --json`'s schema
        (`verdict_answer`), with its explanation (`explanation`): the nearest training images as PNG data URLs with
        their distances and classes, the default map over the input, and the map's summary."""
        from latentlab.analysis.novelty import verdict_answer

        image = prepared.pixels
        with self._detector_lock:  # the detector's model copy is used by one request at a time
            detector = self.detector(score)
            labels = self._labels.get(score)
            if score not in self._labels:  # the training images hashed once per detector, not per upload
                from latentlab.analysis.novelty import fitted_labels

                labels = self._labels[score] = fitted_labels(detector, self.data)
            e = detector.explain(image[None], labels=labels, classes=self.classes)[0]
        return {**verdict_answer(prepared, e.score, e.threshold, detector.score), "explanation": self._explained(e),
                **({"detector_note": note} if (note := self._detector_notes.get(detector.score)) else {})}

    def _explained(self, e: Any) -> dict[str, Any]:
        from latentlab.figures.maps import overlay
        from latentlab.images import data_url

        near = e.neighbours.get("pixel-knn")
        neighbours = [] if near is None else [
            {"index": near["index"][j], "distance": near["distance"][j], "image": data_url(e.nearest_images[j]),
             "label": None if near["label"] is None else near["label"][j],
             "label_name": None if near["label_name"] is None else near["label_name"][j]}
            for j in range(len(e.nearest_images))]
        summary = e.summary()
        return {"neighbours": neighbours, "contributions": summary["contributions"],
                "map": data_url(overlay(e.image, e.map2d())), "map_summary": summary["maps"],
                "default_map": summary["default_map"]}


    def detector(self, score: str = "combined") -> Any:
        """The run's novelty detector for `score`: loaded or fitted (and saved beside the run) on first use, once."""
        from latentlab.analysis.novelty import locate_detector, saved_detector

        with self._detector_lock:
            if self.membership_unavailable:
                raise DatasetError(self.membership_unavailable, field="dataset")
            if score not in self._detectors:
                # The detector works on its own copy of the model: fitting it takes seconds on a full data set,
                # and meanwhile the page's other requests keep the shared model to themselves.
                run = copy.deepcopy(self.run)
                if self.data is not None:
                    # Fitted only on the images the run was trained on, as `latentlab detect` (DataChangedError).
                    self._detectors[score], note = locate_detector(run, data=self.data, score=score, same_data=False,
                                                                   allow_data_change=False)
                    if note:  # a read-only run: said once on the server's stderr, and in every answer's JSON
                        self._detector_notes[score] = note
                        print(f"latentlab serve: note: {note}", file=sys.stderr, flush=True)
                else:
                    # Without the training images only a saved detector can be used: never download here.
                    self._detectors[score] = saved_detector(run, score, self.data_error)
            return self._detectors[score]

    def denoise(self, index: int, factor: float, seed: int) -> dict[str, Any]:
        """A test image, a corrupted copy (the run's noise kind, Gaussian for plain runs) and the output."""
        clean = self.x_test[index]
        kind = self.noise.kind if self.noise.kind != "none" else "gaussian"
        noisy = noisy_images(clean[None], NoiseConfig(kind=kind, factor=factor), seed * 1_000_003 + index)[0]
        output = self.reconstruct(noisy[None])[0]
        ref = clean / 255.0
        return {"clean": clean, "noisy": noisy, "output": output, "kind": kind,
                "label": self.label_name(int(self.y_test[index])),
                "mse_noisy": float(np.mean((noisy / 255.0 - ref) ** 2)),
                "mse_output": float(np.mean((output - ref) ** 2))}

    # ---- descriptions ------------------------------------------------------------------------------------

    def label_name(self, label: int) -> str | None:
        return class_name(self.classes, label)

    def decoder_layers(self) -> list[nn.Linear] | None:
        """The decoder's Linear layers when it is a plain Linear/ReLU stack (the page can run it), else None."""
        decoder = getattr(self.model, "decoder", None)
        if not isinstance(decoder, nn.Sequential):
            return None
        layers = list(decoder)
        if not layers or not all(isinstance(m, nn.ReLU) or (isinstance(m, nn.Linear) and m.bias is not None)
                                 for m in layers):
            return None
        return [m for m in layers if isinstance(m, nn.Linear)]

    def decoder_export(self) -> dict[str, Any] | None:
        """The dense decoder as little-endian float32 base64 blobs; a ReLU follows every layer but the last,
        and a sigmoid the last. Its C*H*W outputs are channel after channel, each row-major ("shape")."""
        linears = self.decoder_layers()
        if linears is None:
            return None

        def blob(t: torch.Tensor) -> str:
            return base64.b64encode(t.detach().float().cpu().numpy().astype("<f4").tobytes()).decode("ascii")

        with self._lock:
            layers = [{"in": m.in_features, "out": m.out_features, "weight": blob(m.weight), "bias": blob(m.bias)}
                      for m in linears]
        return {"layers": layers, "activation": "relu", "output": "sigmoid", "layout": "row-major (out, in)",
                "shape": list(self.image_shape)}

    def summary(self) -> dict[str, Any]:
        cfg, meta = self.run.config, self.run.meta
        return {
            "id": self.run.name, "name": cfg.name, "preset": cfg.preset, "kind": cfg.model.kind,
            "variational": has_prior(self.model), "latent_dim": self.latent_dim,
            "dataset": meta.get("dataset", cfg.dataset), "data_source": meta.get("data_source", ""),
            "is_sample": bool(meta.get("is_sample", False)), "classes": list(self.classes),
            "denoising": self.noise.kind != "none", "noise": {"kind": self.noise.kind, "factor": self.noise.factor},
            "decoder": "browser" if self.decoder_layers() is not None else "server",
            "n_test": len(self.x_test), "data_error": self.data_error, "plane": self.plane.kind,
            # The drawing canvas makes white-on-black grey strokes: only grey runs can use it.
            "image_shape": list(self.image_shape), "draw": self.image_shape[0] == 1,
            "membership": self.membership_unavailable,
            "config": cfg.to_dict(), "metrics": headline_metrics(self.run),
            "status": meta.get("status", ""), "epochs_done": meta.get("epochs_done"),
        }
