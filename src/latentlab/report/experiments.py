"""`latentlab report`: train (or reuse) every seed experiment, measure it, and write one self-contained HTML page."""

from __future__ import annotations

import base64
import html
import json
import sys
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from latentlab.analysis.evaluate import METRICS, compute_metrics, write_metrics
from latentlab.config import RunConfig, override
from latentlab.data import DatasetError, ImageData, load_dataset
from latentlab.errors import ConfigError, RunError
from latentlab.figures import from_runs as plots
from latentlab.figures import save_figure
from latentlab.files import atomic_write_text
from latentlab.presets import preset_config
from latentlab.report.html import render_page
from latentlab.runs import CONFIG, META, STATE, load_run, read_json, versions
from latentlab.training import shape_from_data, train


@dataclass(frozen=True)
class Section:
    number: str
    title: str
    preset: str
    intro: str
    profiles: tuple[str, ...] = ("quick", "full")  # the profiles that include it (naming its preset always does)
    fallback: str = ""  # the set used when the preset's is not on disk; default: its bundled sample
    download: bool = True  # False: never download the preset's data set for the report


SECTIONS = (
    Section("1.1", "A simple autoencoder", "mnist-simple",
            "One hidden layer of 32 units between 784 inputs and 784 outputs: each digit squeezed into 32 numbers."),
    Section("1.2", "A deep autoencoder", "mnist-deep",
            "Three layers each way (784-128-64-32-64-128-784): the same 32-number code, reached in steps."),
    Section("1.3", "A denoising autoencoder", "mnist-denoise",
            "Trained on digits with Gaussian noise (factor 0.5) added, to give back the clean digit. Rows: original, "
            "noisy, the 32-number code drawn as a small image, decoded."),
    Section("1.4", "A variational autoencoder", "mnist-vae",
            "A VAE with a 2-D latent space: each digit becomes a distribution over the plane, and every point of "
            "the plane decodes to an image."),
    Section("1.5", "A convolutional autoencoder (beyond the seed)", "mnist-conv",
            "Stride-2 convolutions down to a 32-number code and transposed convolutions back up."),
    Section("2", "The same VAE on Fashion-MNIST", "fashion-vae",
            "The pipeline of 1.4, unchanged, on ten classes of clothing."),
    Section("4", "A convolutional autoencoder on colour images", "cifar10-conv",
            "The same kind of model on 32x32 colour photographs, with a squared-error loss: CIFAR-10 when it is on "
            "this machine, else 32x32 tiles of two photographs (photo-tiles, built offline).",
            profiles=("full",), fallback="photo-tiles", download=False),
)
DECODE_AT = (-1.0, 3.0)


def sections_for(profile: str, presets: list[str] | None = None) -> list[Section]:
    """The sections a report of `profile` holds (the colour section is in "full" only), or those of `presets`."""
    wanted = set(presets) if presets else None
    sections = [s for s in SECTIONS if (s.preset in wanted if wanted else profile in s.profiles)]
    if wanted and not sections:
        raise ConfigError(f"presets={sorted(wanted)}: none is in the report; choose from "
                          f"{', '.join(s.preset for s in SECTIONS)}")
    return sections


def resolve_data(name: str, data_dir: str | Path | None, progress: bool, fallback: str = "",
                 download: bool = True) -> tuple[ImageData, str | None]:
    """The dataset, or `fallback` (default its bundled sample) when it cannot be found or downloaded (and why)."""
    try:
        return load_dataset(name, data_dir=data_dir, progress=progress, download=download), None
    except DatasetError as exc:
        sample = fallback or f"{name}-sample"
        try:
            data = load_dataset(sample, progress=progress)
        except DatasetError:
            raise exc from None
        return data, (f"The full {name} could not be found on this machine nor downloaded, so the bundled {sample} "
                      f"was used; `latentlab datasets` shows where datasets are looked for.")


def ensure_run(cfg: RunConfig, run_dir: Path, data: ImageData, progress: bool) -> tuple[str, float]:
    """Reuse a finished run with the same config, resume an interrupted one, else train from scratch."""
    meta = _existing_meta(run_dir)
    same = meta is not None and _same_config(run_dir, cfg)
    if same and meta.get("status") in ("finished", "early-stopped"):
        return "reused", 0.0
    resume = same and meta.get("status") == "interrupted" and (run_dir / STATE).is_file()
    if not resume and run_dir.exists():
        for p in run_dir.iterdir():
            if p.is_file():
                p.unlink()
    t0 = time.perf_counter()
    extra = {"dataset": data.name, "data_source": data.source, "is_sample": data.is_sample,
             "classes": list(data.classes), "n_train": len(data.x_train), "n_test": len(data.x_test)}
    result = train(cfg, data.x_train, data.x_test, run_dir, resume=resume, quiet=not progress, meta=extra)
    if result.status == "interrupted":
        raise KeyboardInterrupt
    return ("resumed" if resume else "trained"), time.perf_counter() - t0


def _existing_meta(run_dir: Path) -> dict[str, Any] | None:
    try:
        return read_json(run_dir / META) if (run_dir / META).is_file() else None
    except RunError:
        return None


def _same_config(run_dir: Path, cfg: RunConfig) -> bool:
    try:
        return RunConfig.from_dict(read_json(run_dir / CONFIG)) == cfg
    except Exception:  # any unreadable config means "not the same": retrain
        return False


def build_report(out: str | Path = "report", profile: str = "quick", *, presets: list[str] | None = None,
                 data_dir: str | Path | None = None, overrides: dict[str, Any] | None = None, iwae_k: int = 100,
                 progress: bool = True, command: str = "") -> Path:
    """Reproduce the seed report into `out`/index.html (+ figures/, runs/, metrics.json); returns the page path.
    `command` is shown on the page as the command that made it (the CLI passes its own)."""
    out = Path(out)
    runs_dir, fig_dir = out / "runs", out / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    sections = sections_for(profile, presets)
    started = time.perf_counter()
    cache: dict[str, tuple[ImageData, str | None]] = {}
    parts: list[dict[str, Any]] = []
    for section in sections:
        cfg = preset_config(section.preset, profile)
        if overrides:
            cfg = override(cfg, overrides)
        if cfg.dataset not in cache:
            cache[cfg.dataset] = resolve_data(cfg.dataset, data_dir, progress, section.fallback, section.download)
        data, fallback = cache[cfg.dataset]
        # The sample when it stood in; a path made absolute; the model built for the data's shape.
        cfg = shape_from_data(replace(cfg, dataset=data.ref), data.x_train)[0]
        _say(progress, f"[{section.number}] {section.preset} on {data.name} ({data.source})")
        run_dir = runs_dir / section.preset
        how, train_s = ensure_run(cfg, run_dir, data, progress)
        run = load_run(run_dir)
        metrics = _metrics(run, data, how, iwae_k, progress)
        figs = _figures(run, data, fig_dir, section)
        parts.append({"section": section, "run": run, "data": data, "fallback": fallback, "how": how,
                      "train_s": train_s, "metrics": metrics, "figures": figs})
    total_s = time.perf_counter() - started
    env = {"versions": versions(), "profile": profile, "created": datetime.now(UTC).isoformat(timespec="seconds"),
           "total_s": total_s, "command": command or f"latentlab.build_report(profile={profile!r})"}
    page = render_page(parts, env, _embed)
    atomic_write_text(out / "index.html", page)
    summary = {"environment": env, "runs": {p["run"].name: p["metrics"] for p in parts}}
    atomic_write_text(out / "metrics.json", json.dumps(summary, indent=2, allow_nan=False) + "\n")
    _say(progress, f"report written to {out / 'index.html'} in {total_s:.0f} s")
    return out / "index.html"


def _metrics(run: Any, data: ImageData, how: str, iwae_k: int, progress: bool) -> dict[str, Any]:
    path = run.path / METRICS
    if how == "reused" and path.is_file():
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError:
            pass
    metrics = compute_metrics(run, data, iwae_k=iwae_k, progress=progress)
    write_metrics(run.path, metrics)
    return metrics


def _figures(run: Any, data: ImageData, fig_dir: Path, section: Section) -> list[tuple[str, Path]]:
    out = []
    for kind in plots.figures_for(run):
        options = {"point": DECODE_AT} if kind == "point" else {}
        fig = plots.make(kind, run, data, **options)
        path = save_figure(fig, fig_dir / f"{section.preset}-{kind}.png")
        out.append((kind, path))
    return out


def _embed(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def _say(progress: bool, msg: str) -> None:
    if progress:
        print(html.unescape(msg), file=sys.stderr, flush=True)
