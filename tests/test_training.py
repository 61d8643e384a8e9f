import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from latentlab.config import override
from latentlab.presets import PRESETS, preset_config
from latentlab.runs import load_run
from latentlab.training import TrainingError, train


def tiny(name: str = "mnist-simple", **changes) -> object:
    base = {"train.epochs": 2, "train.batch_size": 64}
    return override(preset_config(name), {**base, **changes})


def weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_trains_a_few_steps_on_its_bundled_sample(name, tmp_path):
    from latentlab.data import load_dataset

    cfg = override(preset_config(name), {"train.epochs": 1, "train.batch_size": 128})
    # CIFAR-10 ships no sample: photo-tiles, colour 32x32 and built offline, stands in for it.
    data = load_dataset({"cifar10": "photo-tiles"}.get(cfg.dataset, f"{cfg.dataset}-sample"), progress=False)
    x_train, x_test = data.x_train[:512], data.x_test[:128]  # a few steps each
    if cfg.model.kind != "dense":
        cfg = override(cfg, {"model.hidden": [8, 16] if cfg.model.kind == "conv" else [32]})
    # A conditional VAE (mnist-cvae) trains on the labels; the other models ignore them.
    result = train(cfg, x_train, x_test, tmp_path / name, quiet=True, y_train=data.y_train[:512],
                   y_val=data.y_test[:128])
    assert result.status == "finished"
    rec = result.history[0]
    assert math.isfinite(rec["train"]["loss"]) and math.isfinite(rec["val"]["loss"])
    assert rec["samples_per_s"] > 0
    run = load_run(tmp_path / name)
    assert run.config == cfg and len(run.history) == 1


def test_loss_goes_down(bars):
    x_train, _, x_test, _ = bars
    result = train(tiny(**{"train.epochs": 4}), x_train, x_test, None, quiet=True)
    losses = [r["val"]["loss"] for r in result.history]
    assert losses[-1] < losses[0] * 0.9


@pytest.mark.parametrize("name", ["mnist-simple", "mnist-vae", "mnist-denoise"])
def test_same_seed_gives_identical_weights(name, bars):
    x_train, _, x_test, _ = bars
    cfg = tiny(name, **({"model.hidden": [32]} if name == "mnist-vae" else {}))
    a = train(cfg, x_train, x_test, None, quiet=True)
    b = train(cfg, x_train, x_test, None, quiet=True)
    assert same(weights(a.model), weights(b.model))
    c = train(override(cfg, {"train.seed": 1}), x_train, x_test, None, quiet=True)
    assert not same(weights(a.model), weights(c.model))


def test_training_leaves_the_global_rng_alone(bars):
    x_train, _, x_test, _ = bars
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    train(tiny(), x_train, x_test, None, quiet=True)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("name", ["mnist-simple", "mnist-vae", "mnist-conv"])
def test_interrupted_then_resumed_equals_uninterrupted(name, bars, tmp_path):
    # mnist-conv: channels-last weights, whose restored Adam moments must take the weights' layout.
    x_train, _, x_test, _ = bars
    sizes = {"mnist-vae": {"model.hidden": [32]}, "mnist-conv": {"model.hidden": [4, 8]}}
    cfg = tiny(name, **{"train.epochs": 3, **sizes.get(name, {})})
    full = train(cfg, x_train, x_test, tmp_path / "full", quiet=True)
    # 512 images / 64 = 8 steps per epoch: stop in the middle of epoch 2.
    part = train(cfg, x_train, x_test, tmp_path / "part", quiet=True, max_steps=11)
    assert part.status == "interrupted"
    state = json.loads((tmp_path / "part" / "state.json").read_text())
    assert state["epoch"] == 1 and state["step"] == 3
    resumed = train(cfg, x_train, x_test, tmp_path / "part", quiet=True, resume=True)
    assert resumed.status == "finished"
    assert same(weights(full.model), weights(resumed.model))
    assert [r["train"] for r in full.history] == [r["train"] for r in resumed.history]
    assert same(weights(load_run(tmp_path / "part").model), weights(full.model))


def test_resume_without_checkpoint_is_a_clear_error(bars, tmp_path):
    x_train, _, x_test, _ = bars
    with pytest.raises(TrainingError, match="no checkpoint"):
        train(tiny(), x_train, x_test, tmp_path / "none", quiet=True, resume=True)


def test_nan_loss_stops_and_keeps_last_good_checkpoint(bars, tmp_path, monkeypatch):
    from latentlab.models.autoencoder import Autoencoder

    x_train, _, x_test, _ = bars
    cfg = tiny(**{"train.epochs": 1})
    train(cfg, x_train, x_test, tmp_path / "run", quiet=True)
    good = weights(load_run(tmp_path / "run").model)
    original = Autoencoder.loss

    def poisoned(self, x, target=None):
        return {k: v * float("nan") for k, v in original(self, x, target).items()}

    monkeypatch.setattr(Autoencoder, "loss", poisoned)
    with pytest.raises(TrainingError, match="last good checkpoint") as info:
        train(override(cfg, {"train.epochs": 3}), x_train, x_test, tmp_path / "run", quiet=True, resume=True)
    assert "train.lr" in str(info.value) and "after epoch 1" in str(info.value)
    assert same(weights(load_run(tmp_path / "run").model), good)


def test_bad_training_images_are_rejected(bars):
    with pytest.raises(TrainingError, match="uint8"):
        train(tiny(), bars[0].astype(np.float32), None, None, quiet=True)


def test_early_stopping_stops_before_the_last_epoch(bars):
    x_train, _, x_test, _ = bars
    cfg = tiny(**{"train.epochs": 30, "train.patience": 1, "train.lr": 0.05})
    result = train(cfg, x_train, x_test, None, quiet=True)
    assert result.status == "early-stopped" and len(result.history) < 30


def test_sigint_saves_a_checkpoint_and_exits_cleanly(bars, tmp_path):
    x_train, _, x_test, _ = bars
    np.savez(tmp_path / "bars.npz", x=np.concatenate([x_train] * 4), y=np.zeros(len(x_train) * 4, np.int64))
    script = f"""
import numpy as np, sys
from latentlab.config import override
from latentlab.models import build_model
from latentlab.presets import preset_config
from latentlab.training import train
d = np.load({str(tmp_path / 'bars.npz')!r})
cfg = override(preset_config('mnist-deep'), {{'train.epochs': 1000, 'train.batch_size': 32}})
print('ready', flush=True)
r = train(cfg, d['x'], None, __import__('pathlib').Path({str(tmp_path / 'run')!r}), quiet=True)
print(r.status, flush=True)
"""
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        # The first epoch's checkpoint shows the loop (and its signal handler) is running.
        deadline = time.monotonic() + 60
        while not (tmp_path / "run" / "meta.json").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert out.strip().endswith("interrupted")
    meta = json.loads((tmp_path / "run" / "meta.json").read_text())
    assert meta["status"] == "interrupted"
    load_run(tmp_path / "run")


def test_history_is_written_as_json_lines(bars, tmp_path):
    x_train, _, x_test, _ = bars
    train(tiny("mnist-vae", **{"model.hidden": [32]}), x_train, x_test, tmp_path / "r", quiet=True)
    lines = (tmp_path / "r" / "history.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    assert [r["epoch"] for r in rows] == [1, 2]
    assert {"loss", "recon", "kl"} <= set(rows[0]["train"]) and {"loss", "recon", "kl"} <= set(rows[0]["val"])
    assert all(k in rows[0] for k in ("samples_per_s", "time_s", "lr"))
    assert Path(tmp_path / "r" / "meta.json").is_file()


def test_subnormal_weights_are_flushed_while_training_on_a_cpu(bars, tmp_path) -> None:
    """A VAE at train.lr=0.2 was reported to train 60x slower (410 against ~25,000 images/s), from subnormal floats,
    which many x86 CPUs compute in microcode. While `fit` runs on a CPU they are flushed to zero; after, torch's
    default (no flushing) is back. (On this AMD EPYC subnormals cost nothing measurable, so the pin is the flush
    itself, not a timing.)"""
    seen = []

    def probe(record, model) -> None:
        seen.append(float(torch.tensor([1e-40], dtype=torch.float32).mul(1.0)))

    cfg = override(preset_config("mnist-vae"), {"train.epochs": 1, "model.hidden": [16], "train.device": "cpu"})
    train(cfg, bars[0][:256], None, None, quiet=True, callbacks=(probe,))
    assert seen == [0.0]
    assert float(torch.tensor([1e-40], dtype=torch.float32).mul(1.0)) > 0


def test_nan_loss_before_any_checkpoint_says_nothing_was_saved(bars, tmp_path, monkeypatch) -> None:
    from latentlab.models.autoencoder import Autoencoder

    original = Autoencoder.loss

    def poisoned(self, x, target=None):
        return {k: v * float("nan") for k, v in original(self, x, target).items()}

    monkeypatch.setattr(Autoencoder, "loss", poisoned)
    with pytest.raises(TrainingError, match=r"nothing was saved: no epoch finished, so .* holds no checkpoint"):
        train(tiny(**{"train.epochs": 1}), bars[0], None, tmp_path / "lr5", quiet=True)
    assert not (tmp_path / "lr5" / "model.safetensors").exists()


def test_a_run_says_running_until_it_ends(bars, tmp_path) -> None:
    """Each per-epoch checkpoint says "running" (a run killed in epoch 2 of 4 must not look finished); the end
    says how it ended."""
    statuses = []
    run_dir = tmp_path / "run"

    def look(record, model) -> None:
        if (run_dir / "meta.json").is_file():
            statuses.append(json.loads((run_dir / "meta.json").read_text())["status"])

    train(tiny(**{"train.epochs": 3}), bars[0], None, run_dir, quiet=True, callbacks=(look,))
    # The callback runs before that epoch's own checkpoint: it sees the previous epochs' "running".
    assert statuses == ["running", "running"]
    assert json.loads((run_dir / "meta.json").read_text())["status"] == "finished"


def test_resume_refuses_another_schedule_length_and_names_changed_fields(bars, tmp_path) -> None:
    cfg = tiny(**{"train.epochs": 4, "train.schedule": "cosine"})
    train(cfg, bars[0], None, tmp_path / "run", quiet=True, max_steps=3)
    with pytest.raises(TrainingError, match=r"train.epochs=8: its cosine learning-rate schedule was laid out over "
                                            r"4 epochs"):
        train(override(cfg, {"train.epochs": 8}), bars[0], None, tmp_path / "run", quiet=True, resume=True)
    with pytest.raises(TrainingError, match=r"model.latent_dim: run \d+, asked 16"):
        train(override(cfg, {"model.latent_dim": 16}), bars[0], None, tmp_path / "run", quiet=True, resume=True)
    result = train(cfg, bars[0], None, tmp_path / "run", quiet=True, resume=True)
    assert result.status == "finished" and len(result.history) == 4


def test_a_resume_with_fewer_epochs_than_done_is_refused_and_one_with_none_left_writes_nothing(bars, tmp_path):
    # Issue 26: --epochs 3 on a run of 7 epochs wrote config.json's epochs 3 beside meta.json's epochs_done 7.
    cfg, run_dir = tiny(**{"train.epochs": 3}), tmp_path / "run"
    train(cfg, bars[0], None, run_dir, quiet=True)
    files = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}
    with pytest.raises(TrainingError, match=r"with train.epochs=2: it has done 3 epochs already; nothing was written"):
        train(override(cfg, {"train.epochs": 2}), bars[0], None, run_dir, quiet=True, resume=True)
    result = train(cfg, bars[0], None, run_dir, quiet=True, resume=True)
    assert result.status == "finished" and len(result.history) == 3
    assert {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()} == files


@pytest.mark.parametrize(("name", "unit"), [("mnist-vae", "nats per image"), ("mnist-simple", "BCE per pixel")])
def test_every_epoch_line_names_the_loss_unit(name, unit, bars, capsys):
    x_train, _, x_test, _ = bars
    cfg = tiny(name, **{"model.hidden": [16]})
    result = train(cfg, x_train, x_test, None)
    epochs = [line for line in capsys.readouterr().err.splitlines() if line.startswith("epoch ")]
    assert len(epochs) == 2 and all(f"({unit})" in line for line in epochs)
    assert [r["units"] for r in result.history] == [unit, unit]


# ---- what fit and train accept ----------------------------------------------------------------------------------


def _fit_args(bars, **changes):
    from latentlab.config import RunConfig, TrainConfig

    cfg = RunConfig(train=TrainConfig(epochs=1, batch_size=128, device="cpu"), **changes)
    return bars[0][:256], bars[2][:64], cfg


@pytest.mark.parametrize(("model_cfg", "match"), [
    ({"latent_dim": 16}, r"model\.latent_dim: model has 16, cfg\.model says 32"),
    ({"kind": "vae", "hidden": [16]}, r"model\.kind: model is a VAE, cfg\.model says 'dense'"),
    ({"hidden": [64]}, r"model\.hidden: the model's layers differ .*hidden \[\]"),
    ({"likelihood": "gaussian"}, r"model\.likelihood: model has 'gaussian', cfg\.model says 'bernoulli'"),
])
def test_fit_refuses_a_model_its_config_does_not_describe_before_saving(bars, tmp_path, model_cfg, match):
    from latentlab.config import ModelConfig
    from latentlab.errors import ConfigError
    from latentlab.models import build_model
    from latentlab.training import fit

    x, x_val, cfg = _fit_args(bars)
    with pytest.raises(ConfigError, match=match):
        fit(build_model(ModelConfig(**model_cfg)), x, x_val, cfg, run_dir=tmp_path / "run", quiet=True)
    assert not (tmp_path / "run").exists()  # nothing a later load_run would trip on


def test_fit_takes_the_model_its_config_describes_and_a_dict_config(bars, tmp_path):
    from latentlab.models import build_model
    from latentlab.training import fit

    x, x_val, cfg = _fit_args(bars, model=__import__("latentlab").ModelConfig(latent_dim=8))
    as_dict = {"model": {"latent_dim": 8}, "train": {"epochs": 1, "batch_size": 128, "device": "cpu"}}
    result = fit(build_model(cfg.model), x, x_val, as_dict, run_dir=tmp_path / "run", quiet=True)
    assert result.status == "finished" and load_run(tmp_path / "run").config == cfg


def test_fit_says_what_it_needs_of_a_plain_module_or_a_config_of_another_type(bars, tmp_path):
    from latentlab.errors import ConfigError
    from latentlab.models import build_model
    from latentlab.training import fit

    x, x_val, cfg = _fit_args(bars)
    with pytest.raises(TypeError, match=r"fit needs a latentlab model.*got Linear, which has no loss method"):
        fit(torch.nn.Linear(784, 2), x, x_val, cfg, quiet=True)
    with pytest.raises(TypeError, match=r"cfg must be a latentlab\.RunConfig .*got str"):
        fit(build_model(cfg.model), x, x_val, "mnist-simple", quiet=True)

    class Custom(torch.nn.Module):  # honours the contract but is no registry model: trains, cannot be saved
        def __init__(self) -> None:
            super().__init__()
            self.inner = build_model(cfg.model)

        def loss(self, x, target=None):
            return self.inner.loss(x, target)

    assert fit(Custom(), x, x_val, cfg, quiet=True).status == "finished"
    with pytest.raises(ConfigError, match=r"run_dir=.*Custom is not one of latentlab\.MODELS; pass run_dir=None"):
        fit(Custom(), x, x_val, cfg, run_dir=tmp_path / "run", quiet=True)


def test_fit_and_train_take_float_images_in_0_1_like_the_rest_of_the_library(bars):
    from latentlab.models import build_model
    from latentlab.training import fit

    x, x_val, cfg = _fit_args(bars)
    torch.manual_seed(0)
    as_uint8 = fit(build_model(cfg.model), x, x_val, cfg, quiet=True).history[0]
    torch.manual_seed(0)
    as_float = fit(build_model(cfg.model), x / 255.0, x_val.astype(np.float32) / 255, cfg, quiet=True).history[0]
    assert as_float["train"]["loss"] == pytest.approx(as_uint8["train"]["loss"], rel=1e-5)
    assert train(cfg, x / 255.0, None, None, quiet=True).status == "finished"
    with pytest.raises(TrainingError, match=r"x_train holds floats in \[0, 255\]; images are uint8 0\.\.255 or floats"):
        fit(build_model(cfg.model), x.astype(np.float32), x_val, cfg, quiet=True)
    # Integers 0..255 of a wider type are taken as .npz files are; NaN is said as NaN, not as a range of NaN.
    torch.manual_seed(0)
    as_int64 = fit(build_model(cfg.model), x.astype(np.int64), x_val, cfg, quiet=True).history[0]
    assert as_int64["train"]["loss"] == as_uint8["train"]["loss"]
    with pytest.raises(TrainingError, match="x_train holds integers in \\[0, 1020\\]"):
        fit(build_model(cfg.model), x.astype(np.int64) * 4, x_val, cfg, quiet=True)
    nan = (x / 255.0).copy()
    nan[0, 0, 0] = np.nan
    with pytest.raises(TrainingError, match=r"x_train holds 1 NaN or infinite values, at \[0, 0, 0\] = nan;"):
        fit(build_model(cfg.model), nan, x_val, cfg, quiet=True)
    nan[3, 4, 5], nan[9, 1, 2], nan[2:6, 7, 7] = np.inf, -np.inf, np.nan  # 7 in all: the first five by position
    with pytest.raises(TrainingError, match=re.escape(
            "x_train holds 7 NaN or infinite values, at [0, 0, 0] = nan, [2, 7, 7] = nan, [3, 4, 5] = inf, "
            "[3, 7, 7] = nan, [4, 7, 7] = nan and 2 more;")):
        fit(build_model(cfg.model), nan, x_val, cfg, quiet=True)
