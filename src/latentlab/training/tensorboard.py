"""TensorBoard logging as a training `Callback` the caller passes to `train` or `fit` (the trainer knows nothing of it).

Per epoch: every loss term of training and validation, the learning rate and the throughput as scalars, and a
grid of validation images over their reconstructions. For models with a prior and a 2-D latent space, the images
decoded on a latent grid every few epochs. At the end, the validation set's codes with their labels and thumbnails
for the Embedding Projector. Any image shape and colour works: sizes are read from the model.

One TensorBoard run per training: `TensorBoardLogger(root, ..., name=...)` writes to ``root/name``, or to
``root/name-2``, ``-3``... when that already holds another training's events; a resumed training continues the
newest of them, its steps (epochs) going on where they stopped. Writing goes through torch's `SummaryWriter`,
which needs the `tensorboard` package: an optional extra, imported only here and only when a logger is made.
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
from latentlab.files import shown_name
from latentlab.images import stored_shape, to_float
from latentlab.models import has_prior
from latentlab.training.callbacks import Callback
from latentlab.training.inputs import as_images

MANIFOLD_EVERY = 5  # epochs between manifold images (and the first and last epoch)
MANIFOLD_SIDE = 15  # points per axis of the decoded grid, over [-3, 3]^2 as in the report's figure
N_SHOWN = 8  # one row of TensorBoard's image grid (it tiles 8 to a row)
MAX_POINTS = 10_000  # embedding points: a 100x100 sprite of 28x28 thumbnails, well under the projector's limit
MAX_SPRITE = 8192  # pixels a side: the projector refuses a larger sprite, so big images get fewer points


def require_tensorboard() -> None:
    """ConfigError saying how to install the `tensorboard` extra when it is missing."""
    if importlib.util.find_spec("tensorboard") is None:
        raise ConfigError("tensorboard_dir needs the tensorboard package, which is not installed: "
                          "pip install 'latentlab[tensorboard]' (or pip install tensorboard)", field="tensorboard_dir")


def run_folder(root: str | Path, name: str, resume: bool) -> Path:
    """The folder of one training's TensorBoard run under `root`: ``name``, else the first of ``name-2``, ``-3``...
    without event files; resuming, the newest that exists (steps then continue there)."""
    root = Path(root)
    taken = [root / name] + [root / f"{name}-{k}" for k in range(2, 10_000)]
    existing = [d for d in taken if d.is_dir() and any(d.glob("events.out.tfevents.*"))]
    if resume and existing:
        return existing[-1]
    return next(d for d in taken if d not in existing)


def tsv_cell(value: object) -> str:
    r"""One cell of the projector's metadata.tsv, which has no quoting: a tab, line feed or carriage return is
    written as \t, \n or \r, and an undecodable byte of a file name as \xNN (`shown_name`, as everywhere else, so
    a backslash is left as it is)."""
    return shown_name(str(value)).replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


class TensorBoardLogger(Callback):
    """Writes one TensorBoard run under `root` (see the module docstring); pass it in `callbacks`.

    `images` ((N, H, W) or (N, H, W, 3), uint8 or float in [0, 1]) are the validation images shown and embedded,
    `labels` their int labels and `classes` the names of those labels, when known. `name` names the run's folder
    (default "run"). `log_dir` is the folder written, known once training begins.
    """

    def __init__(self, root: str | Path, images: np.ndarray, labels: np.ndarray | None = None,
                 classes: Sequence[str] | None = None, name: str = "run", manifold_every: int = MANIFOLD_EVERY,
                 max_points: int = MAX_POINTS) -> None:
        require_tensorboard()
        images = np.asarray(images)
        shape = stored_shape(images)
        side = max(shape[1:], default=1)
        keep = min(max_points, (MAX_SPRITE // max(side, 1)) ** 2)
        # A writable uint8 copy (torch shares its memory), whatever the caller gave.
        self.images = np.array(as_images(images[:keep], "images", shape) if shape else images[:keep], np.uint8)
        self.labels = None if labels is None else np.asarray(labels)[:keep]
        self.classes = list(classes) if classes else None
        self.root, self.name, self.manifold_every = Path(root), name, manifold_every
        self.log_dir: Path | None = None
        self.writer: Any = None
        self.last_epoch = 0
        self.manifold_epoch = 0

    def on_train_begin(self, model: nn.Module, epoch: int, epochs: int) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.log_dir = run_folder(self.root, self.name, resume=epoch > 0)
        self.writer = SummaryWriter(log_dir=str(self.log_dir))

    def on_epoch_end(self, record: dict[str, Any], model: nn.Module) -> None:
        epoch = self.last_epoch = record["epoch"]
        for split in ("train", "val"):
            for term, value in (record[split] or {}).items():
                self.writer.add_scalar(f"{term}/{split}", value, epoch)
        self.writer.add_scalar("schedule/lr", record["lr"], epoch)
        self.writer.add_scalar("speed/samples_per_s", record["samples_per_s"], epoch)
        with _inference(model):
            x = self._float(self.images[:N_SHOWN], model)
            # Originals in the top row, their reconstructions below (TensorBoard tiles 8 images to a row).
            self.writer.add_images("reconstruction", torch.cat([x, model(x)]).float().cpu(), epoch)
            if epoch == 1 or epoch % self.manifold_every == 0:
                self._manifold(model, epoch)
        self.writer.flush()  # live curves: the writer would otherwise wait up to two minutes

    def on_train_end(self, model: nn.Module, status: str) -> None:
        """The final manifold (if not drawn then) and the codes for the projector, unless training failed or no
        epoch ended in this session; then the writer is closed."""
        try:
            if status != "failed" and self.last_epoch:
                self.finish(model)
        finally:
            self.writer.close()

    def finish(self, model: nn.Module) -> None:
        with _inference(model):
            if self.manifold_epoch != self.last_epoch:
                self._manifold(model, self.last_epoch)
            codes = torch.cat([model.encode(self._float(self.images[i:i + 2048], model)).float().cpu()
                               for i in range(0, len(self.images), 2048)])
        metadata, header = self._metadata()
        self.writer.add_embedding(codes, metadata=metadata, label_img=to_float(torch.from_numpy(self.images)),
                                  global_step=self.last_epoch, tag="latent", metadata_header=header)
        self.writer.flush()

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
        c, h, w = model.image_shape
        decoded = model.decode(z).float().cpu().reshape(n, n, c, h, w)
        # One mosaic (C, n*H, n*W): TensorBoard's own tiling is fixed at 8 images a row.
        self.writer.add_image("manifold", decoded.permute(2, 0, 3, 1, 4).reshape(c, n * h, n * w), epoch)
        self.manifold_epoch = epoch

    def _metadata(self) -> tuple[list[Any] | None, list[str] | None]:
        """The projector's labels: class name and index when the names are known, else the index alone."""
        if self.labels is None:
            return None, None
        if self.classes:
            return [[tsv_cell(self.classes[y]), int(y)] for y in self.labels], ["class", "label"]
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
