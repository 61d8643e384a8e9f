"""The report's VAE-family section (`latentlab report --presets family`): train or reuse each member of the family
on one data set, measure them side by side (test NLL by importance sampling, ELBO, KL, active units,
classifier-FID of prior and mixture samples) and draw the beta sweep and the samples.

Its own section, never part of the default report: the full profile keeps its time budget. Members whose model
kind is not in `latentlab.models.MODELS` are listed as skipped, not failed.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from latentlab.analysis import inference
from latentlab.analysis.evaluate import codebook_metrics
from latentlab.analysis.likelihood import estimate_nll
from latentlab.analysis.sample_quality import N_SAMPLES, class_agreement, classifier_fid, classifier_for
from latentlab.analysis.sampling import SAMPLERS
from latentlab.config import override
from latentlab.data import ImageData
from latentlab.errors import ConfigError, LatentlabError
from latentlab.figures import family as family_figures
from latentlab.figures import grids, save_figure
from latentlab.files import atomic_write_text
from latentlab.models import MODELS, is_conditional
from latentlab.presets import preset_config
from latentlab.runs import Run, load_run
from latentlab.training.reuse import ensure_run

FAMILY = "family"  # the name `--presets` takes
FAMILY_DATA = "mnist"  # its bundled sample when the full set is not here
BETAS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
EPOCHS = {"quick": 5, "full": 30}
# NLL: K importance samples on the first N test images. The issue asks K=1000 on at least 1,000 images; the quick
# profile uses the report's --iwae-k (default 100) instead of 1000 to stay quick, and says so in the table.
NLL_IMAGES = 1000
NLL_K_FULL = 1000


@dataclass(frozen=True)
class Member:
    """One model of the family: a `label`, its model kind and the config fields it sets on the 2-D VAE preset."""

    label: str
    kind: str
    fields: dict[str, Any] = field(default_factory=dict)
    about: str = ""


MEMBERS = (
    Member("vae-16d", "vae", {"model.latent_dim": 16}, "the VAE (Kingma & Welling 2014), 16-D"),
    Member("iwae-5", "iwae", {"model.latent_dim": 16, "model.iwae_samples": 5}, "IWAE, K=5 (Burda et al. 2016)"),
    Member("iwae-50", "iwae", {"model.latent_dim": 16, "model.iwae_samples": 50}, "IWAE, K=50"),
    Member("vamp", "vamp", {"model.latent_dim": 16}, "VampPrior (Tomczak & Welling 2018)"),
    Member("vqvae", "vqvae", {"model.latent_dim": 16}, "VQ-VAE (van den Oord et al. 2017): no likelihood bound"),
    Member("wae", "wae", {"model.latent_dim": 16}, "WAE-MMD (Tolstikhin et al. 2018): no likelihood bound"),
    Member("cvae", "cvae", {"model.latent_dim": 2}, "conditional VAE (Sohn et al. 2015), 2-D"),
)


SWEEP = "beta-sweep"  # the part `--presets family:...` names for the beta sweep (its beta=1 VAE is "vae-2d")
PARTS = (SWEEP, *(m.label for m in MEMBERS))


def family_parts(presets: list[str] | None) -> tuple[list[str] | None, tuple[str, ...] | None]:
    """Split the report's `--presets` into the other entries and the family's parts: "family" is all of them,
    "family:vae-16d,iwae-50" only those (from `PARTS`); None where the family is not named.

    Raises
    ------
    ConfigError
        A part that is not in `PARTS`.
    """
    if not presets:
        return presets, None
    rest, parts = [], None
    for entry in presets:
        name, _, listed = entry.partition(":")
        if name != FAMILY:
            rest.append(entry)
            continue
        chosen = [p for p in listed.split(",") if p] or list(PARTS)
        unknown = sorted(set(chosen) - set(PARTS))
        if unknown:
            raise ConfigError(f"presets={entry!r}: {', '.join(unknown)} is not a part of the family; choose from "
                              f"{', '.join(PARTS)} (e.g. family:vae-16d,iwae-50), or name the whole family")
        parts = tuple(dict.fromkeys([*(parts or ()), *chosen]))
    return rest + [FAMILY] if parts else rest, parts


def beta_label(beta: float) -> str:
    return f"beta-{beta:g}"


def member_config(label: str, kind: str, fields: dict[str, Any], profile: str, data: ImageData):
    """The run config of a member: the 2-D VAE preset (784-512-z, batch 128) with `fields`, `EPOCHS[profile]`."""
    cfg = preset_config("mnist-vae", profile)
    return override(cfg, {"name": f"family-{label}", "preset": "mnist-vae", "dataset": data.ref,
                          "model.kind": kind, "train.epochs": EPOCHS[profile], **fields})


def family_section(data: ImageData, fallback: str | None, out: Path, profile: str = "quick", iwae_k: int = 100,
                   n_samples: int = N_SAMPLES, progress: bool = True,
                   classifier_cache: Path | None = None, overrides: dict[str, Any] | None = None,
                   parts: tuple[str, ...] = PARTS) -> dict[str, Any]:
    """Train or reuse the family on `data` under `out`/runs, measure and draw them into `out`; returns the rows, the
    beta sweep, the classifier's accuracy and the figures (kind, path), also written to `out`/family.json.
    `overrides` (the report's --set and --epochs) apply to every member after its own fields; `parts` (of `PARTS`)
    are the members to run, the beta sweep among them."""
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    classifier = classifier_for(data, cache=classifier_cache, progress=progress)
    k = NLL_K_FULL if profile == "full" else iwae_k
    rows, skipped, figures = [], [], []
    sweep = {"beta": [], "rate": [], "distortion": [], "codes": []}
    for beta in BETAS if SWEEP in parts else ():
        run = _ensure(beta_label(beta), "vae", {"model.beta": beta, **(overrides or {})}, profile, data, out,
                      progress)
        terms = inference.per_image(run.model, data.x_test)
        sweep["beta"].append(beta)
        sweep["rate"].append(float(terms["kl"].mean()))
        sweep["distortion"].append(float(terms["recon"].mean()))
        sweep["codes"].append(terms["code"][:2000])
        if beta == 1.0:
            rows.append(_measure(run, "vae-2d", "the VAE, 2-D (the seed's 784-512-2)", data, classifier, k,
                                 n_samples))
    if sweep["beta"]:
        fig = family_figures.beta_sweep_figure(sweep["beta"], sweep["rate"], sweep["distortion"], sweep["codes"],
                                               data.y_test[:2000], data.classes,
                                               title=f"beta-VAE on {data.name}: rate against distortion (test set)")
        figures.append(("beta-sweep", save_figure(fig, out / "family-beta-sweep.png")))
    for m in MEMBERS:
        if m.label not in parts:
            continue
        if m.kind not in MODELS:
            skipped.append({"label": m.label, "kind": m.kind, "why": f"model kind {m.kind!r} is not in this build"})
            continue
        try:
            run = _ensure(m.label, m.kind, {**m.fields, **(overrides or {})}, profile, data, out, progress)
            rows.append(_measure(run, m.label, m.about, data, classifier, k, n_samples))
        except LatentlabError as exc:  # one member failing leaves the others' rows, as the report's sections do
            skipped.append({"label": m.label, "kind": m.kind, "why": f"failed: {exc}"})
            continue
        if is_conditional(run.model) and run.model.latent_dim == 2:
            fig = family_figures.class_planes_figure(class_planes(run, len(data.classes)), data.classes,
                                                     title=f"{m.label}: one latent grid, decoded for each class")
            figures.append(("class-planes", save_figure(fig, out / f"family-class-planes-{m.label}.png")))
        figures.append((f"samples-{m.label}", save_figure(_samples_figure(run, m.label, data),
                                                            out / f"family-samples-{m.label}.png")))
    result = {"dataset": data.name, "source": data.source, "fallback": fallback, "profile": profile,
              "classifier": {"test_accuracy": classifier.test_accuracy, "how": classifier.how,
                             "path": str(classifier.path)},
              "nll": {"k": k, "images": min(NLL_IMAGES, len(data.x_test))}, "n_samples": n_samples,
              "parts": list(parts),
              "rows": rows, "skipped": skipped,
              "beta_sweep": {k_: v for k_, v in sweep.items() if k_ != "codes"},
              "figures": [(kind, str(p)) for kind, p in figures], "wall_s": time.perf_counter() - started}
    atomic_write_text(out / "family.json", json.dumps(result, indent=2, allow_nan=False, default=_plain) + "\n")
    return {**result, "figures": figures}


def _ensure(label: str, kind: str, fields: dict[str, Any], profile: str, data: ImageData, out: Path,
            progress: bool) -> Run:
    cfg = member_config(label, kind, fields, profile, data)
    run_dir = out / "runs" / label
    if progress:
        print(f"[{FAMILY}] {label} ({kind}) on {data.name}", file=sys.stderr, flush=True)
    ensure_run(cfg, run_dir, data, progress)
    return load_run(run_dir)


def _measure(run: Run, label: str, about: str, data: ImageData, classifier, k: int, n_samples: int
             ) -> dict[str, Any]:
    """One row of the family table (nats per image throughout; None where the model has no such term): the NLL, ELBO,
    KL and active units of `analysis.likelihood.estimate_nll` on the first NLL_IMAGES test images, the
    reconstruction at the code on the whole test split, classifier-FID per sampler and a VQ-VAE's codebook use."""
    model = run.model
    est = estimate_nll(model, data.x_test, k=k, n_images=NLL_IMAGES)
    row: dict[str, Any] = {"label": label, "kind": run.config.model.kind, "about": about,
                           "latent_dim": model.latent_dim, "epochs": len(run.history),
                           "train_s": run.meta.get("train_time_s"),
                           "recon_at_code": float(inference.per_image(model, data.x_test)["nll"].mean()),
                           **{key: est.get(key) for key in ("nll", "nll_sem", "elbo", "kl", "active_units")},
                           "no_bound": est.get("no_bound") or ""}
    if hasattr(model, "quantize"):  # a VQ-VAE: its codebook use on the test split, as metrics.json gives it
        row["codebook"] = codebook_metrics(model, data.x_test)
    for sampler in SAMPLERS:
        images = sampler_images(run, data, sampler, n_samples)
        row[f"fid_{sampler}"] = None if images is None else classifier_fid(classifier, images, data.x_test)
    if is_conditional(model):
        labels = np.arange(n_samples) % len(data.classes)
        row["class_agreement"] = class_agreement(classifier, class_samples(run, labels), labels)
    return row


@torch.inference_mode()
def class_samples(run: Run, labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """Images in [0, 1] from a conditional model, one per label of `labels` (N,), decoded from prior draws."""
    model = run.model.eval()
    g = torch.Generator().manual_seed(seed)
    parts = [model.sample(len(y), g, y=y) for y in torch.as_tensor(labels, dtype=torch.long).split(4096)]
    return inference.to_images(torch.cat(parts))


@torch.inference_mode()
def class_planes(run: Run, n_classes: int, n: int = 7, extent: float = 2.5) -> np.ndarray:
    """A conditional 2-D model's latent grid (n x n over [-extent, extent]^2, larger y higher) decoded once per
    class: (n_classes, n, n, H, W) in [0, 1]."""
    model = run.model.eval()
    axis = np.linspace(-extent, extent, n, dtype=np.float32)
    z = torch.as_tensor(np.array([(gx, gy) for gy in axis[::-1] for gx in axis], np.float32))
    out = [inference.to_images(model.decode(z, c)).reshape(n, n, *model.image_shape[1:]) for c in range(n_classes)]
    return np.stack(out)


def sampler_images(run: Run, data: ImageData, sampler: str, n: int, seed: int = 0) -> np.ndarray | None:
    """`n` images in [0, 1] decoded from the codes of `analysis.sampling.SAMPLERS[sampler]` ("prior": the model's
    prior; "gmm": a Gaussian mixture fitted to the training codes), None where the sampler does not apply (no
    prior). A conditional model decodes them for the classes in turn. Unlike `generate`, not capped at 1,024."""
    model = run.model.eval()
    try:
        z = SAMPLERS[sampler](model, n, seed=seed, x_train=data.x_train, y_train=data.y_train)
    except ConfigError:
        return None
    if not is_conditional(model):
        return inference.decode_points(model, z)
    y = torch.arange(n) % model.n_classes
    with torch.inference_mode():
        parts = [model.decode(zb, yb) for zb, yb in zip(torch.as_tensor(z).split(4096), y.split(4096), strict=True)]
    return inference.to_images(torch.cat(parts))


def _samples_figure(run: Run, label: str, data: ImageData, n: int = 16):
    parts = [(s, sampler_images(run, data, s, n, seed=1)) for s in SAMPLERS]
    parts = [(s, im) for s, im in parts if im is not None]
    if not parts:
        images, title = inference.reconstruct(run.model, data.x_test[:n]), f"{label}: test reconstructions"
    else:
        images = np.concatenate([im for _, im in parts])
        title = f"{label}: " + ", then ".join(f"{n} {s} samples" for s, _ in parts)
    return grids.samples_figure(images, title=title, ncols=8)


def _plain(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")
