"""A trained run + its data -> the seed's figures. The arrays come from `analysis.inference`, the drawing from the
array-only modules beside this one. `PLOTS` is the registry of figure kinds (`latentlab plot KIND`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure

from latentlab.analysis import inference as evaluate
from latentlab.analysis import sampling
from latentlab.analysis.ood import detector_unsupported
from latentlab.analysis.posterior import diagnose_posterior, title_note
from latentlab.config import MAX_SAMPLES, NoiseConfig
from latentlab.data import ImageData
from latentlab.data.base import class_name, empty_split_fix
from latentlab.errors import ConfigError, DatasetError, RunError, choose
from latentlab.figures import curves, grids, latent, rows
from latentlab.models import can_sample, has_prior, is_conditional
from latentlab.runs import Run
from latentlab.training.noise import noisy_images

N_SHOWN = 10  # the seed shows the first 10 test images


def class_names(run: Run, data: ImageData | None = None) -> list[str] | None:
    names = list(data.classes) if data is not None and data.classes else run.meta.get("classes")
    return list(names) if names else None


def recon_figure(run: Run, data: ImageData, n: int = N_SHOWN) -> Figure:
    x = data.x_test[:n]
    return rows.reconstruction_figure(x, evaluate.reconstruct(run.model, x),
                                         title=f"{run.name}: first {len(x)} test images and their reconstructions")


def denoise_figure(run: Run, data: ImageData, n: int = N_SHOWN, factor: float | None = None) -> Figure:
    noise = run.config.train.noise
    if noise.kind == "none":
        noise = NoiseConfig(kind="gaussian", factor=0.5)
    if factor is not None:
        noise = NoiseConfig(kind=noise.kind, factor=factor)
    x = data.x_test[:n]
    noisy = noisy_images(x, noise)
    codes = evaluate.embed(run.model, noisy)
    return rows.denoising_figure(x, noisy, codes, evaluate.reconstruct(run.model, noisy),
                                    title=f"{run.name}: {noise.kind} noise {noise.factor:g}, removed")


def curves_figure(run: Run, data: ImageData | None = None) -> Figure:
    if not run.history:  # stopped during its first epoch: a run, with a checkpoint, but no curve yet
        raise RunError(f"{run.name} has no finished epoch yet (it was stopped during its first), so it has no curves; "
                       f"train on with `latentlab train --resume {run.path}`", field="run_dir", value=str(run.path))
    return curves.training_curves_figure(run.history, title=f"{run.name}: training curves",
                                         beta=float(getattr(run.model, "beta", 1.0)))


def latent_figure(run: Run, data: ImageData, mark: tuple[float, float] | None = None, max_points: int = 10000,
                  projection: str = "auto") -> Figure:
    codes = evaluate.embed(run.model, data.x_test[:max_points])
    labels = data.y_test[:max_points] if data.y_test is not None else None
    return latent.latent_scatter_figure(codes, labels, class_names(run, data), mark=mark, projection=projection,
                                         title=f"{run.name}: test set in latent space")


def _require_2d(run: Run, what: str) -> None:
    if run.model.latent_dim != 2:
        raise ConfigError(f"{what} needs a 2-D latent space; {run.name} has {run.model.latent_dim} dimensions "
                         "(train with model.latent_dim=2, e.g. the mnist-vae preset)",
                          field="model.latent_dim", value=run.model.latent_dim)


def posterior_note(run: Run, data: ImageData | None = None) -> str:
    """"\n(posterior collapsed: 0 of 2 latent units active)" and the like for the title of a figure that decodes
    codes or prior draws, "" when the posterior is healthy. Without `data` only beta = 0 can be told."""
    if not has_prior(run.model):
        return ""
    diag = diagnose_posterior(run.model, data.x_test) if data is not None and len(data.x_test) >= 2 else None
    note = title_note(run.model, diag)
    return f"\n({note})" if note else ""


def manifold_figure(run: Run, data: ImageData | None = None, n: int = 15, extent: float = 3.0) -> Figure:
    _require_2d(run, "the manifold grid")
    grid_x, grid_y = grids.latent_grid(n, extent)
    points = np.array([(gx, gy) for gy in grid_y for gx in grid_x], dtype=np.float32)
    decoded = evaluate.decode_points(run.model, points)
    images = decoded.reshape(n, n, *decoded.shape[1:])
    return grids.manifold_figure(images, grid_x, grid_y, title=f"{run.name}: images decoded from a latent grid"
                                 + posterior_note(run, data))


def prior_samples(run: Run, n: int = 16, seed: int = 0, sampler: str = "prior", data: ImageData | None = None,
                  label: int | None = None, n_components: int = sampling.N_COMPONENTS) -> np.ndarray:
    """`n` images decoded from codes of `sampler` (`analysis.sampling.SAMPLERS`: "prior", or "gmm" fitted to the
    training codes of `data`); a conditional run draws class `label` (default: classes in turn)."""
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_SAMPLES:
        raise ConfigError(f"n={n!r} is out of range: draw 1 to {MAX_SAMPLES:,} images", field="n", value=n)
    if sampler == "prior" and not can_sample(run.model):
        raise ConfigError(f"{run.name} is not a VAE: it has no prior to sample from; sample a Gaussian mixture "
                          "fitted to its training codes instead (latentlab generate RUN --sampler gmm; in Python "
                          "sampler='gmm') or use a run with a prior (e.g. mnist-vae)", field="sampler", value="prior")
    x_train, y_train = (None, None) if data is None else (data.x_train, data.y_train)
    return sampling.generate(run.model, n, sampler=sampler, seed=seed, label=label, x_train=x_train,
                             y_train=y_train, n_components=n_components)


def samples_figure(run: Run, data: ImageData | None = None, n: int = 32, seed: int = 0, sampler: str = "prior",
                   label: int | None = None, n_components: int = sampling.N_COMPONENTS) -> Figure:
    what = "the prior" if sampler == "prior" else f"a {sampler} sampler"
    which = "" if label is None else f", class {_class_label(run, data, label)}"
    return grids.samples_figure(prior_samples(run, n, seed, sampler, data, label, n_components),
                                title=f"{run.name}: samples from {what}{which}" + posterior_note(run, data))


def _class_label(run: Run, data: ImageData | None, label: int) -> str:
    return class_name(class_names(run, data), label) or str(label)


def classes_figure(run: Run, data: ImageData | None = None, n: int = 8, seed: int = 0) -> Figure:
    """A conditional run's images class by class (rows) from the same `n` prior codes (columns): one style, every
    class. ConfigError for a run that is not conditional."""
    model = run.model
    if not is_conditional(model):
        raise ConfigError(f"{run.name} is not conditional: the classes figure needs a conditional VAE (model.kind="
                          "'cvae', e.g. the mnist-cvae preset)", field="model.kind", value=type(model).__name__)
    codes = sampling.prior_sampler(model, n, seed)
    device = evaluate.model_device(model)
    with torch.inference_mode():
        z = torch.as_tensor(codes, device=device)
        rows_ = [evaluate.to_images(model.decode(z, c)) for c in range(model.n_classes)]
    return rows.class_rows_figure(np.stack(rows_), [_class_label(run, data, c) for c in range(model.n_classes)],
                                  title=f"{run.name}: the same {n} codes (columns) decoded as each class (rows)")


def point_figure(run: Run, data: ImageData, point: tuple[float, float] = (-1.0, 3.0)) -> Figure:
    _require_2d(run, "decoding at a latent position")
    image = evaluate.decode_points(run.model, np.array([point], dtype=np.float32))[0]
    codes = evaluate.embed(run.model, data.x_test[:10000])
    labels = data.y_test[:10000] if data.y_test is not None else None
    return latent.decoded_point_figure(image, point, codes, labels, class_names(run, data),
                                        title=f"{run.name}: the image at z = ({point[0]:g}, {point[1]:g})")


def explain_figure(run: Run, data: ImageData, n_test: int = 2000, n_ood: int = 200) -> Figure:
    """Explanations, one row each, of the most and the least typical of the first `n_test` test images by the run's
    default detector (saved beside the run, else fitted and saved), and of the most novel image of each
    out-of-distribution set (`ood.ood_sets` of the first `n_ood` test images)."""
    from latentlab.analysis.novelty import detector_for_run, fitted_labels
    from latentlab.analysis.ood import ood_sets
    from latentlab.figures.maps import explanations_figure

    det = detector_for_run(run, data, same_data=False)
    x = data.x_test[:n_test]
    scores = det.score_samples(x)
    picks = [("most typical\ntest image", x[int(np.argmax(scores))]),
             ("least typical\ntest image", x[int(np.argmin(scores))])]
    for name, images in ood_sets(data.x_test[:n_ood]).items():
        picks.append((f"most novel:\n{name}", images[int(np.argmin(det.score_samples(images)))]))
    names = class_names(run, data)
    rows = []
    labels = fitted_labels(det, data)
    for (title, _), e in zip(picks, det.explain(np.stack([p[1] for p in picks]), labels=labels), strict=True):
        near = e.neighbours.get("pixel-knn", {"distance": [], "label": None})
        labels = near["label"] or [None] * len(e.nearest_images)
        rows.append({"title": f"{title}\n{'in' if e.member else 'OUT'}, score {e.score:.1f}", "image": e.image,
                     "reconstruction": e.reconstruction, "map": e.map2d(), "neighbours": e.nearest_images,
                     "distances": near["distance"], "labels": [None if v is None else names[v] if names else v
                                                                for v in labels]})
    return explanations_figure(rows, title=f"{run.name}: why typical, why novel (threshold {det.offset_:.1f})")


PLOTS: dict[str, Callable[..., Figure]] = {
    "recon": recon_figure,
    "denoise": denoise_figure,
    "curves": curves_figure,
    "latent": latent_figure,
    "manifold": manifold_figure,
    "samples": samples_figure,
    "point": point_figure,
    "classes": classes_figure,
    "explain": explain_figure,
}


def figures_for(run: Run) -> list[str]:
    """The figures that make sense for this run, in report order."""
    kinds = ["recon"]
    if run.config.train.noise.kind != "none":
        kinds.append("denoise")
    kinds += ["curves", "latent"]
    if has_prior(run.model) and run.model.latent_dim == 2:
        kinds += ["manifold", "samples", "point"]
    elif can_sample(run.model) and not has_prior(run.model):  # VQ-VAE, WAE (VAE reports stay as they were)
        kinds.append("samples")
    if is_conditional(run.model):
        kinds.append("classes")
    if not detector_unsupported(tuple(run.model.image_shape)):
        kinds.append("explain")
    return kinds


#: The figures drawn from the test split; the others need no images at all.
FROM_TEST = ("recon", "denoise", "latent", "point", "explain")


def make(kind: str, run: Run, data: ImageData, **options: Any) -> Figure:
    """The figure `kind` of `run` on `data`; DatasetError up front for a figure of test images when `data` has none."""
    fn = choose(PLOTS, kind, "kind", problem=f"unknown figure {kind!r}")
    if kind in FROM_TEST and not len(data.x_test):
        others = [k for k in PLOTS if k not in FROM_TEST]
        raise DatasetError(f"the {kind} figure shows test images and {data.name} has none (its test split is "
                           f"empty); the figures {', '.join(others)} need none. To draw it, "
                           f"{empty_split_fix(data)}", field="dataset", value=data.name)
    if kind == "latent" and run.model.latent_dim > 2 and len(data.x_test) < 2:
        raise DatasetError(f"the latent figure of a {run.model.latent_dim}-D model projects the test codes to 2-D, "
                           f"which needs 2 or more test images, and {data.name} has {len(data.x_test)}; give it "
                           "more test images, or plot a 2-D model (e.g. mnist-vae)", field="dataset", value=data.name)
    return fn(run, data, **options)
