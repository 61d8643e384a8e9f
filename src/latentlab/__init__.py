"""latentlab: autoencoders and VAEs on MNIST-style images: train, measure, explore, report.

The public API is listed in `__all__`; the command line lives in `latentlab.cli` (not imported here).
"""

__version__ = "0.1.0"  # before the imports below: rundir and metrics read it

from latentlab.config import ConfigError, ModelConfig, NoiseConfig, RunConfig, TrainConfig
from latentlab.data import DatasetError, ImageData, dataset_names, load_dataset
from latentlab.models import MODELS, VAE, ConvAutoencoder, DenseAutoencoder, build_model
from latentlab.presets import PRESETS, preset_config
from latentlab.rundir import Run, RunError, load_run
from latentlab.train import TrainingError, TrainResult, train

__all__ = [
    "MODELS", "PRESETS", "VAE", "ConfigError", "ConvAutoencoder", "DatasetError", "DenseAutoencoder", "ImageData",
    "ModelConfig", "NoiseConfig", "NoveltyDetector", "Run", "RunConfig", "RunError", "TrainConfig", "TrainResult",
    "TrainingError", "build_model", "dataset_names", "load_dataset", "load_run", "preset_config", "train",
]


def __getattr__(name: str) -> object:
    # The detector pulls in scikit-learn's neighbours and mixtures: import it only when asked for.
    if name == "NoveltyDetector":
        from latentlab.novelty import NoveltyDetector

        return NoveltyDetector
    raise AttributeError(f"module 'latentlab' has no attribute {name!r}")
