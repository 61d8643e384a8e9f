"""What the caller of `fit` hooks into training: the loop knows nothing of trackers (TensorBoard, progress lines).

A callback is a `Callback` (three hooks, each a no-op by default) or a plain function ``(record, model)`` called
after every epoch. All hooks run on rank 0 only.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

from torch import nn

#: Called after every epoch with the epoch's record (as in history.jsonl) and the model, on rank 0 only.
EpochCallback = Callable[[dict[str, Any], nn.Module], None]
"""A plain per-epoch callback: ``fn(record, model) -> None``, called after every epoch on rank 0 only.

`record` is the epoch's record as written to history.jsonl (a dict with "epoch", "train", "val", "units",
"samples_per_s", "time_s", ...) and `model` the `nn.Module` being trained. `fit` wraps it in a `Callback` whose
`on_epoch_end` calls it.
"""


class Callback:
    """Hooks of one training session. `on_train_begin` sees the epoch training starts at (0, or the number of
    epochs done when resuming); `on_train_end` the status ("finished", "early-stopped", "interrupted", or "failed"
    when an error stops training) and is always called once `on_train_begin` was."""

    def on_train_begin(self, model: nn.Module, epoch: int, epochs: int) -> None:
        """Called before the first step; a no-op by default.

        Parameters
        ----------
        model : nn.Module
            The model about to be trained.
        epoch : int
            The epoch training starts at: 0, or the number of epochs already done when resuming.
        epochs : int
            The number of epochs the config asks for.
        """

    def on_epoch_end(self, record: dict[str, Any], model: nn.Module) -> None:
        """Called after each epoch's record is made, before that epoch's checkpoint is written; a no-op by default.

        Parameters
        ----------
        record : dict[str, Any]
            The epoch's record, as written to history.jsonl ("epoch", "train", "val", "units", "samples_per_s",
            "time_s", ...).
        model : nn.Module
            The model being trained.
        """

    def on_train_end(self, model: nn.Module, status: str) -> None:
        """Called after the last epoch, an interruption or an error; a no-op by default.

        Parameters
        ----------
        model : nn.Module
            The model that was trained.
        status : str
            How training ended: "finished", "early-stopped", "interrupted" or "failed".
        """


class _EveryEpoch(Callback):
    def __init__(self, fn: EpochCallback) -> None:
        self.fn = fn

    def on_epoch_end(self, record: dict[str, Any], model: nn.Module) -> None:
        self.fn(record, model)


def as_callbacks(callbacks: Sequence[Callback | EpochCallback]) -> list[Callback]:
    """Each entry as a `Callback`; a plain function becomes one whose `on_epoch_end` calls it."""
    return [c if isinstance(c, Callback) else _EveryEpoch(c) for c in callbacks]


class PrintEpochs(Callback):
    """One line per epoch on stderr: every loss term of training and validation, the units, the speed.

    Parameters
    ----------
    epochs : int
        The total number of epochs, shown as the denominator of "epoch i/epochs".
    """

    def __init__(self, epochs: int) -> None:
        self.epochs = epochs

    def on_epoch_end(self, record: dict[str, Any], model: nn.Module) -> None:
        """Print the epoch's line (see `epoch_line`) to stderr and flush it.

        Parameters
        ----------
        record : dict[str, Any]
            The epoch's record, as written to history.jsonl.
        model : nn.Module
            The model being trained (unused).
        """
        print(epoch_line(record, self.epochs), file=sys.stderr, flush=True)


def epoch_line(r: dict[str, Any], epochs: int) -> str:
    """"epoch 2/10  train loss=... val loss=...  (units)  12,345 img/s  1.2s" for a record of history.jsonl."""
    terms = " ".join(f"{k}={v:.4g}" for k, v in r["train"].items())
    val = " ".join(f"{k}={v:.4g}" for k, v in (r["val"] or {}).items())
    return (f"epoch {r['epoch']}/{epochs}  train {terms}" + (f"  val {val}" if val else "")
            + f"  ({r['units']})  {r['samples_per_s']:,.0f} img/s  {r['time_s']:.1f}s")
