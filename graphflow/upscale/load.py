"""Loading upscale models from safe weight files, shared through the model cache."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from graphflow.cache import ModelCache
from graphflow.models.cache import cached, file_identity
from graphflow.models.device import pick_device
from graphflow.models.files import load_state_dict

from .detect import build, detect
from .model import UpscaleModel
from .spec import NotAnUpscaleModelError


def load_upscale_model(
    path: str | os.PathLike[str], device: str = "auto", cache: ModelCache | None = None
) -> UpscaleModel:
    """An UpscaleModel from a .safetensors or weights-only .pth file, on `device` ("auto", "cpu", "cuda", "mps")."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"upscale model not found: {path}")
    target, dtype = pick_device(device)
    key = ("upscale_model", *file_identity(path), str(target), str(dtype))
    return cached(cache, key, lambda: _load(path, target, dtype))


def _load(path: Path, device: torch.device, dtype: torch.dtype) -> UpscaleModel:
    try:
        spec, weights = detect(load_state_dict(path))
    except NotAnUpscaleModelError as exc:
        raise NotAnUpscaleModelError(f"{path.name}: {exc}") from None
    network = build(spec)
    try:
        network.load_state_dict(weights)
    except RuntimeError as exc:
        detail = str(exc).splitlines()[1].strip() if "\n" in str(exc) else str(exc)
        raise NotAnUpscaleModelError(
            f"{path.name}: looks like {spec.title} ({spec.layout} layout) but its weights "
            f"do not fit that network: {detail}"
        ) from None
    return UpscaleModel(network, spec, device, dtype)
