import json

import pytest

from latentlab.config import ConfigError, ModelConfig, NoiseConfig, RunConfig, TrainConfig, override
from latentlab.presets import PRESETS, preset_config


@pytest.mark.parametrize("name", list(PRESETS))
def test_presets_round_trip_through_json(name):
    for profile in ("quick", "full"):
        cfg = preset_config(name, profile)
        again = RunConfig.from_json(cfg.to_json())
        assert again == cfg
        assert isinstance(again.model.hidden, tuple)


def test_profiles_pick_the_preset_epochs():
    p = PRESETS["mnist-deep"]
    assert preset_config("mnist-deep", "quick").train.epochs == p.quick_epochs
    assert preset_config("mnist-deep", "full").train.epochs == p.full_epochs == 100


@pytest.mark.parametrize(("build", "field"), [
    (lambda: TrainConfig(epochs=0), "train.epochs"),
    (lambda: TrainConfig(lr=-1.0), "train.lr"),
    (lambda: TrainConfig(optimizer="sgdx"), "train.optimizer"),
    (lambda: TrainConfig(device="tpu"), "train.device"),
    (lambda: ModelConfig(kind="gan"), "model.kind"),
    (lambda: ModelConfig(latent_dim=0), "model.latent_dim"),
    (lambda: ModelConfig(kind="conv", hidden=(8, 8, 8, 8)), "model.hidden"),
    (lambda: NoiseConfig(kind="mask", factor=1.5), "noise.factor"),
    (lambda: RunConfig(profile="medium"), "profile"),
])
def test_invalid_values_name_the_field_and_the_allowed_range(build, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")) as info:
        build()
    assert "invalid" in str(info.value)


def test_override_dotted_fields_and_coerce_strings():
    cfg = override(preset_config("mnist-vae"), {"train.epochs": "3", "model.latent_dim": 4,
                                                 "train.noise.kind": "gaussian", "train.compile": "false"})
    assert cfg.train.epochs == 3 and cfg.model.latent_dim == 4 and cfg.train.noise.kind == "gaussian"
    assert cfg.train.compile is False


def test_override_unknown_field_lists_known_ones():
    with pytest.raises(ConfigError, match="known here"):
        override(preset_config("mnist-vae"), {"train.epoch": 3})


def test_from_dict_rejects_unknown_and_mistyped_fields():
    data = json.loads(preset_config("mnist-simple").to_json())
    data["model"]["depth"] = 3
    with pytest.raises(ConfigError, match="model.depth"):
        RunConfig.from_dict(data)
    data = json.loads(preset_config("mnist-simple").to_json())
    data["train"]["epochs"] = 2.5
    with pytest.raises(ConfigError, match="train.epochs"):
        RunConfig.from_dict(data)


def test_unknown_preset_lists_choices():
    with pytest.raises(ConfigError, match="mnist-vae"):
        preset_config("mnist-gan")
