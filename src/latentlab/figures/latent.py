"""Latent-space scatter plots (codes (N, d) -> a 2-D picture, projected when d > 2, scikit-learn imported only
then) and the decoded-point figure (the scatter with a star, beside the image decoded there)."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from latentlab.errors import choose
from latentlab.figures.style import LABEL_SIZE, TITLE_SIZE, as_unit_images, new_figure, show_image

TSNE_MAX_POINTS = 3000  # t-SNE is quadratic-ish; beyond a few thousand points it stops being interactive
MARK_COLOR = "red"
NO_LABELS = "no labels: these images have no classes, so every point has one colour"


def _pca(codes: np.ndarray) -> tuple[np.ndarray, tuple[str, str]]:
    from sklearn.decomposition import PCA

    pca = PCA(n_components=2).fit(codes)
    share = 100 * pca.explained_variance_ratio_
    return pca.transform(codes), (f"PC1 ({share[0]:.0f}% of variance)", f"PC2 ({share[1]:.0f}% of variance)")


def _tsne(codes: np.ndarray) -> tuple[np.ndarray, tuple[str, str]]:
    from sklearn.manifold import TSNE

    # Perplexity must stay below the number of points, which matters for the small sets used in tests.
    perplexity = float(min(30.0, max(1.0, (len(codes) - 1) / 3)))
    xy = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=0).fit_transform(codes)
    return xy, ("t-SNE 1", "t-SNE 2")


def _umap(codes: np.ndarray) -> tuple[np.ndarray, tuple[str, str]]:
    import umap

    return umap.UMAP(n_components=2, random_state=0).fit_transform(codes), ("UMAP 1", "UMAP 2")


# name -> (function, display name, the most points it is given)
PROJECTIONS: dict[str, tuple[Callable[[np.ndarray], tuple[np.ndarray, tuple[str, str]]], str, int | None]] = {
    "pca": (_pca, "PCA", None),
    "tsne": (_tsne, "t-SNE", TSNE_MAX_POINTS),
    "umap": (_umap, "UMAP", None),
}
"""Projections of d > 2 codes to the plane: name -> (function, display name, the most points it is given)."""


def _resolve_projection(name: str) -> str:
    name = name.lower()
    if name == "auto":
        return "pca"  # fast, deterministic and linear, so distances still mean something
    choose(("auto", *PROJECTIONS), name, "projection")
    if name == "umap" and importlib.util.find_spec("umap") is None:
        raise ValueError("projection='umap' needs umap-learn: pip install umap-learn, or use pca or tsne")
    return name


def _subsample(n: int, limit: int | None) -> np.ndarray:
    """Indices of at most `limit` points, in a fixed random order so classes are drawn interleaved."""
    order = np.random.default_rng(0).permutation(n)
    return order if limit is None else order[:limit]


def _class_colors(n_classes: int) -> np.ndarray:
    cmap = colormaps["tab10" if n_classes <= 10 else "tab20"]
    return np.array([cmap(k % cmap.N) for k in range(n_classes)])


def _class_name(label: object, class_names: Sequence[str] | None) -> str:
    if class_names is None:
        return str(label)
    if not isinstance(label, int | np.integer) or not 0 <= int(label) < len(class_names):
        raise ValueError(f"label {label!r} has no entry in class_names (which has {len(class_names)} names)")
    return str(class_names[int(label)])


def _draw_points(
    ax: Axes,
    xy: np.ndarray,
    labels: np.ndarray | None,
    class_names: Sequence[str] | None,
) -> None:
    size = float(np.clip(3000 / max(len(xy), 1), 2, 30))  # big dots for a handful, specks for thousands
    if labels is None:
        ax.scatter(xy[:, 0], xy[:, 1], s=size, color="tab:blue", alpha=0.6, linewidths=0)
        # Said on the plot: one colour could otherwise be read as one class, or as a drawing fault.
        ax.text(0.01, 0.99, NO_LABELS, transform=ax.transAxes, ha="left", va="top", fontsize=8, color="0.35")
        return
    classes, index = np.unique(labels, return_inverse=True)
    colors = _class_colors(len(classes))
    # One scatter call in shuffled order, so no class is always painted on top of the others.
    ax.scatter(xy[:, 0], xy[:, 1], s=size, c=colors[index], alpha=0.7, linewidths=0)
    handles = [
        Line2D([], [], marker="o", linestyle="", color=colors[k], label=_class_name(c, class_names))
        for k, c in enumerate(classes)
    ]
    ax.legend(
        handles=handles,
        title="class",
        fontsize=8,
        title_fontsize=9,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        borderaxespad=0.0,
        frameon=False,
    )


def _draw_mark(ax: Axes, mark: tuple[float, float]) -> None:
    x, y = float(mark[0]), float(mark[1])
    ax.scatter([x], [y], marker="*", s=320, color=MARK_COLOR, edgecolors="white", linewidths=1.2, zorder=5)
    # The label goes toward the middle of the axes: above and right of a mark at the top edge it ran into the
    # title (the Fashion-MNIST VAE's point (-1, 3) is its highest y).
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    right = (x - x0) / ((x1 - x0) or 1.0) > 0.7
    up = (y - y0) / ((y1 - y0) or 1.0) < 0.7
    ax.annotate(
        f"({x:.2f}, {y:.2f})",
        (x, y),
        xytext=(-8 if right else 8, 8 if up else -8),
        textcoords="offset points",
        ha="right" if right else "left",
        va="bottom" if up else "top",
        fontsize=9,
        color=MARK_COLOR,
        fontweight="bold",
        zorder=6,
        bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "alpha": 0.8, "linewidth": 0},
    )


def latent_scatter_figure(
    codes: np.ndarray,
    labels: np.ndarray | None = None,
    class_names: Sequence[str] | None = None,
    title: str = "Latent space",
    mark: tuple[float, float] | None = None,
    projection: str = "auto",
    max_points: int = 10000,
    ax: Axes | None = None,
) -> Figure:
    """Scatter latent codes coloured by class.

    d == 2 is drawn as is; d == 1 as a strip plot (one row per class, or random jitter without labels); d > 2 is
    projected with `projection` and the plot says so. At most `max_points` (t-SNE: 3000) points are drawn, a fixed
    random subset.

    Parameters
    ----------
    codes : numpy.ndarray
        float (N, d) codes.
    labels : numpy.ndarray, optional
        int (N,) class of each code.
    class_names : sequence of str, optional
        Names of the labels, for the legend.
    title : str, default "Latent space"
        The figure's title.
    mark : tuple of float, optional
        A latent point to star; only for d == 2.
    projection : str, default "auto"
        "auto" (= "pca"), "pca", "tsne" or "umap" (needs umap-learn), for d > 2.
    max_points : int, default 10000
        Most points drawn.
    ax : matplotlib.axes.Axes, optional
        Draw there and return its figure.

    Returns
    -------
    matplotlib.figure.Figure
        The scatter.

    Raises
    ------
    ValueError
        Codes not (N, d), labels of another length, a mark on codes that are not 2-D, an unknown projection.
    """
    codes = np.asarray(codes, dtype=np.float64)
    codes = codes.reshape(-1, 1) if codes.ndim == 1 else codes
    if codes.ndim != 2 or len(codes) == 0:
        raise ValueError(f"codes must have shape (N, d) with N >= 1, got {codes.shape}")
    n, d = codes.shape
    if max_points < 1:
        raise ValueError(f"max_points={max_points} is invalid: draw at least 1 point")
    if mark is not None and d != 2:
        raise ValueError(f"mark needs 2-D latent codes (it is a point in latent space); these are {d}-D")
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != (n,):
            raise ValueError(f"labels must have shape ({n},) to match codes, got {labels.shape}")
    method = _resolve_projection(projection) if d > 2 else None
    limit = max_points if method is None else min(max_points, PROJECTIONS[method][2] or max_points)
    keep = _subsample(n, limit)
    codes, labels = codes[keep], None if labels is None else labels[keep]

    if ax is None:
        ax = new_figure(7.5 if labels is not None else 6.0, 5.5).add_subplot()
    suffix = ""
    if d == 2:
        xy, axis_labels = codes, ("z[0]", "z[1]")
        ax.set_aspect("equal", adjustable="datalim")  # both axes are the same latent units
    elif d == 1:
        xy, axis_labels, suffix = _strip_positions(codes[:, 0], labels), ("z[0]", ""), " (1-D codes)"
    else:
        if len(codes) < 2:
            raise ValueError(f"projecting {d}-D codes to 2-D needs at least 2 points, got {len(codes)}")
        func, display, _ = PROJECTIONS[method]
        xy, axis_labels = func(codes)
        suffix = f" ({display} of {d}-D codes)"
    if len(keep) < n:
        suffix += f", {len(keep):,} of {n:,} points"

    _draw_points(ax, xy, labels, class_names)
    if d == 1:
        _label_strip_axis(ax, labels, class_names)
    if mark is not None:
        _draw_mark(ax, mark)
    ax.set_xlabel(axis_labels[0], fontsize=LABEL_SIZE)
    if axis_labels[1]:
        ax.set_ylabel(axis_labels[1], fontsize=LABEL_SIZE)
    ax.set_title(title + suffix, fontsize=TITLE_SIZE)
    ax.grid(True, linewidth=0.4, alpha=0.4)
    return ax.figure


def _strip_positions(z: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
    """x = the code, y = class row (or nothing) plus jitter so overlapping points stay visible."""
    jitter = np.random.default_rng(1).uniform(-0.3, 0.3, size=len(z))
    row = np.zeros(len(z)) if labels is None else np.unique(labels, return_inverse=True)[1]
    return np.column_stack([z, row + jitter])


def _label_strip_axis(ax: Axes, labels: np.ndarray | None, class_names: Sequence[str] | None) -> None:
    if labels is None:
        ax.set_yticks([])
        ax.set_ylabel("random jitter (no meaning)", fontsize=LABEL_SIZE)
        return
    classes = np.unique(labels)
    ax.set_yticks(range(len(classes)), [_class_name(c, class_names) for c in classes], fontsize=8)
    ax.invert_yaxis()  # first class on top, in the same order as the legend
    ax.set_ylabel("class (rows jittered)", fontsize=LABEL_SIZE)


def decoded_point_figure(
    image: np.ndarray,
    point: tuple[float, float],
    codes: np.ndarray,
    labels: np.ndarray | None,
    class_names: Sequence[str] | None,
    title: str | None = None,
) -> Figure:
    """The latent scatter with a point starred, next to the image decoded there.

    Parameters
    ----------
    image : numpy.ndarray
        The decoded image, (H, W) or (H, W, 3), floats in [0, 1] or uint8.
    point : tuple of float
        (x, y) in latent space.
    codes : numpy.ndarray
        float (N, 2) codes; must be 2-D.
    labels : numpy.ndarray or None
        int (N,) classes of the codes.
    class_names : sequence of str or None
        Names of the labels.
    title : str, optional
        The figure's title (default: names the point).

    Returns
    -------
    matplotlib.figure.Figure
        Scatter and image side by side.
    """
    one = np.ndim(image) == 2 or (np.ndim(image) == 3 and np.shape(image)[2] == 3)  # (h, w) or (h, w, 3)
    picture = as_unit_images(np.asarray(image)[None] if one else image, "image")[0]
    fig = new_figure(10.5 if labels is not None else 9.0, 4.8)
    scatter_ax, image_ax = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2.2, 1]})
    latent_scatter_figure(codes, labels, class_names, mark=point, ax=scatter_ax)
    show_image(image_ax, picture)
    image_ax.set_title(f"decoded at ({float(point[0]):.2f}, {float(point[1]):.2f})", fontsize=LABEL_SIZE + 1)
    if title:
        fig.suptitle(title, fontsize=TITLE_SIZE)
    return fig
