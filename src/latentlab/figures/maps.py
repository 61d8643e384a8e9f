"""Anomaly maps as pictures: defect examples (image, ground-truth mask, map) and a map laid over its image."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from latentlab.figures.style import LABEL_SIZE, TITLE_SIZE, as_unit_images, new_figure, show_image

MAP_CMAP = "inferno"


def overlay(image: np.ndarray, m: np.ndarray, top: float | None = None, alpha: float = 0.6) -> np.ndarray:
    """float RGB (H, W, 3) in [0, 1]: grey (H, W) or colour (H, W, 3) `image` (uint8 or [0, 1]) under map `m`
    (H, W) coloured by MAP_CMAP, scaled to `top` (default the map's own maximum); the map's weight grows with
    its value, so quiet places show the image."""
    img = as_unit_images(np.asarray(image)[None])[0]
    rgb = np.repeat(img[..., None], 3, -1) if img.ndim == 2 else img
    top = float(m.max()) if top is None else top
    v = np.clip(np.asarray(m, np.float64) / top, 0, 1) if top > 0 else np.zeros(m.shape)
    heat = colormaps[MAP_CMAP](v)[..., :3]
    a = alpha * v[..., None]
    return np.clip(rgb * (1 - a) + heat * a, 0, 1)


def examples_figure(images: np.ndarray, masks: np.ndarray, maps: np.ndarray, labels: Sequence[str],
                    title: str = "Defects: image, mask, map") -> Figure:
    """One row per example: the defective image, its mask, its map (its own scale). `images` uint8 (n, H, W[, 3]),
    `masks` bool (n, H, W), `maps` float (n, H, W), `labels` one per row."""
    n = len(images)
    if not n == len(masks) == len(maps) == len(labels):
        raise ValueError(f"examples_figure needs as many masks, maps and labels as images; got {len(images)}, "
                         f"{len(masks)}, {len(maps)}, {len(labels)}")
    fig = new_figure(4.2, 1.35 * n + 0.5)
    axes = fig.subplots(n, 3, squeeze=False)
    unit = as_unit_images(images)
    for i in range(n):
        show_image(axes[i, 0], unit[i])
        show_image(axes[i, 1], masks[i].astype(np.float64))
        axes[i, 2].imshow(maps[i], cmap=MAP_CMAP, interpolation="nearest")
        axes[i, 2].set_xticks([])
        axes[i, 2].set_yticks([])
        axes[i, 0].set_ylabel(labels[i], fontsize=LABEL_SIZE)
    for j, name in enumerate(("image", "mask", "map")):
        axes[0, j].set_title(name, fontsize=LABEL_SIZE)
    fig.suptitle(title, fontsize=TITLE_SIZE)
    return fig


def explanation_figure(image: np.ndarray, reconstruction: np.ndarray, m: np.ndarray, neighbours: np.ndarray,
                       distances: Sequence[float], labels: Sequence[str | None], title: str = "") -> Figure:
    """Why an image got its verdict, in one row: the input as the model sees it, its reconstruction, the anomaly map
    `m` (H, W) over the input, then its nearest training images `neighbours` (k, H, W[, 3]) each titled with its
    distance and label (None: unknown). Images uint8 or [0, 1]."""
    return explanations_figure([{"image": image, "reconstruction": reconstruction, "map": m, "neighbours": neighbours,
                                 "distances": distances, "labels": labels, "title": ""}], title)


def explanations_figure(rows: Sequence[dict], title: str = "") -> Figure:
    """Explanations stacked, one row each (the keys of `explanation_figure`'s arguments: "image",
    "reconstruction", "map", "neighbours", "distances", "labels", and "title", the row's label)."""
    if not rows:
        raise ValueError("explanations_figure needs at least one row")
    k = max(len(r["neighbours"]) for r in rows)
    for r in rows:
        if not len(r["neighbours"]) == len(r["distances"]) == len(r["labels"]):
            raise ValueError(f"each neighbour needs a distance and a label; got {len(r['neighbours'])} neighbours, "
                             f"{len(r['distances'])} distances, {len(r['labels'])} labels")
    fig = new_figure(1.25 * (3 + k) + 0.6, 1.75 * len(rows) + (0.4 if title else 0.1))
    axes = fig.subplots(len(rows), 3 + k, squeeze=False)
    for i, r in enumerate(rows):
        ax = axes[i]
        show_image(ax[0], as_unit_images(np.asarray(r["image"])[None])[0])
        show_image(ax[1], as_unit_images(np.asarray(r["reconstruction"])[None])[0])
        show_image(ax[2], overlay(r["image"], r["map"]))
        for a, name in zip(ax[:3], ("input", "reconstruction", "map over input"), strict=True):
            if i == 0:  # the columns are the same in every row
                a.set_title(name, fontsize=LABEL_SIZE)
        if r.get("title"):
            ax[0].set_ylabel(r["title"], fontsize=LABEL_SIZE)
        unit = as_unit_images(r["neighbours"]) if len(r["neighbours"]) else []
        for j in range(k):
            if j >= len(unit):
                ax[3 + j].axis("off")
                continue
            show_image(ax[3 + j], unit[j])
            label = "" if r["labels"][j] is None else f"{r['labels'][j]} "
            ax[3 + j].set_title(f"{label}d={r['distances'][j]:.2f}", fontsize=LABEL_SIZE)
    if title:
        fig.suptitle(title, fontsize=TITLE_SIZE)
    return fig
