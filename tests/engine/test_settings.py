"""Settings belong to a run: one frozen object, read from the environment only when asked, at start-up."""

import dataclasses
from pathlib import Path

import pytest

from graphflow.settings import Settings


def test_settings_are_frozen():
    settings = Settings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.device = "cpu"  # type: ignore[misc]
    assert settings.replace(device="cpu").device == "cpu" and settings.device == "auto"


def test_given_values_win_over_the_environment_which_wins_over_defaults():
    environ = {
        "GRAPHFLOW_MODELS_DIR": "/env/models",
        "GRAPHFLOW_INPUT_DIR": "/env/input",
        "GRAPHFLOW_DEVICE": "cpu",
        "GRAPHFLOW_MODEL_CACHE_BYTES": "1000",
    }
    settings = Settings.from_environment(environ, input_dir="mine", device=None)
    assert settings.models_dir == Path("/env/models") and settings.input_dir == Path("mine")
    assert settings.device == "cpu" and settings.model_cache_bytes == 1000
    assert Settings.from_environment({}).models_dir == Path("models")


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"device": "tpu"}, "device 'tpu' is not one of: auto, cpu, cuda, mps"),
        ({"max_image_pixels": -1}, "max_image_pixels must be a whole number >= 0"),
    ],
)
def test_a_bad_setting_is_named(changes, fragment):
    with pytest.raises(ValueError, match=fragment):
        Settings(**changes)


def test_a_bad_number_in_the_environment_names_the_variable():
    with pytest.raises(ValueError, match="GRAPHFLOW_MODEL_CACHE_BYTES='lots' is not a whole number"):
        Settings.from_environment({"GRAPHFLOW_MODEL_CACHE_BYTES": "lots"})
