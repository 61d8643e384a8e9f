"""The model card written beside exported graphs: what the model was trained on, what it expects and gives, how
well it did (metrics.json, when the run has one), under which licence its data came, and what wrote it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from latentlab._version import __version__
from latentlab.data import ARCHIVES, BUILT, DATASETS, SAMPLES
from latentlab.models import has_prior
from latentlab.runs import CARD, Run, weights_digest

OWN_DATA = "not a latentlab data set: the licence of the data it was trained on applies"


def preprocessing(image_shape: tuple[int, ...] | list[int]) -> str:
    """What an image must be made into for the graphs, for a run of `image_shape` (channels, height, width). Only
    grey square runs are digit-like (light strokes on black); colour and oblong runs just take their own size."""
    channels, height, width = image_shape
    if channels == 1 and height == width:
        return f"uint8/255, light strokes on black, {width}x{height} as the training data"
    colour = "RGB colour" if channels == 3 else "grey" if channels == 1 else f"{channels}-channel"
    return (f"uint8/255, {colour} {width}x{height} as the training data, channels first ({channels}, {height}, "
            f"{width}); no digit-style steps (inverting, cropping, centring)")


def data_licence(name: str) -> str:
    """The licence of a registered, downloaded, bundled or built data set, or a note that the user's own data's
    applies."""
    spec = DATASETS.get(name) or ARCHIVES.get(name) or SAMPLES.get(name) or BUILT.get(name)
    return spec.licence if spec is not None and spec.licence else OWN_DATA


def model_card(run: Run, graphs: dict[str, dict[str, Any]], versions: dict[str, str]) -> dict[str, Any]:
    """The model card of a run's export: what the graphs take and give, and where the model came from.

    Parameters
    ----------
    run : Run
        The exported run.
    graphs : dict
        Each exported file's name -> its inputs and outputs (names, dtypes, shapes).
    versions : dict
        The exporting libraries' versions (latentlab's own is added).

    Returns
    -------
    dict
        JSON-ready: data set and its licence, image shape, latent size, preprocessing, the run's metrics.json if it
        has one, the graphs and the versions.
    """
    cfg, meta, model = run.config, run.meta, run.model
    dataset = meta.get("dataset") or cfg.dataset
    from latentlab.analysis.evaluate import current_metrics

    metrics = current_metrics(run)  # None for weights the run no longer has: `latentlab evaluate` measures these
    return {
        "run": run.name,
        "preset": cfg.preset or None,
        "model": {"kind": cfg.model.kind, "encoder": cfg.model.encoder if cfg.model.kind == "vae" else None,
                  "hidden": list(cfg.model.hidden), "latent_dim": model.latent_dim,
                  "codes": "the posterior mean of q(z|x)" if has_prior(model) else "the bottleneck activations",
                  "prior": "N(0, I)" if has_prior(model) else None},
        "image_shape": list(model.image_shape),
        "latent_dim": model.latent_dim,
        "preprocessing": preprocessing(model.image_shape),
        "graphs": graphs,
        "data": {"dataset": dataset, "source": meta.get("data_source"), "is_sample": meta.get("is_sample"),
                 "n_train": meta.get("n_train"), "n_test": meta.get("n_test"), "classes": meta.get("classes"),
                 "licence": data_licence(dataset)},
        "training": {"epochs": len(run.history), "status": meta.get("status"),
                     "train_time_s": meta.get("train_time_s")},
        "metrics": metrics,
        "weights_sha256": weights_digest(meta),  # a card whose weights the run no longer has is marked stale
        "versions": {"latentlab": __version__, **versions},
    }


def card_json(card: dict[str, Any]) -> str:
    return json.dumps(card, indent=2) + "\n"


def card_path(out_dir: Path) -> Path:
    return out_dir / CARD
