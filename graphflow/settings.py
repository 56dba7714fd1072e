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
    "extra_model_paths": "GRAPHFLOW_EXTRA_MODEL_PATHS",
    "precision": "GRAPHFLOW_PRECISION",
}
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16", "fp16")
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

    Models are read from `models_dir` and from `extra_model_paths` (ComfyUI extra_model_paths.yaml files,
    AUTOMATIC1111 or ComfyUI installations: see graphflow.models.extra_paths). `precision` (auto, fp32,
    bf16, fp16) is the U-Net's and VAE's; `compile_unet` runs the U-Net through torch.compile (kernels kept
    in `compile_cache_dir`); with `vram_budget_bytes` the U-Net stays in CPU memory and visits the GPU
    layer by layer, at most that many bytes of it there at once (a low-VRAM mode).
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
    extra_model_paths: tuple[Path, ...] = ()
    precision: str = "auto"
    compile_unet: bool = False
    compile_cache_dir: Path | None = None
    vram_budget_bytes: int | None = None

    def __post_init__(self) -> None:
        for name in _PATHS:
            value = getattr(self, name)
            if value is not None and not isinstance(value, Path):
                object.__setattr__(self, name, Path(value))
        if self.device not in DEVICES:
            raise ValueError(f"device {self.device!r} is not one of: {', '.join(DEVICES)}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision {self.precision!r} is not one of: {', '.join(PRECISIONS)}")
        budget = self.vram_budget_bytes
        if budget is not None and (isinstance(budget, bool) or not isinstance(budget, int) or budget < 0):
            raise ValueError(f"setting vram_budget_bytes must be a whole number >= 0, not {budget!r}")
        self._use_extra_model_paths()
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
                raw = environ[variable]
                if name in _NUMBERS:
                    values[name] = _read(variable, raw, *_NUMBERS[name])
                elif name == "extra_model_paths":
                    values[name] = tuple(part for part in raw.split(os.pathsep) if part)
                else:
                    values[name] = raw
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        """A copy with some settings changed."""
        return dataclasses.replace(self, **changes)

    def _use_extra_model_paths(self) -> None:
        sources: Any = self.extra_model_paths  # a single folder or file is taken as one source
        paths = (Path(sources),) if isinstance(sources, str | os.PathLike) else tuple(Path(s) for s in sources)
        for source in paths:
            if not source.exists():
                raise ValueError(f"extra model paths: {source} does not exist")
        object.__setattr__(self, "extra_model_paths", paths)
        _EXTRA_MODEL_SOURCES[Path(self.models_dir).resolve()] = paths

    def __reduce__(self) -> tuple[Any, ...]:
        # built again through __init__ where unpickled (a worker process), so the extra folders are registered there
        return (_rebuilt, (type(self), {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}))


# models folder -> the extra sources the Settings using it named; nodes get only `models_dir`, so the model
# listing (graphflow.models.paths) finds the extras here. Per models folder: two servers never share them.
_EXTRA_MODEL_SOURCES: dict[Path, tuple[Path, ...]] = {}


def extra_model_sources(models_dir: str | os.PathLike[str]) -> tuple[Path, ...]:
    """The extra model sources (yaml files or installations) registered for the models folder `models_dir`."""
    return _EXTRA_MODEL_SOURCES.get(Path(models_dir).resolve(), ())


def _rebuilt(cls: type[Settings], values: dict[str, Any]) -> Settings:
    return cls(**values)


def _read(variable: str, raw: str, number: type[int] | type[float], meaning: str) -> int | float:
    try:
        return number(raw)
    except ValueError:
        raise ValueError(f"{variable}={raw!r} is not {meaning}") from None
