"""Typed, frozen configs that validate their ranges and round-trip through JSON.

Fields that name a registry entry (model.kind, model.encoder, train.noise.kind, train.optimizer, train.schedule)
are checked against that registry where it lives, by `latentlab.training.check_config`, so each list of names
has one source of truth; here they only have to be non-empty strings.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import typing
import warnings
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from latentlab.errors import ConfigError, choose

PROFILES = ("quick", "full")
# The most images one draw from a VAE's prior makes (`generate -n`): the samples grid of 1,024 (128 rows of 8) is
# already ~21,000 px tall at 200 dpi; Agg cannot draw past 65,536 px, and 100,000 took 22 GB before failing.
MAX_SAMPLES = 1024
MIN_MODEL_SIDE, MAX_MODEL_SIDE = 8, 256  # image sides a model may be built for; larger images are resized on purpose
MAX_NAME_BYTES = 200  # a run's name is a folder name: 255 bytes at most on common file systems, less our suffixes
# Fields renamed since a config was first written: old name -> function of its value giving (new name, value).
LEGACY = {"model.image_size": lambda side: ("image_shape", [1, side, side])}
# Fields added for model kinds that did not exist before them: a config written earlier describes another kind, which
# ignores them, so filling in their defaults changes nothing and is not warned about.
SILENT_DEFAULTS = frozenset({"model.iwae_samples", "model.pseudo_inputs", "model.codebook_size", "model.code_dim",
                             "model.commitment", "model.mmd_weight", "model.n_classes"})


def _check(ok: bool, name: str, allowed: str, value: Any) -> None:
    if not ok:
        raise ConfigError(f"{name}={value!r} is invalid", hint=allowed, field=name, value=value)


def check_count(name: str, value: Any, allowed: str) -> None:
    """Raise ConfigError("{name}={value!r} is invalid: {allowed}") unless `value` is a whole number >= 1 (not a
    bool): the one test behind jobs, threads and sample counts given as arguments."""
    _check(isinstance(value, int) and not isinstance(value, bool) and value >= 1, name, allowed, value)


def _choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    choose(choices, value, name)


def _name(name: str, value: str) -> None:
    _check(isinstance(value, str) and bool(value), name, "a registry name (see `latentlab presets` for examples)",
           value)


@dataclass(frozen=True)
class ModelConfig:
    """The model's architecture; frozen, validated on construction.

    Parameters
    ----------
    kind : str, default "dense"
        The `latentlab.MODELS` entry: "dense", "conv", "vae" (and beta-VAE), "iwae", "vamp", "vqvae", "wae" or
        "cvae".
    hidden : tuple of int, default ()
        Encoder widths (dense, 1 to 8192 each) or channel counts (conv, 1 to 3 of them); the decoder mirrors them.
    latent_dim : int, default 32
        Size of the code, 1 to 4096.
    encoder : str, default "dense"
        VAE only: a "dense" or "conv" encoder and decoder.
    beta : float, default 1.0
        VAE only: weight of the KL term, 0 to 1000 (1 is the ELBO).
    image_shape : tuple of int, default (1, 28, 28)
        (channels, height, width) of the images, 1 or 3 channels, sides 8 to 256 pixels; `train` sets it from
        the data.
    likelihood : str, default "bernoulli"
        The decoder's distribution: "bernoulli" (binary cross-entropy, the seed's) or "gaussian" (squared error).
    iwae_samples : int, default 5
        iwae only: K, importance samples per image in the training objective, 1 to 10000.
    pseudo_inputs : int, default 500
        vamp only: K, learned pseudo-inputs whose posteriors make the prior, 1 to 100000.
    codebook_size : int, default 512
        vqvae only: the number of codebook entries, 2 to 65536.
    code_dim : int, default 2
        vqvae only: width of one code vector, 1 to 4096 and a divisor of `latent_dim`; each image has
        latent_dim / code_dim code vectors.
    commitment : float, default 0.25
        vqvae only: weight of the commitment loss, 0 to 100 (van den Oord et al. use 0.25).
    mmd_weight : float, default 10.0
        wae only: lambda, weight of the MMD between the codes and the prior, 0 to 10000.
    n_classes : int, default 10
        cvae only: the number of classes the encoder and decoder are conditioned on, 2 to 1000.

    Raises
    ------
    ConfigError
        A value out of its range, naming the field (``model.latent_dim``) and what is allowed.
    """

    kind: str = "dense"
    hidden: tuple[int, ...] = ()
    latent_dim: int = 32
    encoder: str = "dense"  # VAE only: dense or conv encoder/decoder
    beta: float = 1.0  # VAE only: weight of the KL term
    image_shape: tuple[int, ...] = (1, 28, 28)
    likelihood: str = "bernoulli"
    iwae_samples: int = 5  # iwae only: K, importance samples per image in the training objective
    pseudo_inputs: int = 500  # vamp only: K, learned pseudo-inputs whose posteriors make the prior
    codebook_size: int = 512  # vqvae only: codebook entries
    code_dim: int = 2  # vqvae only: width of one code vector; latent_dim / code_dim vectors per image
    commitment: float = 0.25  # vqvae only: weight of the commitment loss (van den Oord et al.: 0.25)
    mmd_weight: float = 10.0  # wae only: lambda, weight of the MMD between codes and the prior
    n_classes: int = 10  # cvae only: classes the encoder and decoder are conditioned on

    def __post_init__(self) -> None:
        _name("model.kind", self.kind)
        _name("model.encoder", self.encoder)
        _check(1 <= self.latent_dim <= 4096, "model.latent_dim", "an integer in [1, 4096]", self.latent_dim)
        _check(all(1 <= h <= 8192 for h in self.hidden), "model.hidden", "widths in [1, 8192]", self.hidden)
        _check(0.0 <= self.beta <= 1000.0, "model.beta", "a number in [0, 1000]", self.beta)
        shape = self.image_shape
        _check(len(shape) == 3 and shape[0] in (1, 3) and all(MIN_MODEL_SIDE <= v <= MAX_MODEL_SIDE for v in shape[1:]),
               "model.image_shape", f"(channels, height, width) with 1 or 3 channels and sides in [{MIN_MODEL_SIDE}, "
               f"{MAX_MODEL_SIDE}]", shape)
        _name("model.likelihood", self.likelihood)
        _check(1 <= self.iwae_samples <= 10_000, "model.iwae_samples", "an integer in [1, 10000]", self.iwae_samples)
        _check(1 <= self.pseudo_inputs <= 100_000, "model.pseudo_inputs", "an integer in [1, 100000]",
               self.pseudo_inputs)
        _check(2 <= self.codebook_size <= 65_536, "model.codebook_size", "an integer in [2, 65536]",
               self.codebook_size)
        _check(1 <= self.code_dim <= 4096 and (self.kind != "vqvae" or self.latent_dim % self.code_dim == 0),
               "model.code_dim", f"a divisor of model.latent_dim ({self.latent_dim})", self.code_dim)
        _check(0.0 <= self.commitment <= 100.0, "model.commitment", "a number in [0, 100]", self.commitment)
        _check(0.0 <= self.mmd_weight <= 10_000.0, "model.mmd_weight", "a number in [0, 10000]", self.mmd_weight)
        _check(2 <= self.n_classes <= 1000, "model.n_classes", "an integer in [2, 1000]", self.n_classes)
        if self.kind == "conv" or (self.kind != "dense" and self.encoder == "conv"):
            _check(len(self.hidden) in (1, 2, 3), "model.hidden", "1 to 3 conv channel counts", self.hidden)


@dataclass(frozen=True)
class NoiseConfig:
    """Input corruption for denoising training; the target stays the clean image.

    Parameters
    ----------
    kind : str, default "none"
        A noise of `latentlab.training.noise`: "none", "gaussian", "salt_pepper" or "mask".
    factor : float, default 0.5
        gaussian: standard deviation on [0, 1] pixels (0 to 10); salt_pepper and mask: fraction of pixels (0 to 1).

    Raises
    ------
    ConfigError
        `factor` out of its range.
    """

    kind: str = "none"
    factor: float = 0.5  # gaussian: std; salt_pepper and mask: fraction of pixels

    def __post_init__(self) -> None:
        _name("train.noise.kind", self.kind)
        _check(0.0 <= self.factor <= 1.0 or self.kind == "gaussian", "train.noise.factor", "a fraction in [0, 1]",
               self.factor)
        _check(0.0 <= self.factor <= 10.0, "train.noise.factor", "a number in [0, 10]", self.factor)


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings; frozen, validated on construction.

    Parameters
    ----------
    epochs : int, default 10
        Passes over the training images, 1 to 100,000.
    batch_size : int, default 256
        Images per optimizer step (the global batch under DDP).
    lr : float, default 1e-3
        Learning rate, in (0, 10].
    optimizer : str, default "adam"
        An optimizer of `latentlab.training.optim`.
    weight_decay : float, default 0.0
        In [0, 1].
    schedule : str, default "none"
        A learning-rate schedule of `latentlab.training.optim` (e.g. "cosine").
    patience : int, default 0
        Epochs without a better validation loss before stopping; 0 disables early stopping.
    grad_clip : float, default 0.0
        Maximum gradient norm; 0 disables clipping.
    seed : int, default 0
        Seed of the weights and the batch order.
    device : str, default "auto"
        "auto", "cpu", "cuda", "cuda:N" or "mps".
    compile : bool, default False
        ``torch.compile`` the model.
    eval_batch_size : int, default 2048
        Images per batch when measuring (no gradients).
    noise : NoiseConfig
        Input corruption of a denoiser (none by default).

    Raises
    ------
    ConfigError
        A value out of its range, naming the field (``train.lr``) and what is allowed.
    """

    epochs: int = 10
    batch_size: int = 256
    lr: float = 1e-3
    optimizer: str = "adam"
    weight_decay: float = 0.0
    schedule: str = "none"
    patience: int = 0
    grad_clip: float = 0.0
    seed: int = 0
    device: str = "auto"
    compile: bool = False
    eval_batch_size: int = 2048
    noise: NoiseConfig = field(default_factory=NoiseConfig)

    def __post_init__(self) -> None:
        _check(1 <= self.epochs <= 100_000, "train.epochs", "an integer in [1, 100000]", self.epochs)
        _check(1 <= self.batch_size <= 1_000_000, "train.batch_size", "an integer in [1, 1000000]", self.batch_size)
        _check(0.0 < self.lr <= 10.0, "train.lr", "a number in (0, 10]", self.lr)
        _name("train.optimizer", self.optimizer)
        _check(0.0 <= self.weight_decay <= 1.0, "train.weight_decay", "a number in [0, 1]", self.weight_decay)
        _name("train.schedule", self.schedule)
        _check(0 <= self.patience <= 10_000, "train.patience", "an integer >= 0 (0 = off)", self.patience)
        _check(0.0 <= self.grad_clip <= 1e6, "train.grad_clip", "a number >= 0 (0 = off)", self.grad_clip)
        _check(0 <= self.seed < 2**63, "train.seed", "an integer in [0, 2**63)", self.seed)
        dev = self.device.split(":")[0]
        _check(dev in ("auto", "cpu", "cuda", "mps"), "train.device", "auto, cpu, cuda, cuda:N or mps", self.device)
        _check(self.eval_batch_size >= 1, "train.eval_batch_size", "an integer >= 1", self.eval_batch_size)


@dataclass(frozen=True)
class RunConfig:
    """Everything needed to reproduce one training run; saved as the run directory's config.json.

    Parameters
    ----------
    name : str, default "run"
        The run's name (its directory under runs/), without "/".
    preset : str, default ""
        The preset it came from, if any.
    dataset : str, default "mnist"
        A registered data set's name, or the absolute path of an image folder or .npz.
    profile : str, default "quick"
        "quick" or "full": the preset's epoch budget.
    model : ModelConfig
        The architecture.
    train : TrainConfig
        The optimisation.

    Raises
    ------
    ConfigError
        An empty or invalid name, an empty data set, an unknown profile.
    """

    name: str = "run"
    preset: str = ""
    dataset: str = "mnist"
    profile: str = "quick"
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        _check(bool(self.name) and "/" not in self.name and "\0" not in self.name and self.name not in (".", ".."),
               "name", "a non-empty name without '/'", self.name)
        size = len(self.name.encode("utf-8", "surrogateescape"))
        _check(size <= MAX_NAME_BYTES, "name", f"a name of at most {MAX_NAME_BYTES} bytes, this one has {size} (it "
               "names the run's folder: file systems allow 255 bytes, and latentlab adds suffixes such as '-2')",
               self.name[:40] + "...")
        _check(bool(self.dataset), "dataset", "a dataset name or a path", self.dataset)
        _choice("profile", self.profile, PROFILES)

    def to_dict(self) -> dict[str, Any]:
        """The config as nested plain dicts.

        Returns
        -------
        dict
            ``{"name": ..., "model": {...}, "train": {..., "noise": {...}}}``, JSON-ready.
        """
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        """The config as indented JSON with sorted keys.

        Returns
        -------
        str
            What `from_json` reads back.
        """
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        """Rebuild a config from `to_dict`'s form.

        A field missing from `data` (a config written by an older latentlab) takes its default, and a
        `UserWarning` names each one filled in, so that a changed default never goes unnoticed.

        Parameters
        ----------
        data : dict
            Nested dicts as `to_dict` writes them.

        Returns
        -------
        RunConfig
            The validated config.

        Raises
        ------
        ConfigError
            An unknown field (with the closest known name), a value of the wrong type or out of range.
        """
        filled: list[str] = []
        cfg = _from_dict(cls, data, "", filled)
        if filled:
            warnings.warn(f"the config lacks {', '.join(filled)}; filled in with the default"
                          f"{'s' if len(filled) > 1 else ''}", UserWarning, stacklevel=2)
        return cfg

    @classmethod
    def from_json(cls, text: str) -> RunConfig:
        """Rebuild a config from `to_json`'s text.

        Parameters
        ----------
        text : str
            JSON as `to_json` writes it.

        Returns
        -------
        RunConfig
            The validated config.

        Raises
        ------
        ConfigError
            The text is not JSON, or `from_dict` refuses it.
        """
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"config is not valid JSON ({exc}); re-create it with `latentlab train`",
                              field="config") from exc
        return cls.from_dict(data)

    def save(self, path: str | Path) -> None:
        """Write `to_json` to `path`.

        Parameters
        ----------
        path : str or Path
            The file to write (a run's config.json).
        """
        Path(path).write_text(self.to_json() + "\n")

    @classmethod
    def load(cls, path: str | Path) -> RunConfig:
        """Read a config written by `save`.

        Parameters
        ----------
        path : str or Path
            A config.json.

        Returns
        -------
        RunConfig
            The validated config.

        Raises
        ------
        ConfigError
            As `from_json`.
        """
        return cls.from_json(Path(path).read_text())


def _from_dict(cls: type, data: Any, prefix: str, filled: list[str]) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix or 'config'} must be a JSON object, got {type(data).__name__}",
                          field=prefix.rstrip(".") or "config", value=data)
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    for old in [k for k in data if f"{prefix}{k}" in LEGACY and k not in known]:
        new, value = LEGACY[f"{prefix}{old}"](data[old])
        data = {**{k: v for k, v in data.items() if k != old}, new: data.get(new, value)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"unknown config field(s) {', '.join(prefix + u for u in unknown)}; "
                          f"known: {', '.join(sorted(known))}",
                          field=prefix.rstrip(".") or "config", value=unknown, allowed=tuple(sorted(known)))
    kwargs = {}
    for name, value in data.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            kwargs[name] = _from_dict(hint, value, f"{prefix}{name}.", filled)
        elif typing.get_origin(hint) is tuple:
            if not isinstance(value, list | tuple):
                raise ConfigError(f"{prefix}{name} must be a list of integers such as [256, 128], got {value!r}",
                                  field=f"{prefix}{name}", value=value)
            # Element by element, so the message names the one that is not an integer.
            kwargs[name] = tuple(_coerce(int, v, f"{prefix}{name}[{i}]") for i, v in enumerate(value))
        else:
            kwargs[name] = _coerce(hint, value, prefix + name)
    defaults = cls()
    filled += [f"{prefix}{f.name}={getattr(defaults, f.name)!r}" for f in fields(cls) if f.name not in data
               and not dataclasses.is_dataclass(getattr(defaults, f.name)) and prefix + f.name not in SILENT_DEFAULTS]
    filled += [f"{prefix}{f.name} (all of it)" for f in fields(cls) if f.name not in data
               and dataclasses.is_dataclass(getattr(defaults, f.name))]
    return cls(**kwargs)


def _coerce(hint: Any, value: Any, name: str) -> Any:
    if hint is bool:
        if isinstance(value, str):
            low = value.lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{name}={value!r} is invalid: true or false", field=name.split("[")[0], value=value)
    try:
        if hint is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if hint is float:
            return float(value)
        if hint is str:
            return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}={value!r} is invalid: expected {hint.__name__}",
                          field=name.split("[")[0], value=value) from None
    return value


def _unknown_field(key: str, data: dict[str, Any], node: dict[str, Any], where: str) -> str:
    """Why `key` is not a field: the fields close to it, and those of the section it went wrong in."""
    def dotted(d: dict[str, Any], prefix: str = "") -> list[str]:
        return [n for k, v in d.items() for n in (dotted(v, f"{prefix}{k}.") if isinstance(v, dict) else
                                                  [prefix + k])]

    close = difflib.get_close_matches(key, dotted(data), n=3, cutoff=0.75)
    here = ", ".join(f"{k}.*" if isinstance(v, dict) else k for k, v in sorted(node.items()))
    return (f"unknown config field {key!r}" + (f" (did you mean {' or '.join(close)}?)" if close else "")
            + f"; known {f'in {where}' if where else 'at the top level'}: {here}")


def override(cfg: RunConfig, assignments: dict[str, Any]) -> RunConfig:
    """Return `cfg` with dotted fields replaced, e.g. {"train.epochs": 3, "model.latent_dim": 2}."""
    data = cfg.to_dict()
    for key, value in assignments.items():
        node = data
        parts = key.split(".")
        for depth, part in enumerate(parts):
            if depth == len(parts) - 1 and part in node:
                node[part] = value
            elif not isinstance(node.get(part), dict):
                raise ConfigError(_unknown_field(key, data, node, ".".join(parts[:depth])),
                                  field="assignments", value=key)
            else:
                node = node[part]
    return RunConfig.from_dict(data)


__all__ = ["ConfigError", "ModelConfig", "NoiseConfig", "RunConfig", "TrainConfig", "override", "replace"]
