"""TensorBoard logging as an `EpochCallback`: `train(..., tensorboard_dir=...)` passes a `TensorBoardLogger` to `fit`.

Per epoch: every loss term of training and validation, the learning rate and the throughput as scalars, and a
grid of validation images over their reconstructions. For models with a prior and a 2-D latent space, the images
decoded on a latent grid every few epochs. At the end, the validation set's codes with their labels and thumbnails
for the Embedding Projector. Writing goes through torch's `SummaryWriter`, which needs the `tensorboard` package:
an optional extra, imported only here and only when a log directory is asked for.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from latentlab.errors import ConfigError
from latentlab.models import has_prior
from latentlab.training.steps import to_float

MANIFOLD_EVERY = 5  # epochs between manifold images (and the first and last epoch)
MANIFOLD_SIDE = 15  # points per axis of the decoded grid, over [-3, 3]^2 as in the report's figure
N_SHOWN = 8  # one row of TensorBoard's image grid (it tiles 8 to a row)
MAX_POINTS = 10_000  # embedding points: a 100x100 sprite of 28x28 thumbnails, well under the projector's limit


def require_tensorboard() -> None:
    """ConfigError saying how to install the `tensorboard` extra when it is missing."""
    if importlib.util.find_spec("tensorboard") is None:
        raise ConfigError("tensorboard_dir needs the tensorboard package, which is not installed: "
                          "pip install 'latentlab[tensorboard]' (or pip install tensorboard)")


class TensorBoardLogger:
    """Writes one TensorBoard run to `log_dir`; call it after every epoch with (record, model), then `finish`.

    `images` (uint8, (N, 28, 28)) are the validation images shown and embedded, `labels` their int labels and
    `classes` the names of those labels, when known.
    """

    def __init__(self, log_dir: str | Path, images: np.ndarray, labels: np.ndarray | None = None,
                 classes: Sequence[str] | None = None, manifold_every: int = MANIFOLD_EVERY,
                 max_points: int = MAX_POINTS) -> None:
        require_tensorboard()
        from torch.utils.tensorboard import SummaryWriter

        self.images = np.array(images[:max_points], dtype=np.uint8)  # a writable copy: torch shares its memory
        self.labels = None if labels is None else np.asarray(labels)[:max_points]
        self.classes = list(classes) if classes else None
        self.manifold_every = manifold_every
        self.writer = SummaryWriter(log_dir=str(log_dir))
        self.last_epoch = 0
        self.manifold_epoch = 0

    def __call__(self, record: dict[str, Any], model: nn.Module) -> None:
        epoch = self.last_epoch = record["epoch"]
        for split in ("train", "val"):
            for term, value in (record[split] or {}).items():
                self.writer.add_scalar(f"{term}/{split}", value, epoch)
        self.writer.add_scalar("schedule/lr", record["lr"], epoch)
        self.writer.add_scalar("speed/samples_per_s", record["samples_per_s"], epoch)
        with _inference(model):
            x = self._float(self.images[:N_SHOWN], model)
            # Originals in the top row, their reconstructions below (TensorBoard tiles 8 images to a row).
            self.writer.add_images("reconstruction", torch.cat([x, model(x)]).cpu(), epoch)
            if epoch == 1 or epoch % self.manifold_every == 0:
                self._manifold(model, epoch)
        self.writer.flush()  # live curves: the writer would otherwise wait up to two minutes

    def finish(self, model: nn.Module) -> None:
        """After the last epoch: the final manifold (if not drawn then) and the codes for the projector."""
        if not self.last_epoch:
            return  # interrupted before the first epoch ended: nothing was trained
        with _inference(model):
            if self.manifold_epoch != self.last_epoch:
                self._manifold(model, self.last_epoch)
            codes = torch.cat([model.encode(self._float(self.images[i:i + 2048], model)).float().cpu()
                               for i in range(0, len(self.images), 2048)])
        metadata, header = self._metadata()
        self.writer.add_embedding(codes, metadata=metadata, label_img=to_float(torch.from_numpy(self.images)),
                                  global_step=self.last_epoch, tag="latent", metadata_header=header)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()

    def _float(self, images: np.ndarray, model: nn.Module) -> Tensor:
        return to_float(torch.from_numpy(images)).to(next(model.parameters()).device)

    def _manifold(self, model: nn.Module, epoch: int) -> None:
        if not (has_prior(model) and getattr(model, "latent_dim", 0) == 2):
            return
        n = MANIFOLD_SIDE
        axis = torch.linspace(-3.0, 3.0, n)
        # Rows from the top: largest z[1] first, so the picture reads like the report's manifold figure.
        gy, gx = torch.meshgrid(axis.flip(0), axis, indexing="ij")
        z = torch.stack([gx.flatten(), gy.flatten()], 1).to(next(model.parameters()).device)
        decoded = model.decode(z).float().cpu().reshape(n, n, 28, 28)
        # One mosaic: TensorBoard's own tiling is fixed at 8 images a row.
        self.writer.add_image("manifold", decoded.permute(0, 2, 1, 3).reshape(1, n * 28, n * 28), epoch)
        self.manifold_epoch = epoch

    def _metadata(self) -> tuple[list[Any] | None, list[str] | None]:
        """The projector's labels: class name and index when the names are known, else the index alone."""
        if self.labels is None:
            return None, None
        if self.classes:
            return [[self.classes[y], int(y)] for y in self.labels], ["class", "label"]
        return [int(y) for y in self.labels], None


class _inference:
    """Evaluation mode without gradients for the duration of a block, then the model's mode as it was."""

    def __init__(self, model: nn.Module) -> None:
        self.model, self.was_training = model, model.training
        self.grad = torch.inference_mode()

    def __enter__(self) -> None:
        self.model.eval()
        self.grad.__enter__()

    def __exit__(self, *exc: object) -> None:
        self.grad.__exit__(*exc)
        self.model.train(self.was_training)
