"""A run directory: config.json + safetensors weights + history.jsonl + meta.json. Loading never unpickles.

meta.json records the SHA-256 of every weight file, so a tampered or truncated file is caught on load.
"""

from __future__ import annotations

import hashlib
import json
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load
from safetensors.torch import save as save_tensors
from torch import nn

from latentlab._version import __version__
from latentlab.config import RunConfig
from latentlab.data import ImageData, load_dataset
from latentlab.data.base import array_sha256
from latentlab.errors import ConfigError, DatasetError, RunError
from latentlab.file_sets import CONFIG, HISTORY, META, MODEL, OPTIMIZER, STATE, finish_pending, write_file_set
from latentlab.files import atomic_write_text, file_digest, shown_name
from latentlab.models import build_model
from latentlab.models.check import shape_differences

# Files derived from the weights: `latentlab evaluate`'s metrics, and the card of an export (`latentlab export`).
METRICS, CARD = "metrics.json", "model_card.json"
FORMAT_VERSION = 1
#: meta.json's "data_source" of a run trained on arrays handed to `fit`/`train` in Python: nothing on disk says
#: which data set they were, so later commands must be told (`load_run_data(run, dataset=...)`, `--dataset`).
IN_MEMORY = "in-memory arrays"


@dataclass
class Run:
    """A trained model with everything saved beside it, as `load_run` returns it.

    Parameters
    ----------
    path : Path
        The run directory.
    config : RunConfig
        Its config.json.
    model : torch.nn.Module
        The rebuilt model (a `LatentModel`), in eval mode.
    history : list of dict
        history.jsonl: one dict per epoch (loss terms per split, learning rate, speed).
    meta : dict
        meta.json: versions, data source, seed, device, times, image shape, weight digests.
    """

    path: Path
    config: RunConfig
    model: nn.Module
    history: list[dict[str, Any]]
    meta: dict[str, Any]

    @property
    def name(self) -> str:
        """The run's name.

        Returns
        -------
        str
            The directory's name (``mnist-vae`` for runs/mnist-vae), bytes that are not UTF-8 shown as \\xNN: for
            titles, ids and listings.
        """
        return shown_name(self.path.name)


def _tensor_bytes(tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> bytes:
    return save_tensors({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, metadata=metadata)


def versions() -> dict[str, str]:
    return {"latentlab": __version__, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version()}


def optimizer_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Flatten an optimizer state dict into named tensors plus JSON metadata (no pickling)."""
    sd = opt.state_dict()
    tensors = {f"state.{idx}.{key}": (val if torch.is_tensor(val) else torch.tensor(val))
               for idx, st in sd["state"].items() for key, val in st.items()}
    return tensors, {"param_groups": json.dumps(sd["param_groups"])}


def load_optimizer_tensors(opt: torch.optim.Optimizer, path: Path) -> None:
    tensors = _load_tensors(path)
    groups = json.loads(tensors_metadata(path)["param_groups"])
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, t in tensors.items():
        if not name.startswith("state."):
            continue
        _, idx, key = name.split(".", 2)
        state.setdefault(int(idx), {})[key] = t
    opt.load_state_dict({"state": state, "param_groups": groups})
    # Moments come back contiguous. The fused CPU Adam walks parameter, gradient and moments in memory order,
    # so a moment must share its parameter's layout (channels-last conv weights) or the update is scrambled.
    for group in opt.param_groups:
        for p in group["params"]:
            st = opt.state.get(p, {})
            for key, v in st.items():
                if torch.is_tensor(v) and v.shape == p.shape and v.stride() != p.stride():
                    st[key] = torch.empty_like(p, dtype=v.dtype).copy_(v)


def save_checkpoint(run_dir: Path, cfg: RunConfig, model: nn.Module, opt: torch.optim.Optimizer | None,
                    state: dict[str, Any], meta: dict[str, Any], rng_state: torch.Tensor | None = None,
                    history: list[dict[str, Any]] | None = None) -> None:
    """Write config, weights, optimizer and trainer state (and `history`, when given), then meta.json with the files'
    checksums, as one set (`file_sets.write_file_set`): whole or not at all. CheckpointError when the disk refuses
    it (the previous checkpoint is then kept); hold the run's lock (`locks.run_lock`) around it."""
    before = _saved_digest(run_dir)
    blobs = {CONFIG: (cfg.to_json() + "\n").encode(), MODEL: _tensor_bytes(dict(model.state_dict()))}
    if opt is not None:
        tensors, md = optimizer_tensors(opt)
        if rng_state is not None:
            tensors["rng.cpu"] = rng_state
        blobs[OPTIMIZER] = _tensor_bytes(tensors, md)
    blobs[STATE] = (json.dumps(state, indent=2) + "\n").encode()
    if history is not None:
        blobs[HISTORY] = "".join(json.dumps(r) + "\n" for r in history).encode()
    files = {name: hashlib.sha256(blobs[name]).hexdigest() for name in (MODEL, OPTIMIZER) if name in blobs}
    meta = {**meta, "format": FORMAT_VERSION, "versions": versions(), "files": files}
    blobs[META] = (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode()
    write_file_set(run_dir, blobs, last=META)
    if files[MODEL] != before:
        drop_derived(run_dir, files[MODEL])


def _saved_digest(run_dir: Path) -> str | None:
    try:
        return json.loads((run_dir / META).read_text())["files"][MODEL]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def weights_digest(meta: dict[str, Any]) -> str | None:
    """The SHA-256 of the run's model.safetensors as its meta.json records it: files derived from the weights
    (metrics.json, an export's model card) record it too, and are current only while the two agree."""
    return (meta.get("files") or {}).get(MODEL)


def is_current(derived: dict[str, Any], meta: dict[str, Any]) -> bool:
    """Whether a file derived from a run's weights (its dict, with "weights_sha256") was made from the weights the run
    has now. Files written before the digest was recorded cannot tell and count as current: from then on
    `save_checkpoint` removes or marks them whenever the weights change."""
    recorded = derived.get("weights_sha256")
    return recorded is None or recorded == weights_digest(meta)


def drop_derived(run_dir: Path, digest: str) -> None:
    """The weights in `run_dir` just changed (a resumed or a new run written over an old one): remove metrics.json,
    and mark the model card of each export inside the run stale (its graphs are the old weights, still whole).
    Saved novelty detectors need nothing: they record the weights' fingerprint and are refitted on a mismatch."""
    (run_dir / METRICS).unlink(missing_ok=True)
    for card in run_dir.glob(f"*/{CARD}"):
        try:
            data = json.loads(card.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("weights_sha256") != digest and "stale" not in data:
            data["stale"] = (f"the run's weights changed after this export (now sha256 {digest[:12]}...); its graphs "
                             f"and numbers are of the old weights: export the run again")
            atomic_write_text(card, json.dumps(data, indent=2) + "\n")


def tensors_metadata(path: Path) -> dict[str, str]:
    """The string metadata of a safetensors file: its header is 8 bytes of length, then JSON."""
    with open(path, "rb") as f:
        size = int.from_bytes(f.read(8), "little")
        return json.loads(f.read(size)).get("__metadata__") or {}


def _load_tensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load(path.read_bytes())  # bytes: safetensors opens only UTF-8 paths
    except (SafetensorError, OSError, ValueError) as exc:
        raise RunError(f"{path} is damaged or not a safetensors file ({exc}); "
                       "retrain the run or restore the file", field="run_dir", value=str(path)) from None


def read_json(path: Path) -> Any:
    if not path.is_file():
        raise RunError(f"{path} is missing: {path.parent} is not a complete latentlab run; "
                       "train one with `latentlab train PRESET`", field="run_dir", value=str(path.parent))
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RunError(f"{path} is not valid JSON ({exc}); retrain the run or restore the file",
                       field="run_dir", value=str(path)) from None


def read_history(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / HISTORY
    if not path.is_file():
        return []
    rows = []
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                raise RunError(f"{path} line {i} is not valid JSON; delete that line or retrain",
                               field="run_dir", value=str(path)) from None
    return rows


def verify_file(run_dir: Path, name: str, meta: dict[str, Any]) -> Path:
    path = run_dir / name
    if not path.is_file():
        raise RunError(f"{path} is missing; retrain the run or restore the file", field="run_dir", value=str(path))
    expected = meta.get("files", {}).get(name)
    if expected is None:
        raise RunError(f"{run_dir / META} has no checksum for {name}; the run is incomplete, retrain it",
                       field="run_dir", value=str(run_dir))
    if file_digest(path) != expected:
        raise RunError(f"{path} does not match its checksum in meta.json: it was changed or truncated; "
                       "retrain the run or restore the file", field="run_dir", value=str(path))
    return path


def load_run(path: str | Path, device: str | torch.device = "cpu") -> Run:
    """Rebuild the model of a run directory from its config and verified weights (no pickle involved).

    Parameters
    ----------
    path : str or Path
        A run directory (runs/NAME).
    device : str or torch.device, default "cpu"
        Where the model goes.

    Returns
    -------
    Run
        The model in eval mode with its config, history and meta.

    Raises
    ------
    RunError
        Not a directory, a missing or changed file (the weights' SHA-256 is checked), a config that does not
        describe the weights, a run written by a newer latentlab.
    """
    run_dir = Path(path)
    if not run_dir.is_dir():
        raise RunError(f"{run_dir} is not a directory; pass a run directory such as runs/mnist-vae",
                       field="run_dir", value=str(run_dir))
    finish_pending(run_dir)  # a checkpoint whose writer stopped mid-swap
    meta = read_json(run_dir / META)
    try:
        cfg = RunConfig.from_dict(read_json(run_dir / CONFIG))
    except ConfigError as exc:
        raise RunError(f"{run_dir / CONFIG}: {exc}", field="run_dir", value=str(run_dir)) from None
    if meta.get("format", 0) > FORMAT_VERSION:
        raise RunError(f"{run_dir} was written by a newer latentlab (format {meta['format']}); upgrade latentlab",
                       field="run_dir", value=str(run_dir))
    try:
        model = build_model(cfg.model)
    except ConfigError as exc:
        raise RunError(f"{run_dir / CONFIG}: {exc}", field="run_dir", value=str(run_dir)) from None
    tensors = _load_tensors(verify_file(run_dir, MODEL, meta))
    differences = shape_differences(model.state_dict(), tensors, (MODEL, CONFIG))
    if differences:
        # Written by fit() with a model cfg.model does not describe (before fit checked), or edited by hand.
        raise RunError(f"{run_dir / MODEL} holds weights of another model than {run_dir / CONFIG} describes "
                       f"(model.kind {cfg.model.kind!r}, hidden {list(cfg.model.hidden)}, latent_dim "
                       f"{cfg.model.latent_dim}): {'; '.join(differences[:3])}; fix {CONFIG}'s model to describe the "
                       "weights, or retrain the run", field="run_dir", value=str(run_dir))
    try:
        model.load_state_dict(tensors)
    except RuntimeError as exc:  # anything the shape check above did not foresee
        raise RunError(f"{run_dir / MODEL} does not fit {run_dir / CONFIG} ({str(exc).splitlines()[0]}); "
                       "retrain the run", field="run_dir", value=str(run_dir)) from None
    model.to(device).eval()
    if isinstance(meta.get("classes"), list):  # names a Latin-1 folder gave a run trained before they were escaped
        meta["classes"] = [shown_name(c) for c in meta["classes"]]
    return Run(run_dir, cfg, model, read_history(run_dir), meta)


def data_options(meta: dict[str, Any], image_shape: tuple[int, ...]) -> dict[str, Any]:
    """How a run's data set was loaded: image_size ((height, width) or None), grayscale and auto, as `latentlab train`
    records them in meta.json ("data_options"). Runs from before colour have none: they were trained on 28x28 grey,
    which these options give again (for an image folder, through the same digit pipeline)."""
    saved = meta.get("data_options")
    if isinstance(saved, dict):
        size = saved.get("image_size")
        return {"image_size": tuple(size) if size else None, "grayscale": bool(saved.get("grayscale", False)),
                "auto": bool(saved.get("auto", True))}
    c, h, w = image_shape
    return {"image_size": (h, w), "grayscale": c == 1, "auto": bool(meta.get("image_auto", True))}


def images_sha256(x: np.ndarray) -> str:
    """SHA-256 of an image array's bytes (C order; the buffer itself, no copy, empty arrays too): what an in-memory
    run records of its training images, and the detectors' data fingerprint (`data.base.array_sha256`)."""
    return array_sha256(x)


def load_run_data(run: Run, data_dir: str | Path | None = None, download: bool = True,
                  progress: bool = False, dataset: str | None = None) -> ImageData:
    """The run's data set as it was trained on, loaded with the run's data options (a resize or grey conversion on
    purpose is made again).

    A run trained on arrays handed to `fit`/`train` in Python (meta.json's data_source "in-memory arrays") never
    downloads its `config.dataset`, and takes a copy on this machine only when its training images are the arrays
    the run recorded (`train_images_sha256`): nothing else says those arrays were that data set.

    Parameters
    ----------
    run : Run
        A loaded run.
    data_dir : str or Path, optional
        Where the published files are (as `load_dataset`).
    download : bool, default True
        Whether a missing registered set may be downloaded.
    progress : bool, default False
        Print the source line on stderr.
    dataset : str, optional
        A name or path to use in place of `config.dataset`.

    Returns
    -------
    ImageData
        uint8 images of the run's shape, (N, H, W) or (N, H, W, 3).

    Raises
    ------
    DatasetError
        Not found (from `load_dataset`), or an in-memory run whose arrays are not that data set.
    RunError
        The data no longer has the model's shape.
    """
    options = data_options(run.meta, run.model.image_shape)
    name = dataset or run.config.dataset
    in_memory = dataset is None and run.meta.get("data_source") == IN_MEMORY
    if dataset is None and not in_memory and Path(name).is_absolute() and not Path(name).exists():
        # Training stores a folder's or .npz's path absolute: one that is gone was moved or deleted, not mistyped.
        raise DatasetError(f"{run.path} was trained on {name}, which is not there any more (moved or deleted)",
                           hint="pass dataset=NEW_PATH, the folder or .npz where those training images are now",
                           field="dataset", value=name)
    try:
        data = load_dataset(name, data_dir=data_dir, download=download and not in_memory, progress=progress,
                            **options)
    except DatasetError:
        if not in_memory:
            raise
        raise DatasetError(f"{run.path} was trained on in-memory arrays (fit or train from Python), so nothing says "
                           f"which data set they were; its config's dataset={name!r} is not on this machine and is "
                           "not downloaded in their place; pass dataset=NAME_OR_PATH (a name from "
                           "latentlab.dataset_names(), an image folder or an .npz)",
                           field="dataset", value=name) from None
    if in_memory and images_sha256(data.x_train) != run.meta.get("train_images_sha256"):
        raise DatasetError(f"{run.path} was trained on in-memory arrays (fit or train from Python), not on the "
                           f"training images of its config's dataset={name!r} found on this machine; pass "
                           "dataset=NAME_OR_PATH (a name from latentlab.dataset_names(), an image folder or an .npz) "
                           "with the images it was trained on", field="dataset", value=name)
    if tuple(data.image_shape) != tuple(run.model.image_shape):
        raise RunError(f"{name} now loads as images of shape {data.image_shape}, but {run.path} was "
                       f"trained on {tuple(run.model.image_shape)}; point the run at its data again (train with "
                       f"--image-size {run.model.image_shape[1]}x{run.model.image_shape[2]}"
                       f"{' --grayscale' if run.model.image_shape[0] == 1 else ''})", field="dataset", value=name)
    return data
