"""Training: `fit(model, ...)` trains any model honouring the contract; `train(cfg, ...)` builds one and fits it."""

from latentlab.errors import TrainingError
from latentlab.training.callbacks import Callback, EpochCallback, PrintEpochs
from latentlab.training.fit import TrainResult, fit, loss_units
from latentlab.training.train import check_config, resolve_device, shape_from_data, train

__all__ = ["Callback", "EpochCallback", "PrintEpochs", "TrainResult", "TrainingError", "check_config", "fit",
           "loss_units", "resolve_device", "shape_from_data", "train"]
