"""Figures: each one saves as a PNG of the promised pixel size, and the conventions hold."""

from __future__ import annotations

import functools
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest
from matplotlib.figure import Figure

from latentlab import figures
from latentlab.figures import (
    decoded_point_figure,
    denoising_figure,
    latent_grid,
    latent_scatter_figure,
    manifold_figure,
    reconstruction_figure,
    samples_figure,
    save_figure,
    training_curves_figure,
)

NAMES = ["zero", "one", "two", "three"]
rng = np.random.default_rng(0)


def _images(n: int) -> np.ndarray:
    return rng.uniform(0, 1, (n, 28, 28))


def _codes(n: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    labels = np.arange(n) % len(NAMES)
    return rng.normal(size=(n, d)) + labels[:, None], labels


def _history(epochs: int, vae: bool) -> list[dict]:
    def terms(e: int) -> dict:
        out = {"loss": 10.0 / e, "recon": 8.0 / e}
        return out | {"kl": 2.0 / e} if vae else out

    return [
        {"epoch": e, "train": terms(e), "val": terms(e + 1), "samples_per_s": 5000.0, "time_s": 1.0}
        for e in range(1, epochs + 1)
    ]


def _assert_png(fig: Figure, tmp_path, dpi: int = 200) -> np.ndarray:
    """Save, read back, and check the pixel size is figure inches x dpi."""
    path = save_figure(fig, tmp_path / "sub" / "fig.png", dpi=dpi)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = mpimg.imread(path)
    width, height = fig.get_size_inches() * dpi
    assert pixels.shape[:2] == (round(height), round(width))
    assert not list(path.parent.glob(".*.tmp")), "the temp file must be renamed away"
    return pixels


CASES = {
    "reconstruction": lambda: reconstruction_figure(_images(6), _images(6)),
    "denoising": lambda: denoising_figure(_images(5), _images(5), rng.normal(size=(5, 32)), _images(5)),
    "curves_vae": lambda: training_curves_figure(_history(5, vae=True)),
    "scatter": lambda: latent_scatter_figure(*_codes(200, 2), NAMES),
    "manifold": lambda: manifold_figure(rng.uniform(size=(4, 4, 28, 28)), *latent_grid(4)),
    "samples": lambda: samples_figure(_images(13), ncols=5),
    "decoded_point": lambda: decoded_point_figure(_images(1)[0], (-1.0, 3.0), *_codes(100, 2), NAMES),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_figure_saves_as_png_at_2x(name, tmp_path):
    _assert_png(CASES[name](), tmp_path)


def test_save_figure_honours_dpi_and_replaces_existing_file(tmp_path):
    fig = samples_figure(_images(4))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "fig.png").write_text("old")
    _assert_png(fig, tmp_path, dpi=100)


def test_figures_use_neither_pyplot_nor_torch():
    for path in Path(figures.__file__).parent.glob("*.py"):
        if path.name == "from_runs.py":  # the one module that runs models to get its arrays
            continue
        source = path.read_text()
        assert "matplotlib.pyplot" not in source and "import torch" not in source


@pytest.mark.parametrize("d", [1, 2, 16])
def test_scatter_handles_1d_2d_and_16d_codes(d, tmp_path):
    codes, labels = _codes(120, d)
    fig = latent_scatter_figure(codes, labels, NAMES)
    _assert_png(fig, tmp_path)
    ax = fig.axes[0]
    if d == 16:
        assert ax.get_xlabel().startswith("PC1") and ax.get_ylabel().startswith("PC2")
        assert "(PCA of 16-D codes)" in ax.get_title()
    elif d == 2:
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("z[0]", "z[1]")
    else:
        assert ax.get_xlabel() == "z[0]" and "class" in ax.get_ylabel()


def test_scatter_legend_shows_class_names_and_none_without_labels():
    codes, labels = _codes(80, 2)
    legend = latent_scatter_figure(codes, labels, NAMES).axes[0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == NAMES
    assert latent_scatter_figure(codes, None, None).axes[0].get_legend() is None


def test_an_unlabelled_scatter_says_it_has_no_labels_and_a_labelled_one_does_not():
    codes, labels = _codes(80, 2)
    texts = [t.get_text() for t in latent_scatter_figure(codes, None, None).axes[0].texts]
    assert texts == ["no labels: these images have no classes, so every point has one colour"]
    assert len(latent_scatter_figure(codes, labels, NAMES).axes[0].texts) == 0


def test_scatter_tsne_and_bad_projection(monkeypatch):
    import sklearn.manifold

    # The fewest iterations sklearn allows: this checks the wiring and labels, not t-SNE's quality.
    monkeypatch.setattr(sklearn.manifold, "TSNE", functools.partial(sklearn.manifold.TSNE, max_iter=250))
    codes, labels = _codes(60, 8)
    ax = latent_scatter_figure(codes, labels, NAMES, projection="tsne").axes[0]
    assert ax.get_xlabel() == "t-SNE 1" and "t-SNE of 8-D codes" in ax.get_title()
    with pytest.raises(ValueError, match="pca"):
        latent_scatter_figure(codes, labels, NAMES, projection="mds")


def test_scatter_subsamples_to_max_points():
    codes, labels = _codes(500, 2)
    ax = latent_scatter_figure(codes, labels, NAMES, max_points=100).axes[0]
    assert len(ax.collections[0].get_offsets()) == 100
    assert "100 of 500 points" in ax.get_title()


@pytest.mark.parametrize("d", [1, 3, 16])
def test_mark_needs_2d_codes(d):
    with pytest.raises(ValueError, match="2-D"):
        latent_scatter_figure(*_codes(50, d), NAMES, mark=(0.0, 0.0))


def test_mark_is_drawn_and_annotated():
    ax = latent_scatter_figure(*_codes(50, 2), NAMES, mark=(-1.0, 3.0)).axes[0]
    assert np.allclose(ax.collections[-1].get_offsets(), [[-1.0, 3.0]])
    assert any(t.get_text() == "(-1.00, 3.00)" for t in ax.texts)


@pytest.mark.parametrize("corner", [(1, 1), (0, 1), (1, 0), (0, 0)])
def test_the_marks_label_stays_inside_the_axes_at_every_edge(corner):
    # A mark at the top edge put its label over the title (the Fashion-MNIST VAE's point (-1, 3)).
    codes, labels = _codes(200, 2)
    lo, hi = codes.min(0), codes.max(0)
    mark = tuple(float(hi[i] if corner[i] else lo[i]) for i in range(2))
    fig = latent_scatter_figure(codes, labels, NAMES, mark=mark)
    ax = fig.axes[0]
    fig.draw_without_rendering()  # final limits (equal aspect) and text sizes
    label = next(t for t in ax.texts if t.get_text() == f"({mark[0]:.2f}, {mark[1]:.2f})")
    box, inside = label.get_window_extent(), ax.get_window_extent()
    assert inside.x0 <= box.x0 and box.x1 <= inside.x1 and inside.y0 <= box.y0 and box.y1 <= inside.y1, corner


def test_denoising_has_four_rows_of_n_image_axes():
    n = 7
    fig = denoising_figure(_images(n), _images(n), rng.normal(size=(n, 17)), _images(n))
    assert len(fig.axes) == 4 * n
    rows = {round(ax.get_position().y0, 3) for ax in fig.axes}
    assert len(rows) == 4
    code = fig.axes[2 * n].images[0].get_array()
    blank = np.isnan(np.ma.filled(code, np.nan))  # matplotlib masks the NaN padding
    assert code.shape == (4, 5) and blank.sum() == 3 and blank[-1, -3:].all()  # 17 padded to 20


@pytest.mark.parametrize(("d", "shape"), [(32, (4, 8)), (16, (4, 4)), (10, (2, 5)), (17, (4, 5)), (2, (1, 2))])
def test_code_grid_shape_is_near_square(d, shape):
    assert figures.code_grid_shape(d) == shape


def test_reconstruction_rows_are_labelled_and_uint8_is_accepted(tmp_path):
    originals = (_images(3) * 255).astype(np.uint8)
    fig = reconstruction_figure(originals, originals)
    assert [fig.axes[0].get_ylabel(), fig.axes[3].get_ylabel()] == ["original", "reconstructed"]
    shown = fig.axes[0].images[0].get_array()
    assert shown.max() <= 1.0 and np.allclose(shown, originals[0] / 255.0)
    _assert_png(samples_figure(originals), tmp_path)


def test_mismatched_image_counts_are_an_error():
    with pytest.raises(ValueError, match="same number"):
        reconstruction_figure(_images(3), _images(4))


@pytest.mark.parametrize(("epochs", "vae", "panels"), [(1, False, 1), (1, True, 3), (6, False, 1), (6, True, 3)])
def test_training_curves_with_and_without_kl(epochs, vae, panels, tmp_path):
    fig = training_curves_figure(_history(epochs, vae))
    assert len(fig.axes) == panels
    line = fig.axes[0].get_lines()[0]
    assert line.get_marker() == "o" and len(line.get_xdata()) == epochs
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["train", "val"]
    _assert_png(fig, tmp_path)


def test_training_curves_skip_missing_validation():
    history = _history(4, vae=False)
    history[0]["val"] = None
    del history[1]["val"]
    train, val = training_curves_figure(history).axes[0].get_lines()
    assert list(val.get_xdata()) == [3, 4] and len(train.get_xdata()) == 4
    with pytest.raises(ValueError, match="empty"):
        training_curves_figure([])


def test_latent_grid_orders_x_up_and_y_down():
    gx, gy = latent_grid(5)
    assert np.allclose(gx, [-3, -1.5, 0, 1.5, 3]) and np.allclose(gy, gx[::-1])
    gx, gy = latent_grid(3, (0.0, 1.0, 10.0, 20.0))
    assert np.allclose(gx, [0, 0.5, 1]) and np.allclose(gy, [20, 15, 10])
    with pytest.raises(ValueError):
        latent_grid(0)


def _bright_at(i: int, j: int, n: int = 3) -> np.ndarray:
    images = np.zeros((n, n, 28, 28))
    images[i, j] = 1.0
    return images


def _bright_quadrant(fig: Figure) -> tuple[int, int]:
    mosaic = fig.axes[0].images[0].get_array()
    r, c = np.unravel_index(np.argmax(mosaic), mosaic.shape)
    return r // 28, c // 28


def test_manifold_orientation_largest_y_on_top():
    gx, gy = latent_grid(3)  # gy descending: images[0, 0] is decoded at (min x, max y)
    assert _bright_quadrant(manifold_figure(_bright_at(0, 0), gx, gy)) == (0, 0)  # top-left
    # The same pairing with grid_y ascending means images[0, 0] is at min y: bottom-left after sorting.
    assert _bright_quadrant(manifold_figure(_bright_at(0, 0), gx, gy[::-1])) == (2, 0)
    ax = manifold_figure(_bright_at(0, 0), gx, gy).axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["3.0", "0.0", "-3.0"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["-3.0", "0.0", "3.0"]


def test_manifold_rejects_mismatched_grid():
    with pytest.raises(ValueError, match="shape"):
        manifold_figure(np.zeros((3, 4, 28, 28)), *latent_grid(3))


def test_decoded_point_figure_titles_the_image():
    fig = decoded_point_figure(_images(1)[0], (-1.0, 3.0), *_codes(60, 2), NAMES)
    assert fig.axes[1].get_title() == "decoded at (-1.00, 3.00)"
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == NAMES


@pytest.mark.parametrize("beta", [0.0, 1.0, 100.0])
def test_manifold_and_sample_titles_say_when_a_vae_is_not_one(beta, beta_runs, mnist_small):
    from latentlab.figures import from_runs

    run = beta_runs[beta]
    titles = [from_runs.manifold_figure(run, mnist_small, n=3).axes[0].get_title(),
              from_runs.samples_figure(run, mnist_small, n=4).get_suptitle()]
    collapsed = "(posterior collapsed: 0 of 2 latent units active)"
    zero = "(beta=0: a plain autoencoder, the prior does not match the codes)"
    for title, what in zip(titles, ["images decoded from a latent grid", "samples from the prior"], strict=True):
        first, _, note = title.partition("\n")
        assert first == f"{run.name}: {what}"
        assert note == {0.0: zero, 1.0: "", 100.0: collapsed}[beta]
    # Without images only beta can be told: beta=0 still says so, a collapse cannot be measured.
    bare = from_runs.samples_figure(run, None, n=4).get_suptitle()
    assert bare.endswith(zero) if beta == 0 else "\n" not in bare


@pytest.mark.parametrize(("preset", "unit"), [("mnist-vae", "nats per image"), ("mnist-simple", "BCE per pixel")])
def test_training_curves_of_a_real_run_name_the_loss_unit(preset, unit, bars):
    from latentlab.config import override
    from latentlab.presets import preset_config
    from latentlab.training import train

    cfg = override(preset_config(preset), {"train.epochs": 2, "train.batch_size": 128, "model.hidden": [16]})
    history = train(cfg, bars[0], bars[2], None, quiet=True).history
    assert history[-1]["units"] == unit
    labels = [ax.get_ylabel() for ax in training_curves_figure(history).axes]
    if preset == "mnist-vae":
        assert labels == [f"negative ELBO ({unit})", f"reconstruction term ({unit})", f"KL term ({unit})"]
    else:
        assert labels == [f"loss ({unit})"]


@pytest.mark.parametrize(("beta", "title"), [(1.0, "negative ELBO (nats per image)"),
                                             (4.0, "reconstruction + 4 x KL (nats per image)"),
                                             (0.25, "reconstruction + 0.25 x KL (nats per image)")])
def test_the_first_curve_panel_names_the_objective_that_beta_makes(beta, title):
    fig = training_curves_figure(_history(3, vae=True), beta=beta)
    assert fig.axes[0].get_title() == title and fig.axes[0].get_ylabel() == title


def test_beta_sweep_figure_draws_the_curve_and_one_plane_per_beta():
    from latentlab.figures.family import beta_sweep_figure

    rng = np.random.default_rng(0)
    betas = [0.25, 0.5, 1, 2, 4, 8]
    rate, distortion = [30, 20, 12, 7, 4, 2], [120, 130, 145, 160, 180, 200]
    codes = [rng.normal(0, 1, (50, 2)) for _ in betas]
    fig = beta_sweep_figure(betas, rate, distortion, codes, rng.integers(0, 3, 50), ["a", "b", "c"])
    curve = fig.axes[0]
    assert curve.get_xlabel().startswith("rate") and curve.get_ylabel().startswith("distortion")
    np.testing.assert_array_equal(curve.lines[0].get_xdata(), rate)  # sorted by beta: here already
    planes = [ax for ax in fig.axes if ax.get_title().startswith("beta=")]
    assert [ax.get_title() for ax in planes] == [f"beta={b:g}" for b in betas]
    assert sum(ax.get_legend() is not None for ax in planes) == 1  # one legend serves all planes
    assert len(beta_sweep_figure(betas, rate, distortion).axes) == 2  # the curve and its colour bar
    with pytest.raises(ValueError, match="one value per beta"):
        beta_sweep_figure(betas, rate[:3], distortion)
    with pytest.raises(ValueError, match="one \\(N, d\\) array per beta"):
        beta_sweep_figure(betas, rate, distortion, codes[:2])


def test_class_planes_figure_has_a_panel_per_class():
    from latentlab.figures.family import class_planes_figure

    images = np.random.default_rng(0).random((3, 4, 4, 28, 28))
    fig = class_planes_figure(images, ["zero", "one", "two"])
    assert [ax.get_title() for ax in fig.axes] == ["zero", "one", "two"]
    assert fig.axes[0].images[0].get_array().shape == (4 * 29 - 1, 4 * 29 - 1)
    with pytest.raises(ValueError, match="n_classes=2"):
        class_planes_figure(images, ["zero", "one"])
