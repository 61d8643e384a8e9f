"""`localise(dataset, ...)`: does an anomaly map point at what is wrong? Synthetic defects (`defects`) on test images
of any data set, measured the way industrial inspection measures maps (pixel-level AUROC and AUPRO, `pixel_metrics`)
and the default detector's image-level AUROC for defective against clean test images, beside that of the default
map's peak (anomalib's image score: the maximum of the anomaly map).

A model of the preset is trained on the whole training split (or a `run`'s model is used), the default detector
fitted on the same images; `n_clean` clean test images and `per_cell` defective ones per kind and size (other test
images) are scored. Pixel measures pool each kind's defective images with all the clean ones (their pixels all
negatives), as anomalib does. Published numbers (PatchCore on MVTec AD) are quoted beside, as a reference for the
scale of the measures only: another data set, real defects, photographs.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from latentlab.benchmark import STEPS
from latentlab.benchmark.defects import KINDS, SIZES, Defects, make_defects
from latentlab.benchmark.pixel_metrics import FPR_LIMIT, aupro, pixel_auroc
from latentlab.data import ImageData, load_dataset
from latentlab.errors import ConfigError, choose
from latentlab.files import atomic_write_text

FORMAT = 1

MIN_SHARE = 0.05  # image-level AUROC is also given for defects covering at least this share of the object
REFERENCE = [{
    "method": "PatchCore ensemble (WRN-101, ResNeXt-101, DenseNet-201)", "dataset": "MVTec AD: real defects on "
    "photographs of 15 object and texture categories", "image_auroc": 99.6, "pixel_auroc": 98.2,
    "aupro": 94.9, "source": "Roth et al., Towards Total Recall in Industrial Anomaly Detection, CVPR 2022 "
    "(arXiv:2106.08265); the numbers from the authors' repository README (amazon-science/patchcore-inspection, "
    "'Expected performance of pretrained models'), which says they may deviate slightly from the paper's"}]


def localise(dataset: str | Path | ImageData, preset: str | None = None, steps: int = STEPS, run: str | Path | None
             = None, kinds: tuple[str, ...] = tuple(KINDS), sizes: tuple[str, ...] = tuple(SIZES), per_cell: int = 50,
             n_clean: int = 500, seed: int = 0, out: str | Path | None = None, data_dir: str | Path | None = None,
             progress: bool = True, command: str = "") -> dict[str, Any]:
    """Run the localisation benchmark on `dataset`; returns plain data, and with `out` writes localise-<data>.json,
    .md and .png (examples) there. `run` (a run directory trained on images of this shape) replaces training the
    `preset` (default: the one-class benchmark's for the data set's family) for `steps` optimizer steps.
    Raises ConfigError for bad counts, ValueError for unknown kinds or sizes."""
    from latentlab.analysis.novelty import DEFAULT_MAP, NoveltyDetector

    started = time.perf_counter()
    for name, value in (("per_cell", per_cell), ("n_clean", n_clean), ("steps", steps)):
        if not (isinstance(value, int) and value >= 1):
            raise ConfigError(f"{name}={value!r} is invalid: an integer >= 1", field=name, value=value)
    data = dataset if isinstance(dataset, ImageData) else load_dataset(str(dataset), data_dir=data_dir,
                                                                       progress=progress)
    model, what = _model(data, preset, steps, run, seed)
    rng = np.random.default_rng(seed)
    clean_rows = np.sort(rng.permutation(len(data.x_test))[:n_clean])
    defects = make_defects(data.x_test, data.y_test, kinds, sizes, per_cell, seed, exclude=clean_rows)
    clean = data.x_test[clean_rows]
    detector = NoveltyDetector(model).fit(data.x_train)
    maps_clean, maps_bad = (_maps(detector, model, x) for x in (clean, defects.images))
    scores_clean, scores_bad = detector.score_samples(clean), detector.score_samples(defects.images)
    # anomalib's image score is the map's maximum; minus it is a normality score like the detector's
    peak_clean, peak_bad = (-m[DEFAULT_MAP].reshape(len(m[DEFAULT_MAP]), -1).max(1) for m in (maps_clean, maps_bad))
    no_mask = np.zeros((len(clean), *clean.shape[1:3]), bool)
    per_kind: dict[str, Any] = {}
    for k in kinds:
        sel = defects.kind == k
        masks = np.concatenate([defects.masks[sel], no_mask])
        pooled = {m: np.concatenate([maps_bad[m][sel], maps_clean[m]]) for m in maps_bad}
        per_kind[k] = {"n": int(sel.sum()), "object_share": float(np.median(defects.object_share[sel])),
                       "maps": {m: {"pixel_auroc": pixel_auroc(v, masks), "aupro": aupro(v, masks)}
                                for m, v in pooled.items()},
                       "image_auroc": _image_auroc(scores_bad[sel], scores_clean),
                       "image_auroc_map_peak": _image_auroc(peak_bad[sel], peak_clean),
                       "image_auroc_by_size": {s: _image_auroc(scores_bad[sel & (defects.size == s)], scores_clean)
                                               for s in sizes}}
    big = defects.object_share >= MIN_SHARE
    result = {
        "benchmark": "localise", "format": FORMAT, "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "dataset": {"name": data.name, "source": data.source, "n_train": len(data.x_train),
                    "n_test": len(data.x_test), "shape": list(data.x_test.shape[1:])},
        "settings": {"model": what, "kinds": list(kinds), "sizes": {s: SIZES[s] for s in sizes},
                     "per_cell": per_cell, "n_clean": n_clean, "seed": seed, "fpr_limit": FPR_LIMIT,
                     "min_share": MIN_SHARE, "detector": detector.score},
        "units": "AUROC and AUPRO as fractions in [0, 1]; the reference row in percent, as published",
        "per_kind": per_kind,
        "mean": {m: {q: float(np.mean([per_kind[k]["maps"][m][q] for k in kinds])) for q in ("pixel_auroc", "aupro")}
                 for m in maps_bad},
        "image_auroc": {"all": _image_auroc(scores_bad, scores_clean),
                        f"object_share>={MIN_SHARE}": _image_auroc(scores_bad[big], scores_clean),
                        "n_big": int(big.sum())},
        "image_auroc_map_peak": {"map": DEFAULT_MAP, "all": _image_auroc(peak_bad, peak_clean),
                                 f"object_share>={MIN_SHARE}": _image_auroc(peak_bad[big], peak_clean)},
        "reference": REFERENCE,
    }
    result["wall_s"] = time.perf_counter() - started
    result["command"] = command or f"latentlab.benchmark.localise({data.name!r})"
    if out is not None:
        result["files"] = write_result(result, out, defects, maps_bad)
    return result


def _model(data: ImageData, preset: str | None, steps: int, run: str | Path | None, seed: int) -> tuple[Any, str]:
    from latentlab.benchmark.harness import DEFAULT_PRESETS, OTHER_DATA_PRESET, registered_name
    from latentlab.benchmark.published import family
    from latentlab.benchmark.task import epochs_for
    from latentlab.presets import PRESETS, preset_config
    from latentlab.runs import load_run
    from latentlab.training import train

    if run is not None:
        return load_run(run).model, f"the run {run}"
    preset = preset or DEFAULT_PRESETS.get(family(registered_name(data) or data.name) or "", OTHER_DATA_PRESET)
    choose(PRESETS, preset, "preset")
    cfg = preset_config(preset, "full")
    epochs = epochs_for(steps, len(data.x_train), cfg.train.batch_size)
    cfg = replace(cfg, name=f"localise-{data.name}", train=replace(cfg.train, epochs=epochs, seed=seed))
    return train(cfg, data.x_train, None, None, quiet=True).model, f"{preset}, {epochs} epochs, seed {seed}"


def _maps(detector: Any, model: Any, x: np.ndarray) -> dict[str, np.ndarray]:
    """The four maps of images `x`, as (N, H, W) (colour joined per pixel)."""
    from latentlab.analysis.inference import reconstruct
    from latentlab.analysis.novelty import combined_map, explain_pixels, per_pixel, reconstruction_map, views

    shape = x.shape[1:]
    ref = detector.reference_images_.reshape(-1, *shape)
    pix = explain_pixels(x, views(ref)).maps
    colour = len(shape) == 3
    maps = {"combined": combined_map(pix["neighbour"], pix["hyperplane"]), **pix,
            "reconstruction": reconstruction_map(x, reconstruct(model, x))}
    return {k: per_pixel(v, colour) for k, v in maps.items()}


def _image_auroc(bad: np.ndarray, clean: np.ndarray) -> float | None:
    """AUROC of defective (positive) against clean images by minus the normality score; None without both."""
    if len(bad) == 0 or len(clean) == 0:
        return None
    y = np.r_[np.ones(len(bad)), np.zeros(len(clean))]
    return float(roc_auc_score(y, -np.r_[bad, clean]))


def markdown(result: dict[str, Any]) -> str:
    """The result as markdown: pixel AUROC and AUPRO per kind and map, image-level AUROC, the reference row."""
    kinds = list(result["per_kind"])
    maps = list(result["mean"])
    pct = lambda v: "–" if v is None else f"{100 * v:.1f}"  # noqa: E731
    lines = [f"## Localisation on {result['dataset']['name']}", "",
             f"Model: {result['settings']['model']}; {result['settings']['per_cell']} defective test images per kind "
             f"and size ({', '.join(result['settings']['sizes'])}), {result['settings']['n_clean']} clean ones.", ""]
    for q, title in (("pixel_auroc", "Pixel-level AUROC (%)"), ("aupro", f"AUPRO to FPR {FPR_LIMIT} (%)")):
        lines += [f"**{title}**", "", "| map | " + " | ".join(kinds) + " | mean |", "|---" * (len(kinds) + 2) + "|"]
        for m in maps:
            vals = [pct(result["per_kind"][k]["maps"][m][q]) for k in kinds]
            lines.append(f"| {m} | " + " | ".join(vals) + f" | {pct(result['mean'][m][q])} |")
        lines.append("")
    share = f"object_share>={MIN_SHARE}"
    lines += ["**Image-level AUROC, defective vs clean (%)**", "",
              "| | " + " | ".join(kinds) + " | all | ≥ 5% of the object |", "|---" * (len(kinds) + 3) + "|",
              "| the default detector's score | " + " | ".join(pct(result["per_kind"][k]["image_auroc"])
                                                          for k in kinds) +
              f" | {pct(result['image_auroc']['all'])} | {pct(result['image_auroc'][share])} |"]
    if "image_auroc_map_peak" in result:  # results written before it lack the row
        peak = result["image_auroc_map_peak"]
        lines.append(f"| the {peak['map']} map's peak (anomalib's image score) | " + " | ".join(
            pct(result["per_kind"][k]["image_auroc_map_peak"]) for k in kinds) +
            f" | {pct(peak['all'])} | {pct(peak[share])} |")
    lines += ["| median share of the object | " + " | ".join(
        f"{100 * result['per_kind'][k]['object_share']:.0f}%" for k in kinds) + " | | |", ""]
    for r in result["reference"]:
        lines.append(f"Reference for the scale of the measures only, **another data set** ({r['dataset']}): "
                     f"{r['method']}: image AUROC {r['image_auroc']}, pixel AUROC {r['pixel_auroc']}, AUPRO "
                     f"{r['aupro']} (%). Source: {r['source']}.")
    return "\n".join(lines) + "\n"


def write_result(result: dict[str, Any], out: str | Path, defects: Defects,
                 maps: dict[str, np.ndarray]) -> dict[str, str]:
    """Write localise-<data>.json, .md and .png (examples: image, mask, default map) into `out`."""
    from latentlab.figures import save_figure
    from latentlab.figures.maps import examples_figure

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    stem = "localise-" + re.sub(r"[^A-Za-z0-9._-]+", "_", result["dataset"]["name"])
    paths = {kind: out / f"{stem}.{kind}" for kind in ("json", "md", "png")}
    pick = [int(np.nonzero(defects.kind == k)[0][-1]) for k in result["per_kind"]]  # the largest size of each kind
    save_figure(examples_figure(defects.images[pick], defects.masks[pick], maps["combined"][pick],
                                [str(defects.kind[i]) for i in pick]), paths["png"])
    atomic_write_text(paths["md"], markdown(result))
    files = {k: str(p) for k, p in paths.items()}
    atomic_write_text(paths["json"], json.dumps({**result, "files": files}, indent=2, allow_nan=False) + "\n")
    return files
