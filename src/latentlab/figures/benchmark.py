"""Benchmark charts: grouped bars of a score per class (the one-class benchmark's AUROC), mean as the last group."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from latentlab.figures.style import LABEL_SIZE, TITLE_SIZE, new_figure

FIRST_COLOURS = ("#1f6feb", "#8c959f")  # this run's method, then its baseline
OTHER_COLOURS = tuple(colormaps["tab10"].colors[i] for i in (1, 2, 3, 4, 5, 6, 8, 9))  # no blue or grey


def one_class_figure(groups: Sequence[str], series: Mapping[str, Sequence[float | None]], title: str = "",
                     ylabel: str = "AUROC (%)", top: float = 100.0, quoted: Sequence[str] = ()) -> Figure:
    """One group of bars per entry of `groups` (e.g. class names, then "mean"), one bar per series; a None value
    leaves its bar out. Series named in `quoted` (figures copied from papers, not measured) are hatched. The axis
    starts a little below the lowest value so that differences of a point stay visible."""
    if not groups or not series:
        raise ValueError("one_class_figure needs at least one group and one series")
    for label, values in series.items():
        if len(values) != len(groups):
            raise ValueError(f"series {label!r} has {len(values)} values for {len(groups)} groups")
    arrays = {k: np.array([np.nan if v is None else float(v) for v in vals]) for k, vals in series.items()}
    finite = np.concatenate([a[np.isfinite(a)] for a in arrays.values()])
    low = max(0.0, 5 * math.floor((finite.min() if finite.size else 0.0) / 5) - 5)
    n = len(arrays)
    fig = new_figure(max(7.0, len(groups) * (0.35 + 0.12 * n) + 1.5), 4.6)
    ax = fig.subplots()
    width = 0.84 / n
    x = np.arange(len(groups))
    for i, (label, values) in enumerate(arrays.items()):
        k = i - len(FIRST_COLOURS)
        colour = FIRST_COLOURS[i] if k < 0 else OTHER_COLOURS[k % len(OTHER_COLOURS)]
        ax.bar(x - 0.42 + width * (i + 0.5), values, width, label=label, color=colour, edgecolor="white",
               linewidth=0.3, hatch="///" if label in quoted else None, alpha=0.85 if label in quoted else 1.0)
    if len(groups) > 1:
        ax.axvline(len(groups) - 1.5, color="0.5", linewidth=0.8, linestyle="--")
    ax.set_xticks(x, list(groups), rotation=30 if max(map(len, groups)) > 6 else 0, ha="right"
                  if max(map(len, groups)) > 6 else "center", fontsize=LABEL_SIZE - 1)
    ax.set_ylim(low, top + 0.5)
    ax.set_ylabel(ylabel, fontsize=LABEL_SIZE)
    ax.grid(True, axis="y", linewidth=0.4, alpha=0.5)
    ax.set_axisbelow(True)
    ax.legend(fontsize=7.5, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    if title:
        fig.suptitle(title, fontsize=TITLE_SIZE - 1)
    return fig
