"""latentlab: autoencoders and VAEs on images: train, measure, explore, report.

The public API is `__all__`. Names are imported on first use (PEP 562), so `import latentlab` and
`latentlab --help` load no torch, matplotlib or scikit-learn. The command line lives in `latentlab.cli`.
"""

import importlib as _importlib
import typing as _typing

from latentlab._version import __version__

# public name -> the module that defines it
_EXPORTS = {
    "LatentlabError": "latentlab.errors", "ConfigError": "latentlab.errors", "DatasetError": "latentlab.errors",
    "RunError": "latentlab.errors", "TrainingError": "latentlab.errors", "ImageError": "latentlab.errors",
    "ModelConfig": "latentlab.config", "NoiseConfig": "latentlab.config", "RunConfig": "latentlab.config",
    "TrainConfig": "latentlab.config",
    "PRESETS": "latentlab.presets", "preset_config": "latentlab.presets",
    "ImageData": "latentlab.data", "dataset_names": "latentlab.data", "load_dataset": "latentlab.data",
    "MODELS": "latentlab.models", "VAE": "latentlab.models", "ConvAutoencoder": "latentlab.models",
    "DenseAutoencoder": "latentlab.models", "LatentModel": "latentlab.models", "build_model": "latentlab.models",
    "Run": "latentlab.runs", "load_run": "latentlab.runs", "load_run_data": "latentlab.runs",
    "TrainResult": "latentlab.training", "fit": "latentlab.training", "train": "latentlab.training",
    "NoveltyDetector": "latentlab.analysis",
    "IWAE": "latentlab.models", "VampPrior": "latentlab.models", "VQVAE": "latentlab.models", "WAE": "latentlab.models",
    "CVAE": "latentlab.models", "generate": "latentlab.analysis", "interpolate": "latentlab.analysis",
    "estimate_nll": "latentlab.analysis",
}

# Subpackages reached as attributes after a plain `import latentlab` (`latentlab.export.to_onnx(...)`,
# `latentlab.benchmark.one_class(...)`), also lazily.
_SUBPACKAGES = ("analysis", "benchmark", "data", "export", "figures", "models", "report", "training")

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> _typing.Any:
    if name in _SUBPACKAGES:
        return _importlib.import_module(f"latentlab.{name}")  # the import binds it here as well
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'latentlab' has no attribute {name!r}")
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    # The public API and the subpackages, not the helpers this module imports for itself.
    return sorted({*__all__, *_SUBPACKAGES})
