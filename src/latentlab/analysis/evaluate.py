"""metrics.json: everything measured about one trained run on its data set's test split.

Sections: "reconstruction" (all models), "denoising" (denoising runs and all plain autoencoders), "vae" (ELBO
terms, an importance-weighted log-likelihood and the posterior diagnostics of `analysis.posterior`: KL and
posterior-mean variance per latent dimension, active units and plain-words warnings of collapse or beta = 0),
"likelihood" (`analysis.likelihood`: the importance-sampled test NLL when asked for, or why the model has no bound),
"codebook" (a VQ-VAE's codebook usage and perplexity), "latent" (k-NN accuracy and silhouette of the codes) and
"membership" (how well each novelty score separates the test split from out-of-distribution sets;
"membership_skipped" says why instead, when the novelty detector does not take the run's image shape).
Every number is a plain float; one that is not finite is written as null.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.metrics import silhouette_score
from sklearn.neighbors import KNeighborsClassifier

from latentlab._version import __version__
from latentlab.analysis.inference import (
    batches,
    embed,
    iwae_log_likelihood,
    per_image,
    reconstruct,
    to_float,
)
from latentlab.analysis.likelihood import NLL_IMAGES, estimate_nll, no_bound
from latentlab.analysis.novelty import detector_for_run, valid_scores
from latentlab.analysis.ood import detector_unsupported, membership_table, ood_sets
from latentlab.analysis.posterior import beta_warnings, diagnose_posterior
from latentlab.analysis.quality import psnr, ssim
from latentlab.analysis.statistics import require_finite
from latentlab.config import NoiseConfig
from latentlab.data import DatasetError, ImageData, load_dataset
from latentlab.data.base import empty_split_fix
from latentlab.errors import ConfigError
from latentlab.files import atomic_write_text
from latentlab.memory import release_memory
from latentlab.models import has_prior
from latentlab.progress import say
from latentlab.runs import Run, is_current, weights_digest
from latentlab.training.noise import noisy_images

METRICS = "metrics.json"
NOISE_FACTORS = (0.25, 0.5, 0.75)
KNN_K = 5
SILHOUETTE_MAX = 5000
SEED = 0
# The out-of-distribution dataset for a run: the other of the two, full if it is on disk, else its sample.
OTHER_DATASET = {"mnist": "fashion-mnist", "fashion-mnist": "mnist"}


def values(model: torch.nn.Module) -> int:
    """Values per image, C x H x W (784 for MNIST): what "per pixel" and "bits per dimension" divide by."""
    return math.prod(model.image_shape)


def _num(value: Any) -> float | None:
    v = float(value)
    return v if math.isfinite(v) else None


@contextmanager
def _timed(timings: dict[str, float], stage: str, progress: bool) -> Iterator[None]:
    say(progress, f"metrics: {stage} ...")
    start = time.perf_counter()
    yield
    timings[stage] = round(time.perf_counter() - start, 3)
    # Each stage's freed heap stays resident in glibc unless handed back, and the next stage's peak then starts
    # from it: in a full report at full MNIST size mnist-deep's reconstruction metrics began at 700 MiB and ended
    # at 1,003 with nothing kept, and its denoising metrics peaked at 1,145. release_memory takes milliseconds.
    release_memory()


def compute_metrics(run: Run, data: ImageData, *, iwae_k: int = 100, membership: bool = True,
                    progress: bool = True, nll_k: int | None = None, nll_images: int = NLL_IMAGES) -> dict[str, Any]:
    """Measure a run on its data set's test split: what metrics.json holds (see the module's doc).

    Parameters
    ----------
    run : Run
        A loaded run.
    data : ImageData
        Normally the run's own data set (`load_run_data`).
    iwae_k : int, default 100
        Importance samples per image for a VAE's IWAE bound.
    membership : bool, default True
        Also fit the novelty detectors and score out-of-distribution sets (the slow part).
    progress : bool, default True
        Progress bars on stderr.
    nll_k : int, optional
        With it, "likelihood" holds `analysis.likelihood.estimate_nll` with K = `nll_k` importance samples per
        image; without, only what a model lacking a likelihood says (its reason) or None.
    nll_images : int, default NLL_IMAGES
        The test images of that estimate: the first `nll_images`.

    Returns
    -------
    dict
        JSON-ready sections "reconstruction", "denoising", "vae", "latent", "membership", "likelihood"; non-finite
        numbers as None.

    Raises
    ------
    DatasetError
        The data set has no test images.
    ConfigError
        `iwae_k` below 1 (runs of a VAE).
    """
    model, cfg = run.model, run.config
    if not len(data.x_test):
        raise DatasetError(f"{data.name} has no test images (its test split is empty), and every number in "
                           f"metrics.json is measured on held-out images: {empty_split_fix(data)}",
                           field="dataset", value=data.name)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    out: dict[str, Any] = {
        "run": run.name, "preset": cfg.preset, "dataset": data.name, "data_source": data.source,
        "is_sample": bool(data.is_sample), "n_train": len(data.x_train), "n_test": len(data.x_test),
        "model": {"kind": cfg.model.kind, "variational": has_prior(model), "latent_dim": model.latent_dim},
        "created": datetime.now(UTC).isoformat(timespec="seconds"), "latentlab": __version__,
        "weights_sha256": weights_digest(run.meta),  # which weights these numbers are of (`runs.is_current`)
    }
    with _timed(timings, "reconstruction", progress):
        out["reconstruction"] = reconstruction_metrics(model, data.x_test)
    out["denoising"] = None
    if cfg.train.noise.kind != "none" or not has_prior(model):
        with _timed(timings, "denoising", progress):
            out["denoising"] = denoising_metrics(model, data.x_test)
    out["vae"] = None
    if has_prior(model):
        with _timed(timings, "vae", progress):
            out["vae"] = vae_metrics(model, data.x_test, iwae_k)
    out["likelihood"] = {"no_bound": no_bound(model)} if no_bound(model) else None
    if nll_k is not None:
        with _timed(timings, "likelihood", progress):
            out["likelihood"] = estimate_nll(model, data.x_test, k=nll_k, n_images=nll_images)
    if hasattr(model, "quantize"):
        with _timed(timings, "codebook", progress):
            out["codebook"] = codebook_metrics(model, data.x_test)
    with _timed(timings, "latent", progress):
        out["latent"] = latent_metrics(model, data)
    out["membership"] = None
    skipped = detector_unsupported(model.image_shape) if membership else ""
    if skipped:
        out["membership_skipped"] = skipped  # said, not hidden: the section is missing for a reason
    elif membership:
        with _timed(timings, "membership", progress):
            try:
                out["membership"] = membership_metrics(run, data)
            except ConfigError as exc:  # too few training images to fit a detector on: said, not fatal
                # The detector's own advice names its Python arguments; what a run's owner can do is give more.
                out["membership_skipped"] = (f"the novelty detectors could not be fitted on the "
                                             f"{len(data.x_train):,} training images ({exc.problem}); "
                                             "train the run on more images to measure membership")
    timings["total"] = round(time.perf_counter() - start, 3)
    out["timings_s"] = timings
    return out


def reconstruction_metrics(model: torch.nn.Module, x: np.ndarray) -> dict[str, Any]:
    """Test-set reconstruction: BCE and MSE per pixel (per value: C x H x W of them per image), mean PSNR (dB) and
    SSIM of the decoded codes (colour: per channel, averaged)."""
    scores = require_finite(per_image(model, x))
    rec = reconstruct(model, x)
    return {"bce_per_pixel": _num(scores["bce"].mean() / values(model)), "mse_per_pixel": _num(scores["mse"].mean()),
            "psnr_db": _num(psnr(x, rec).mean()), "ssim": _num(ssim(x, rec).mean())}


def denoising_metrics(model: torch.nn.Module, x: np.ndarray) -> dict[str, Any]:
    """PSNR and SSIM against the clean images, of the noisy inputs and of the model's output, per noise level."""
    to_float(x[:0], model.image_shape)  # images of another shape are refused before any work
    levels = {}
    for factor in NOISE_FACTORS:
        # The same noise for every run (seed SEED), so runs compare; the noisy input as the figures and the web
        # page make it (uint8).
        noisy = noisy_images(x, NoiseConfig(kind="gaussian", factor=factor), SEED)
        denoised = reconstruct(model, noisy)
        levels[str(factor)] = {
            "noisy_psnr_db": _num(psnr(x, noisy).mean()), "noisy_ssim": _num(ssim(x, noisy).mean()),
            "denoised_psnr_db": _num(psnr(x, denoised).mean()), "denoised_ssim": _num(ssim(x, denoised).mean()),
        }
    return {"noise": "gaussian", "levels": levels}


def vae_metrics(model: torch.nn.Module, x: np.ndarray, iwae_k: int) -> dict[str, Any]:
    """Test ELBO and its terms (nats per image, one z per image from a fixed seed), the IWAE bound and the
    posterior diagnostics over the whole test split (KL per dimension in nats, posterior-mean variance, active
    units, warnings)."""
    scores = per_image(model, x)
    ll = iwae_log_likelihood(model, x, k=iwae_k)
    diag = diagnose_posterior(model, x, max_images=len(x)) if len(x) >= 2 else None  # a variance needs two
    posterior = {} if diag is None else {
        "active_units": diag.active_units, "kl_per_dim": [_num(v) for v in diag.kl_per_dim],
        "posterior_mean_variance": [_num(v) for v in diag.posterior_mean_variance],
        "posterior_collapsed": diag.collapsed, "warnings": list(diag.warnings)}
    return {"elbo": _num(-scores["neg_elbo"].mean()), "neg_elbo": _num(scores["neg_elbo"].mean()),
            "recon": _num(scores["recon"].mean()), "kl": _num(scores["kl"].mean()),
            "iwae_log_likelihood": _num(ll.mean()), "iwae_k": iwae_k,
            "iwae_bits_per_dim": _num(-ll.mean() / (values(model) * math.log(2))),
            "beta": float(getattr(model, "beta", 1.0)), "latent_dim": model.latent_dim, "active_units": None,
            "kl_per_dim": None, "posterior_mean_variance": None, "posterior_collapsed": None,
            "warnings": beta_warnings(model), **posterior}


def codebook_metrics(model: torch.nn.Module, x: np.ndarray) -> dict[str, Any]:
    """A quantising model's (VQ-VAE's) use of its codebook on images `x`: "usage" the share of entries picked at
    least once, "perplexity" exp(entropy) of the picks, the number of entries in effective use."""
    counts = np.zeros(model.codebook_size)
    model.eval()
    with torch.inference_mode():
        for xb in batches(model, x):
            idx = model.quantize(model.encode_continuous(xb))[1]
            counts += np.bincount(idx.flatten().cpu().numpy(), minlength=model.codebook_size)
    p = counts / max(counts.sum(), 1)
    entropy = -float((p[p > 0] * np.log(p[p > 0])).sum())
    return {"codebook_size": int(model.codebook_size), "usage": _num((counts > 0).mean()),
            "perplexity": _num(math.exp(entropy))}


def latent_metrics(model: torch.nn.Module, data: ImageData) -> dict[str, Any]:
    """k-NN (k=5) accuracy from train codes to test codes and the silhouette of the test codes by class."""
    if data.y_train is None or data.y_test is None:
        return {"knn_k": KNN_K, "knn_accuracy": None, "silhouette": None, "silhouette_n": 0,
                "note": "the dataset has no labels"}
    train_codes, test_codes = embed(model, data.x_train), embed(model, data.x_test)
    knn = KNeighborsClassifier(n_neighbors=min(KNN_K, len(train_codes))).fit(train_codes, data.y_train)
    accuracy = float((knn.predict(test_codes) == data.y_test).mean())
    rng = np.random.default_rng(SEED)
    pick = rng.permutation(len(test_codes))[:SILHOUETTE_MAX]
    labels = data.y_test[pick]
    # Silhouette is defined for 2 <= classes <= samples - 1 only.
    sil = silhouette_score(test_codes[pick], labels) if 2 <= len(np.unique(labels)) < len(pick) else math.nan
    return {"knn_k": KNN_K, "knn_accuracy": accuracy, "silhouette": _num(sil), "silhouette_n": len(pick)}


def other_dataset(name: str) -> ImageData | None:
    """The contrasting dataset of `name` (MNIST <-> Fashion-MNIST, samples included), full when it is on
    disk and its bundled sample otherwise; never downloads. None for other datasets."""
    base = name.removesuffix("-sample")
    other = OTHER_DATASET.get(base)
    if other is None:
        return None
    for candidate in (other, f"{other}-sample"):
        try:
            return load_dataset(candidate, download=False, progress=False)
        except DatasetError:
            continue
    return None


def membership_metrics(run: Run, data: ImageData) -> dict[str, Any]:
    """AUROC, AUPR and FPR at 95% TPR of every applicable novelty score (combined first), test split vs each
    out-of-distribution set; the detectors are fitted on the training split (or reused) and saved in the run."""
    other = other_dataset(data.name)
    if other is not None and other.x_test.shape[1:] != data.x_test.shape[1:]:
        other = None  # the run was trained at another size or colour (--image-size, --grayscale): not comparable
    other_name, other_source = (other.name, other.source) if other is not None else (None, None)
    sets = ood_sets(data.x_test, {other.name: other.x_test} if other is not None else {}, seed=SEED)
    del other  # its training split, 45 MiB at full size, is not scored
    rows, target_fpr = [], None
    # One detector at a time, fitted then scored: the eight alive together held ~350 MiB of the 1,036 MiB resident
    # while the Fashion-VAE's sets were scored. What they compute of a set in common (the model's pass, the pixel
    # views) is made once, kept by content in the detector's memo: mnist-sample VAE 20.6 -> 11.2 s, the rows the same.
    for score in valid_scores(run.model):
        detector = detector_for_run(run, data, score)
        target_fpr = detector.target_fpr if score == "combined" else target_fpr
        rows += membership_table({score: detector}, data.x_test, sets)
        del detector
        release_memory()  # each detector's fit and scoring leave freed heap, as the metric stages do
    for row in rows:
        row.update({k: _num(v) for k, v in row.items() if isinstance(v, float)})
    return {
        "positive": "in-distribution test images (aupr_in); aupr_out takes the out-of-distribution set as positive",
        "target_fpr": target_fpr,
        "other_dataset": other_name,
        "other_source": other_source,
        "sets": {name: len(x) for name, x in sets.items()},
        "rows": rows,
    }


def current_metrics(run: Run) -> dict[str, Any] | None:
    """The run's metrics.json if it is there, readable, and measured on the weights the run has now
    (`runs.is_current`); else None: numbers of other weights (a run resumed or retrained since) are never shown or
    reused as this run's, and a damaged file is measured again rather than taking a page down."""
    try:
        metrics = json.loads((run.path / METRICS).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return metrics if isinstance(metrics, dict) and is_current(metrics, run.meta) else None


def write_metrics(run_dir: str | Path, metrics: dict[str, Any]) -> Path:
    """Write metrics to the run's metrics.json, atomically.

    Parameters
    ----------
    run_dir : str or Path
        The run directory.
    metrics : dict
        As `compute_metrics` returns it.

    Returns
    -------
    Path
        run_dir/metrics.json.
    """
    path = Path(run_dir) / METRICS
    atomic_write_text(path, json.dumps(metrics, indent=2, allow_nan=False) + "\n")
    return path
