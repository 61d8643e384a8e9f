"""Training curves: loss per epoch, train and validation, with the loss's unit on the axis."""

from __future__ import annotations

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from latentlab.figures.style import LABEL_SIZE, TITLE_SIZE, new_figure


def _series(history: list[dict], split: str, key: str) -> tuple[list[float], list[float]]:
    """Epochs and values of history[*][split][key], skipping epochs where it is missing."""
    points = [
        (entry.get("epoch", i + 1), entry[split][key])
        for i, entry in enumerate(history)
        if isinstance(entry.get(split), dict) and entry[split].get(key) is not None
    ]
    return [p[0] for p in points], [float(p[1]) for p in points]


def training_curves_figure(history: list[dict], title: str = "Training curves", beta: float = 1.0) -> Figure:
    """Loss per epoch, train and validation; VAEs (a "kl" entry) get reconstruction and KL panels too. `beta`, the
    VAE's weight of the KL term, names the first panel: the negative ELBO at 1, "reconstruction + beta x KL" else.

    Parameters
    ----------
    history : list of dict
        One dict per epoch, as history.jsonl: {"epoch", "train": {"loss", "recon", "kl"?}, "val": {...} or None,
        "samples_per_s", "time_s"}. Validation points are drawn wherever they exist.
    title : str, default "Training curves"
        The figure's title.
    beta : float, default 1.0
        The VAE's weight of the KL term; it only names the first panel of a VAE ("negative ELBO" at 1,
        "reconstruction + beta x KL" otherwise).

    Returns
    -------
    matplotlib.figure.Figure
        One to three panels.

    Raises
    ------
    ValueError
        An empty history.
    """
    if not history:
        raise ValueError("history is empty: train for at least one epoch before plotting curves")
    is_vae = any(isinstance(e.get("train"), dict) and "kl" in e["train"] for e in history)
    # The unit on every axis: 0.25 (BCE per pixel) and 172 (nats per image) are both "loss" otherwise.
    units = history[-1].get("units") or ("nats per image" if is_vae else "BCE per pixel")
    objective = "negative ELBO" if beta == 1 else f"reconstruction + {beta:g} x KL"
    panels = [("loss", f"{objective} ({units})" if is_vae else f"loss ({units})")]
    if is_vae:
        panels += [("recon", f"reconstruction term ({units})"), ("kl", f"KL term ({units})")]
    fig = new_figure(4.2 * len(panels) + 0.6, 3.8)
    marker = "o" if len(history) <= 30 else None  # one epoch must still show up as a point
    for ax, (key, label) in zip(fig.subplots(1, len(panels), squeeze=False)[0], panels, strict=True):
        for split, style in (("train", "-"), ("val", "--")):
            epochs, values = _series(history, split, key)
            if values:
                ax.plot(epochs, values, style, marker=marker, markersize=4, label=split)
        ax.set_title(label, fontsize=LABEL_SIZE + 1)
        ax.set_xlabel("epoch", fontsize=LABEL_SIZE)
        ax.set_ylabel(label, fontsize=LABEL_SIZE)
        _integer_epochs(ax, history)
        ax.grid(True, linewidth=0.4, alpha=0.5)
        ax.legend(fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=TITLE_SIZE)
    _footnote_speed(fig, history)
    return fig


def _integer_epochs(ax: Axes, history: list[dict]) -> None:
    epochs = [int(e.get("epoch", i + 1)) for i, e in enumerate(history)]
    if max(epochs) - min(epochs) < 2:  # the integer locator gives up on a range this short
        ax.set_xticks(range(min(epochs), max(epochs) + 1))
        ax.set_xlim(min(epochs) - 0.5, max(epochs) + 0.5)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _footnote_speed(fig: Figure, history: list[dict]) -> None:
    last = history[-1]
    if "samples_per_s" in last or "time_s" in last:
        total = sum(float(e.get("time_s", 0.0)) for e in history)
        epochs = f"{len(history)} epoch" + ("s" if len(history) > 1 else "")
        fig.supxlabel(
            f"last epoch: {float(last.get('samples_per_s', 0.0)):,.0f} samples/s, "
            f"{float(last.get('time_s', 0.0)):.1f} s; {epochs} in all: {total:.1f} s",
            fontsize=8,
            color="0.4",
        )
