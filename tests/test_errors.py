"""Errors carry their data (field, value, allowed, hint), built by one lookup helper; the command line maps the
field to its flag and the web maps error kinds to HTTP statuses, neither parsing the message."""

from __future__ import annotations

import pytest

from latentlab.errors import ConfigError, ImageError, ImageFormatError, ImageTooLargeError, LatentlabError, choose
from latentlab.models import MODELS, build_model
from latentlab.presets import preset_config


def test_choose_returns_the_entry_or_an_error_carrying_the_choices() -> None:
    assert choose({"a": 1, "b": 2}, "b", "letter") == 2
    assert choose(("a", "b"), "a", "letter") == "a"
    with pytest.raises(ConfigError) as info:
        choose({"a": 1, "b": 2}, "c", "letter", hint=" (or add one)")
    exc = info.value
    assert str(exc) == "letter='c' is invalid: choose one of a, b (or add one)"
    assert (exc.field, exc.value, exc.allowed, exc.problem) == ("letter", "c", ("a", "b"), "letter='c' is invalid")
    with pytest.raises(ConfigError, match="choose one of a"):
        choose(("a",), ["not", "hashable"], "letter")  # a wrong type is refused, not a TypeError


def test_registry_errors_carry_field_value_and_allowed() -> None:
    from dataclasses import replace

    cfg = preset_config("mnist-simple").model
    with pytest.raises(ConfigError) as info:
        build_model(replace(cfg, kind="gan"))
    assert (info.value.field, info.value.value, info.value.allowed) == ("model.kind", "gan", tuple(MODELS))
    with pytest.raises(ConfigError, match=r"unknown preset 'x': choose one of .*latentlab presets") as info:
        preset_config("x")
    assert info.value.field == "preset"


def test_the_cli_notes_the_flag_of_the_field_an_error_carries() -> None:
    from latentlab.cli.flags import Flag, with_flags
    from latentlab.errors import DataChangedError

    # "score" is not written in the message: only the carried field names it.
    score = Flag("score", "--score", "value")
    assert with_flags(ConfigError("no such detector", field="score"), {"score": score}) == \
        "no such detector (see --score)"
    assert with_flags(ConfigError("no detector for score='x'", field="score"), {"score": score}) == \
        "no detector for --score 'x'"
    exc = DataChangedError("other images", field="resume", related=("dataset", "allow_data_change"))
    assert (exc.field, exc.related) == ("resume", ("dataset", "allow_data_change"))
    assert LatentlabError("x").related == ()


@pytest.mark.parametrize(("error", "status"), [(ImageError("x"), 400), (ImageTooLargeError("x"), 413),
                                               (ImageFormatError("x"), 415)])
def test_the_web_maps_image_error_kinds_to_statuses(error: ImageError, status: int) -> None:
    from latentlab.web.routes import image_status

    assert isinstance(error, LatentlabError) and not hasattr(error, "status")
    assert image_status(error) == status
