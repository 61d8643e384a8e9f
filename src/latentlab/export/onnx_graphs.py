"""`to_onnx(run_or_path, out_dir)`: a run's encoder and decoder as two ONNX graphs and a model card beside them.

    encoder.onnx  "images" float32 (N, 1, 28, 28) in [0, 1] -> "codes" float32 (N, latent_dim)
    decoder.onnx  "codes" float32 (N, latent_dim) -> "images" float32 (N, 1, 28, 28) in [0, 1] (after the sigmoid)

The batch size N is dynamic. A VAE's encoder gives the posterior mean, as `model.encode` does.

The graphs come from torch's torch.export-based exporter (`torch.onnx.export(..., dynamo=True)`), the default
since torch 2.9 and the one torch keeps: the TorchScript exporter (`dynamo=False`) warns that it will be removed.
It converts through onnxscript, a pure-Python package that needs no network, so both are in the `onnx` extra.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.metadata
import importlib.util
import io
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from latentlab.errors import ConfigError
from latentlab.export.card import card_json, card_path, model_card
from latentlab.files import atomic_write_bytes, atomic_write_text
from latentlab.models import has_prior
from latentlab.runs import Run, load_run

ENCODER, DECODER = "encoder.onnx", "decoder.onnx"
EXAMPLE_BATCH = 4  # torch.export treats sizes 0 and 1 as constants; any larger example keeps the batch symbolic
NEEDS = ("onnx", "onnxscript")


class _Encoder(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: Tensor) -> Tensor:
        return self.model.encode(images)


class _Decoder(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, codes: Tensor) -> Tensor:
        return self.model.decode(codes)


def require_onnx() -> None:
    """ConfigError saying how to install the `onnx` extra when a package of it is missing."""
    missing = [name for name in NEEDS if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigError(f"exporting to ONNX needs the onnx extra ({', '.join(missing)} not installed): "
                          "pip install 'latentlab[onnx]'", field="format", value="onnx")


def _graph(module: nn.Module, example: Tensor, input_name: str, output_name: str) -> bytes:
    """The serialised ONNX model of `module` (one input, one output, both with a dynamic first dimension)."""
    with _quiet_exporter():
        program = torch.onnx.export(module, (example,), input_names=[input_name], output_names=[output_name],
                                    dynamic_shapes={input_name: {0: torch.export.Dim("batch")}}, dynamo=True,
                                    external_data=False, verbose=False)
    assert program is not None  # returned whenever no file name is passed
    return program.model_proto.SerializeToString()


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence what the exporter says that no caller can act on, for this call only: its progress lines on stdout,
    a warning per torchvision operator it skips (latentlab's models use none) and torch's own use of a deprecated
    pytree name."""
    registration = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = registration.level
    registration.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*LeafSpec.*", category=FutureWarning)
            yield
    finally:
        registration.setLevel(level)


def _describe(name: str, shape: list[Any], meaning: str) -> dict[str, Any]:
    return {"name": name, "dtype": "float32", "shape": shape, "meaning": meaning}


def to_onnx(run_or_path: Run | str | Path, out_dir: str | Path) -> dict[str, Path]:
    """Write a run as two ONNX graphs with a dynamic batch size, and a model card.

    encoder.onnx maps "images" float32 (N, C, H, W) in [0, 1] to "codes" float32 (N, latent_dim) (a VAE's
    posterior mean); decoder.onnx maps "codes" to "images" in [0, 1], after the sigmoid.

    Parameters
    ----------
    run_or_path : Run or str or Path
        A loaded run or its directory.
    out_dir : str or Path
        The folder to write into (created if missing).

    Returns
    -------
    dict of str to Path
        The paths under "encoder", "decoder" and "card" (model_card.json).

    Raises
    ------
    ConfigError
        The `onnx` extra is missing (onnx, onnxscript, onnxruntime).
    RunError
        A run directory that cannot be loaded.
    """
    require_onnx()
    import onnx

    run = run_or_path if isinstance(run_or_path, Run) else load_run(run_or_path)
    # A CPU copy in eval mode: the caller's model keeps its device and mode.
    model = copy.deepcopy(run.model).to("cpu").eval()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    images = torch.rand(EXAMPLE_BATCH, *model.image_shape)
    with torch.no_grad():
        codes = model.encode(images)
    paths = {"encoder": out / ENCODER, "decoder": out / DECODER}
    for key, module, example, names in (("encoder", _Encoder(model), images, ("images", "codes")),
                                        ("decoder", _Decoder(model), codes, ("codes", "images"))):
        data = _graph(module.eval(), example, *names)
        onnx.checker.check_model(onnx.load_model_from_string(data))
        atomic_write_bytes(paths[key], data)
    opset = next(o.version for o in onnx.load(paths["encoder"], load_external_data=False).opset_import
                 if o.domain in ("", "ai.onnx"))
    image_shape = ["N", *model.image_shape]
    code = "the posterior mean of q(z|x)" if has_prior(model) else "the code"
    graphs = {
        "encoder": {"file": ENCODER, "opset": opset,
                    "input": _describe("images", image_shape, "images in [0, 1]"),
                    "output": _describe("codes", ["N", model.latent_dim], code)},
        "decoder": {"file": DECODER, "opset": opset,
                    "input": _describe("codes", ["N", model.latent_dim], "points in latent space"),
                    "output": _describe("images", image_shape, "decoded images in [0, 1] (after the sigmoid)")},
    }
    versions = {"torch": torch.__version__, **{name: importlib.metadata.version(name) for name in NEEDS}}
    paths["card"] = card_path(out)
    atomic_write_text(paths["card"], card_json(model_card(run, graphs, versions)))
    return paths
