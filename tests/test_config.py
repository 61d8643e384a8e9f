import json

import pytest

from latentlab.config import ConfigError, ModelConfig, NoiseConfig, RunConfig, TrainConfig, override
from latentlab.models import MODELS, VAE, build_model
from latentlab.presets import PRESETS, preset_config
from latentlab.training import check_config
from latentlab.training.noise import NOISES


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
    (lambda: check_config(RunConfig(train=TrainConfig(optimizer="sgdx"))), "train.optimizer"),
    (lambda: check_config(RunConfig(train=TrainConfig(schedule="warm"))), "train.schedule"),
    (lambda: check_config(RunConfig(train=TrainConfig(noise=NoiseConfig(kind="pink")))), "train.noise.kind"),
    (lambda: TrainConfig(device="tpu"), "train.device"),
    (lambda: check_config(RunConfig(model=ModelConfig(kind="gan"))), "model.kind"),
    (lambda: build_model(ModelConfig(kind="gan")), "model.kind"),
    (lambda: VAE(encoder="rnn"), "model.encoder"),
    (lambda: ModelConfig(latent_dim=0), "model.latent_dim"),
    (lambda: ModelConfig(kind="conv", hidden=(8, 8, 8, 8)), "model.hidden"),
    (lambda: NoiseConfig(kind="mask", factor=1.5), "train.noise.factor"),
    (lambda: RunConfig(profile="medium"), "profile"),
])
def test_invalid_values_name_the_field_and_the_allowed_range(build, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")) as info:
        build()
    assert "invalid" in str(info.value)


def test_registry_names_come_from_the_registries():
    # One source of truth: the error lists exactly the registry's keys, so a new entry is valid at once.
    with pytest.raises(ConfigError) as info:
        check_config(RunConfig(model=ModelConfig(kind="gan")))
    assert str(info.value).endswith(", ".join(MODELS))
    with pytest.raises(ConfigError) as info:
        check_config(RunConfig(train=TrainConfig(noise=NoiseConfig(kind="pink"))))
    assert str(info.value).endswith(", ".join(NOISES))


def test_override_dotted_fields_and_coerce_strings():
    cfg = override(preset_config("mnist-vae"), {"train.epochs": "3", "model.latent_dim": 4,
                                                 "train.noise.kind": "gaussian", "train.compile": "false"})
    assert cfg.train.epochs == 3 and cfg.model.latent_dim == 4 and cfg.train.noise.kind == "gaussian"
    assert cfg.train.compile is False


def test_override_unknown_field_lists_known_ones():
    with pytest.raises(ConfigError, match=r"did you mean train\.epochs\?\); known in train: batch_size"):
        override(preset_config("mnist-vae"), {"train.epoch": 3})
    with pytest.raises(ConfigError, match=r"'foo\.bar'; known at the top level: dataset, model\.\*, name"):
        override(preset_config("mnist-vae"), {"foo.bar": 3})


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
