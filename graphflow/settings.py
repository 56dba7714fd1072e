"""The settings of one run or one server: folders, device and limits, in one frozen object.

The CLI or the server makes it once (`Settings.from_environment` reads the `GRAPHFLOW_*` variables at
start-up, and only then); the executor owns it and hands it to nodes as `ctx.settings`. Nothing writes
the process environment, so two servers in one process never see each other's folders.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from graphflow.cache import DEFAULT_MODEL_CACHE_BYTES
from graphflow.resources import example_inputs_folder

Device = Literal["auto", "cpu", "cuda", "mps"]
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda", "mps")
ENVIRONMENT = {
    "models_dir": "GRAPHFLOW_MODELS_DIR",
    "input_dir": "GRAPHFLOW_INPUT_DIR",
    "device": "GRAPHFLOW_DEVICE",
    "model_cache_bytes": "GRAPHFLOW_MODEL_CACHE_BYTES",
    "plugin_import_timeout_s": "GRAPHFLOW_PLUGIN_IMPORT_TIMEOUT",
}
# The variables that hold numbers: how to read each, and what it must be.
_NUMBERS: dict[str, tuple[type[int] | type[float], str]] = {
    "model_cache_bytes": (int, "a whole number"),
    "plugin_import_timeout_s": (float, "a number of seconds"),
}
DEFAULT_PLUGIN_IMPORT_TIMEOUT_S = 30.0
_PATHS = ("models_dir", "input_dir", "output_dir", "temp_dir", "example_inputs_dir")
# The whole-number settings and the least each may be: a limit of 0 steps or 0 images would refuse everything.
_WHOLE_NUMBERS = {
    "model_cache_bytes": 0,
    "output_cache_entries": 0,
    "output_cache_bytes": 0,
    "max_image_pixels": 0,
    "max_batch": 1,
    "max_steps": 1,
}


@dataclass(frozen=True)
class Settings:
    """Folders, device and limits of one run or server; frozen, so a run can never change another's.

    The limits a server owner sets are checked when a workflow is validated, before it is queued:
    `max_image_pixels` (width x height of one image, mask or latent, in image pixels; also uploads),
    `max_batch` (images in a batch, repeats, frames) and `max_steps` (sampling steps).
    """

    models_dir: Path = Path("models")
    input_dir: Path = Path("input")
    output_dir: Path = Path("output")
    temp_dir: Path = Path("temp")
    example_inputs_dir: Path | None = dataclasses.field(default_factory=example_inputs_folder)
    device: Device = "auto"
    model_cache_bytes: int = DEFAULT_MODEL_CACHE_BYTES
    output_cache_entries: int = 10_000
    output_cache_bytes: int = 4 << 30
    max_image_pixels: int = 8192 * 8192
    max_batch: int = 64
    max_steps: int = 10_000
    plugin_import_timeout_s: float = DEFAULT_PLUGIN_IMPORT_TIMEOUT_S

    def __post_init__(self) -> None:
        for name in _PATHS:
            value = getattr(self, name)
            if value is not None and not isinstance(value, Path):
                object.__setattr__(self, name, Path(value))
        if self.device not in DEVICES:
            raise ValueError(f"device {self.device!r} is not one of: {', '.join(DEVICES)}")
        for name, least in _WHOLE_NUMBERS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(f"setting {name} must be a whole number >= {least}, not {value!r}")
        timeout = self.plugin_import_timeout_s
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout < math.inf:
            raise ValueError(f"setting plugin_import_timeout_s must be a number of seconds > 0, not {timeout!r}")

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None, **given: Any) -> Settings:
        """Settings from keyword values, else the `GRAPHFLOW_*` variables, else the defaults (None = not given)."""
        environ = os.environ if environ is None else environ
        values = {name: value for name, value in given.items() if value is not None}
        for name, variable in ENVIRONMENT.items():
            if name not in values and environ.get(variable):
                values[name] = (
                    _read(variable, environ[variable], *_NUMBERS[name]) if name in _NUMBERS else environ[variable]
                )
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        """A copy with some settings changed."""
        return dataclasses.replace(self, **changes)


def _read(variable: str, raw: str, number: type[int] | type[float], meaning: str) -> int | float:
    try:
        return number(raw)
    except ValueError:
        raise ValueError(f"{variable}={raw!r} is not {meaning}") from None
