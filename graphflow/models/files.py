"""Reading weight files safely: safetensors, or torch files restricted to plain tensors."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file

StateDict = dict[str, torch.Tensor]

SAFETENSORS_SUFFIXES = frozenset({".safetensors", ".sft"})
TORCH_SUFFIXES = frozenset({".ckpt", ".pt", ".pth", ".bin"})


class UnsafeCheckpointError(ValueError):
    """A torch file that needs full pickle (arbitrary code) to load; it was not loaded."""


class CheckpointFormatError(ValueError):
    """A weight file that is unreadable or has an unsupported format."""


def load_state_dict(path: str | os.PathLike[str]) -> StateDict:
    """Load a flat name -> tensor dict from .safetensors or (weights-only) .ckpt/.pt/.pth/.bin."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weight file not found: {path}")
    suffix = path.suffix.lower()
    if suffix in SAFETENSORS_SUFFIXES:
        try:
            return load_file(str(path), device="cpu")
        except Exception as exc:  # safetensors raises its own error types
            raise CheckpointFormatError(f"{path} is not a valid safetensors file: {exc}") from exc
    if suffix in TORCH_SUFFIXES:
        return _tensors_only(load_torch_weights_only(path), path)
    raise CheckpointFormatError(
        f"{path}: unsupported weight file type {suffix!r}; expected one of "
        f"{', '.join(sorted(SAFETENSORS_SUFFIXES | TORCH_SUFFIXES))}"
    )


def load_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """The string metadata of a safetensors file (empty for other formats)."""
    path = Path(path)
    if path.suffix.lower() not in SAFETENSORS_SUFFIXES:
        return {}
    with safe_open(str(path), framework="pt") as handle:
        return dict(handle.metadata() or {})


def load_torch_weights_only(path: Path) -> object:
    """A torch file loaded weights-only (tensors and plain containers); a pickle needing code is refused."""
    try:
        return torch.load(path, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError:
        raise UnsafeCheckpointError(
            f"{path} needs full pickle to load (it contains objects other than tensors, which could "
            "run code), so it was NOT loaded. Convert it to .safetensors with a tool you trust."
        ) from None
    except Exception as exc:
        raise CheckpointFormatError(f"{path} could not be read as a torch weight file: {exc}") from exc


def _tensors_only(obj: object, path: Path) -> StateDict:
    for wrapper in ("state_dict", "params_ema", "params"):  # Lightning, Real-ESRGAN releases
        if isinstance(obj, dict) and isinstance(obj.get(wrapper), dict):
            obj = obj[wrapper]
            break
    if not isinstance(obj, dict):
        raise CheckpointFormatError(f"{path} holds a {type(obj).__name__}, not a dict of tensors")
    tensors = {k: v for k, v in obj.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}
    if not tensors:
        raise CheckpointFormatError(f"{path} contains no tensors")
    return tensors
