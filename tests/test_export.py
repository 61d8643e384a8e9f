"""`latentlab.export.to_onnx` and `latentlab export`: the graphs onnxruntime runs give what PyTorch gives, for every
model kind, at any batch size, with named inputs and outputs and a model card beside them."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import asdict
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from latentlab.cli import main
from latentlab.config import ModelConfig, override
from latentlab.data import SAMPLES, load_dataset
from latentlab.errors import ConfigError
from latentlab.export import FORMATS, to_onnx
from latentlab.models import MODELS, has_prior
from latentlab.presets import preset_config
from latentlab.runs import load_run
from latentlab.training import train

EXPORTING = Path(__file__).resolve().parents[1] / "docs" / "tutorials" / "exporting.md"
# A small model of each kind in the registry (a new kind needs an entry: see the first test), and the conv VAE.
TINY = {
    "dense": ModelConfig(kind="dense", hidden=(64,), latent_dim=16),
    "conv": ModelConfig(kind="conv", hidden=(4, 8), latent_dim=8),
    "vae": ModelConfig(kind="vae", hidden=(32,), latent_dim=2),
    "vae-conv": ModelConfig(kind="vae", encoder="conv", hidden=(4, 8), latent_dim=3),
    "iwae": ModelConfig(kind="iwae", hidden=(32,), latent_dim=2, iwae_samples=2),
    "vamp": ModelConfig(kind="vamp", hidden=(32,), latent_dim=2, pseudo_inputs=8),
    "vqvae": ModelConfig(kind="vqvae", hidden=(32,), latent_dim=4, code_dim=2, codebook_size=16),
    "wae": ModelConfig(kind="wae", hidden=(32,), latent_dim=3),
    "cvae": ModelConfig(kind="cvae", hidden=(32,), latent_dim=2),
}
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def sample():
    return load_dataset("mnist-sample", progress=False)


@pytest.fixture(scope="module")
def exported(sample, tmp_path_factory) -> dict[str, tuple[Path, dict[str, Path]]]:
    """Each TINY model trained for 4 steps, saved as a run and exported: name -> (run dir, exported paths)."""
    root = tmp_path_factory.mktemp("export")
    meta = {"dataset": sample.name, "data_source": sample.source, "is_sample": True, "classes": list(sample.classes)}
    out = {}
    for name, model in TINY.items():
        cfg = override(preset_config("mnist-simple"), {"train.epochs": 1, "train.batch_size": 128, "name": name})
        cfg = override(cfg, {f"model.{k}": v for k, v in asdict(model).items()})
        train(cfg, sample.x_train[:512], sample.x_test[:128], root / name, quiet=True, meta=meta,
              y_train=sample.y_train[:512], y_val=sample.y_test[:128])  # the labels: for the conditional VAE
        out[name] = root / name, to_onnx(root / name, root / name / "onnx")
    return out


def images(sample, n: int = 100) -> np.ndarray:
    """The first `n` test images as the graphs take them: float32 (n, 1, 28, 28), uint8/255."""
    return (sample.x_test[:n].astype(np.float32) / 255.0)[:, None]


def test_every_registered_model_kind_is_exported_here() -> None:
    assert set(MODELS) <= {m.kind for m in TINY.values()}, "add a small config of the new model kind to TINY"


@pytest.mark.parametrize("name", list(TINY))
def test_onnxruntime_gives_what_pytorch_gives_on_100_test_images(name, exported, sample):
    run_dir, paths = exported[name]
    model = load_run(run_dir).model
    x = images(sample)
    with torch.no_grad():
        codes = model.encode(torch.from_numpy(x)).numpy()
        decoded = model.decode(torch.from_numpy(codes)).numpy()
        if has_prior(model):
            assert np.array_equal(codes, model.posterior(torch.from_numpy(x))[0].numpy())  # the posterior mean
    encoder, decoder = ort.InferenceSession(paths["encoder"]), ort.InferenceSession(paths["decoder"])
    onnx_codes = encoder.run(["codes"], {"images": x})[0]
    onnx_images = decoder.run(["images"], {"codes": codes})[0]
    assert onnx_codes.shape == (100, model.latent_dim) and onnx_images.shape == (100, 1, 28, 28)
    np.testing.assert_allclose(onnx_codes, codes, rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(onnx_images, decoded, rtol=0, atol=TOLERANCE)
    assert onnx_images.min() >= 0.0 and onnx_images.max() <= 1.0


@pytest.mark.parametrize("name", list(TINY))
def test_graphs_have_named_float_io_and_a_dynamic_batch(name, exported, sample):
    _, paths = exported[name]
    latent = TINY[name].latent_dim
    for key, (inp, out, in_shape, out_shape) in {
            "encoder": ("images", "codes", [1, 28, 28], [latent]),
            "decoder": ("codes", "images", [latent], [1, 28, 28])}.items():
        graph = onnx.load(paths[key]).graph
        assert [i.name for i in graph.input] == [inp] and [o.name for o in graph.output] == [out]
        for value, shape in ((graph.input[0], in_shape), (graph.output[0], out_shape)):
            assert value.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
            dims = value.type.tensor_type.shape.dim
            assert dims[0].dim_param and not dims[0].HasField("dim_value"), f"{key}: the batch size is fixed"
            assert [d.dim_value for d in dims[1:]] == shape
    encoder = ort.InferenceSession(paths["encoder"])
    for n in (1, 37):
        assert encoder.run(None, {"images": images(sample, n)})[0].shape == (n, latent)
    assert not list(paths["encoder"].parent.glob("*.data")), "weights belong inside the graphs"


def test_the_model_card_says_what_goes_in_and_out_and_where_the_data_came_from(exported, sample):
    run_dir, paths = exported["vae"]
    card = json.loads(paths["card"].read_text())
    assert paths["card"].parent == paths["encoder"].parent
    assert card["image_shape"] == [1, 28, 28] and card["latent_dim"] == 2
    assert card["preprocessing"] == "uint8/255, light strokes on black, 28x28 as the training data"
    assert card["data"]["dataset"] == "mnist-sample" and card["data"]["licence"] == SAMPLES["mnist-sample"].licence
    assert card["data"]["classes"] == list(sample.classes)
    assert card["graphs"]["encoder"]["input"]["name"] == "images"
    assert card["graphs"]["encoder"]["output"] == {"name": "codes", "dtype": "float32", "shape": ["N", 2],
                                                   "meaning": "the posterior mean of q(z|x)"}
    assert card["graphs"]["decoder"]["output"]["shape"] == ["N", 1, 28, 28]
    assert card["versions"]["torch"] == torch.__version__ and card["versions"]["latentlab"]
    assert card["versions"]["onnx"] == onnx.__version__
    assert card["metrics"] is None and card["training"]["epochs"] == 1


def test_the_card_carries_metrics_json_and_a_user_datasets_licence_note(exported, tmp_path):
    run_dir = shutil.copytree(exported["dense"][0], tmp_path / "run")
    metrics = {"run": "dense", "reconstruction": {"bce_per_pixel": 0.2, "psnr_db": 15.0}}
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    meta = json.loads((run_dir / "meta.json").read_text())
    run = load_run(run_dir)
    run.meta = {**meta, "dataset": "my_digits"}
    run.model.train()
    card = json.loads(to_onnx(run, tmp_path / "onnx")["card"].read_text())
    assert card["metrics"] == metrics
    assert card["data"]["dataset"] == "my_digits" and "not a latentlab data set" in card["data"]["licence"]
    assert run.model.training, "exporting a Run must leave its model's mode alone"


def test_the_card_of_a_colour_run_describes_colour_input_and_a_built_sets_licence(sample, tmp_path):
    from latentlab.data import BUILT

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (64, 32, 32, 3), dtype=np.uint8)
    cfg = override(preset_config("mnist-simple"), {"train.epochs": 1, "train.batch_size": 32, "name": "tiles",
                                                   "model.kind": "dense", "model.hidden": [16], "model.latent_dim": 4})
    train(cfg, x[:48], x[48:], tmp_path / "tiles", quiet=True, meta={"dataset": "photo-tiles"})
    card = json.loads(to_onnx(tmp_path / "tiles", tmp_path / "onnx")["card"].read_text())
    assert card["image_shape"] == [3, 32, 32]
    assert "RGB colour 32x32" in card["preprocessing"] and "strokes" not in card["preprocessing"]
    assert "28x28" not in card["preprocessing"]
    assert card["data"]["licence"] == BUILT["photo-tiles"].licence and "CC BY 2.0" in card["data"]["licence"]


def test_the_card_names_the_licence_of_every_built_in_data_set():
    from latentlab.data import ARCHIVES, BUILT
    from latentlab.export.card import OWN_DATA, data_licence, preprocessing

    assert "CC BY-SA 3.0 (MNIST)" in data_licence("tinted-digits")
    for name in [*BUILT, *ARCHIVES, *SAMPLES]:
        assert data_licence(name) != OWN_DATA, name
    assert data_licence("my_digits") == OWN_DATA
    assert preprocessing((1, 32, 32)) == "uint8/255, light strokes on black, 32x32 as the training data"
    assert "grey 40x20" in preprocessing((1, 20, 40)) and "no digit-style steps" in preprocessing((1, 20, 40))


def test_latentlab_export_writes_the_graphs_and_the_card(exported, tmp_path, capsys):
    run_dir, _ = exported["conv"]
    assert "onnx" in FORMATS
    assert main(["export", str(run_dir), "--format", "onnx", "-o", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(tmp_path / "out" / f) for f in ("encoder.onnx", "decoder.onnx", "model_card.json")]
    assert main(["export", str(tmp_path / "missing")]) == 2
    assert "not a directory" in capsys.readouterr().err


def test_without_the_onnx_extra_export_says_how_to_install_it(exported, monkeypatch, tmp_path, capsys):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxscript" else real(name, *a))
    run_dir, _ = exported["dense"]
    with pytest.raises(ConfigError, match=r"onnxscript.*pip install 'latentlab\[onnx\]'"):
        to_onnx(run_dir, tmp_path)
    assert main(["export", str(run_dir), "-o", str(tmp_path)]) == 2
    assert "latentlab[onnx]" in capsys.readouterr().err and not list(tmp_path.iterdir())


def test_the_docs_onnxruntime_lines_decode_a_latent_point(exported, tmp_path, monkeypatch):
    block = re.search(r"```python\n(import numpy as np, onnxruntime as ort.*?)```", EXPORTING.read_text(), re.S)
    assert block, "docs/tutorials/exporting.md: the onnxruntime example is missing"
    code = block.group(1)
    assert len(code.strip().splitlines()) == 5
    run_dir, paths = exported["vae"]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "mnist-vae").mkdir(parents=True)
    (tmp_path / "runs" / "mnist-vae" / "onnx").symlink_to(paths["decoder"].parent)
    exec(compile(code, "exporting.md", "exec"), {})
    from PIL import Image

    decoded = np.asarray(Image.open(tmp_path / "decoded.png"))
    with torch.no_grad():
        expected = load_run(run_dir).model.decode(torch.tensor([[-1.0, 3.0]]))[0, 0].numpy()
    assert np.abs(decoded / 255.0 - expected).max() <= 0.5 / 255 + 1e-6


def test_latentlab_export_is_reachable_from_a_bare_import() -> None:
    import latentlab

    assert latentlab.export.to_onnx is to_onnx and "export" in dir(latentlab)
