"""Loading ControlNets and T2I-Adapters offline: single files in any supported layout, or diffusers folders."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from accelerate import init_empty_weights
from diffusers import ControlNetModel, T2IAdapter

from graphflow.cache import ModelCache
from graphflow.models.cache import cached, file_identity
from graphflow.models.convert import load_exact
from graphflow.models.embedded import embedded_configs
from graphflow.models.files import StateDict, load_metadata, load_state_dict
from graphflow.models.loader import resolve_device
from graphflow.sampling.model import DiffusionModel

from .convert import (
    adapter_from_original,
    adapter_from_original_light,
    add_base_weights,
    controlnet_from_ldm,
    strip_ldm_prefix,
)
from .detect import (
    DIFF_MARKER,
    UnknownControlLayoutError,
    adapter_config,
    classify,
    controlnet_config,
    controlnet_family,
)
from .model import ControlKind, ControlModel

_CLASSES: dict[str, tuple[ControlKind, type]] = {
    "ControlNetModel": ("controlnet", ControlNetModel),
    "T2IAdapter": ("t2i_adapter", T2IAdapter),
}
_WEIGHT_FILES = (
    "diffusion_pytorch_model.safetensors",
    "diffusion_pytorch_model.fp16.safetensors",
    "diffusion_pytorch_model.bin",
    "diffusion_pytorch_model.fp16.bin",
)
_SHARD_INDEX = "diffusion_pytorch_model.safetensors.index.json"


def load_control_model(
    path: str | os.PathLike[str],
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
    cache: ModelCache | None = None,
) -> ControlModel:
    """A ControlNet or T2I-Adapter from a single file or a diffusers folder; never touches the network.

    Loaded models are shared through `cache` while the file is unchanged. A diff ControlNet is refused
    here: it needs its base model (`load_diff_control_model`).
    """
    path = _existing(path)
    device, dtype = resolve_device(device, dtype)
    key = ("control", *file_identity(path), str(device), str(dtype))
    return cached(cache, key, lambda: _load(path, device, dtype, base=None))


def load_diff_control_model(
    path: str | os.PathLike[str],
    model: DiffusionModel,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> ControlModel:
    """A ControlNet whose file may hold differences to `model`'s UNet weights (ComfyUI's diff ControlNets).

    The base weights are those `model` samples with (its patches applied). The result is not put in the
    model cache: it depends on the model as well as on the file (the executor's output cache keeps it).
    A file without the diff marker loads as a plain ControlNet.
    """
    path = _existing(path)
    device, dtype = resolve_device(device, dtype)
    return _load(path, device, dtype, base=model)


def _existing(path: str | os.PathLike[str]) -> Path:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"ControlNet / T2I-Adapter not found: {path}")
    return path


@dataclass
class _Weights:
    """What a file or folder holds: the model class and config to build, and its weights in that class's names."""

    kind: ControlKind
    family: str
    cls: type
    config: dict[str, Any]
    state: StateDict
    what: str


def _load(path: Path, device: torch.device, dtype: torch.dtype, base: DiffusionModel | None) -> ControlModel:
    read = _read_folder(path) if path.is_dir() else _read_file(path, base)
    # cast the weights, not the model: diffusers warns on every module cast
    state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in read.state.items()}
    with init_empty_weights():
        module = read.cls.from_config(read.config)
    load_exact(module, state, read.what)
    module = module.eval().requires_grad_(False).to(device)
    return ControlModel(kind=read.kind, module=module, family=read.family, source=path.name, device=device, dtype=dtype)


def _read_file(path: Path, base: DiffusionModel | None) -> _Weights:
    source = path.name
    state = load_state_dict(path)
    embedded = embedded_configs(load_metadata(path), source)
    layout = classify(state, source)
    if layout.startswith("t2i"):
        if layout == "t2i_original":
            state = adapter_from_original(state, source)
        elif layout == "t2i_original_light":
            state = adapter_from_original_light(state, source)
        family, config = adapter_config(state, source)
        config = embedded.get("t2i_adapter") or config
        return _Weights("t2i_adapter", family, T2IAdapter, config, state, f"{source}: T2I-Adapter")
    is_diff = DIFF_MARKER in state
    if is_diff and base is None:
        raise UnknownControlLayoutError(
            f"{source} is a diff ControlNet (its weights are differences to a base model): load it with "
            "Load ControlNet (diff), which takes the model"
        )
    if layout == "controlnet_ldm":
        state = controlnet_from_ldm(strip_ldm_prefix(state, source), source)
    family = controlnet_family(state)
    if is_diff and base is not None:
        with base.active_unet() as unet:
            state = add_base_weights(state, unet.state_dict(), source)
    config = embedded.get("controlnet") or controlnet_config(state, family, source)
    return _Weights("controlnet", family, ControlNetModel, config, state, f"{source}: ControlNet")


def _read_folder(folder: Path) -> _Weights:
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise UnknownControlLayoutError(
            f"{folder} is not a diffusers ControlNet or T2I-Adapter folder: it has no config.json"
        )
    config = json.loads(config_path.read_text())
    class_name = config.get("_class_name")
    if class_name not in _CLASSES:
        raise UnknownControlLayoutError(
            f"{folder.name}: its config.json describes a {class_name!r}; graphflow loads "
            f"{' and '.join(_CLASSES)} folders"
        )
    kind, cls = _CLASSES[class_name]
    state = _folder_weights(folder)
    if kind == "controlnet":
        family = controlnet_family(state)
    else:
        family = "sdxl" if config.get("adapter_type") == "full_adapter_xl" else "sd1"
    settings = {k: v for k, v in config.items() if not k.startswith("_")}
    return _Weights(kind, family, cls, settings, state, f"{folder.name}: {class_name}")


def _folder_weights(folder: Path) -> StateDict:
    for name in _WEIGHT_FILES:
        if (folder / name).is_file():
            return load_state_dict(folder / name)
    index = folder / _SHARD_INDEX
    if index.is_file():
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        state: StateDict = {}
        for shard in shards:
            state |= load_state_dict(folder / shard)
        return state
    raise FileNotFoundError(f"{folder.name} has a config.json but no weights ({', '.join(_WEIGHT_FILES[::2])})")
