"""Choosing the compute device and dtype."""

from __future__ import annotations

from typing import Literal, TypeVar

import torch

M = TypeVar("M", bound=torch.nn.Module)
DevicePreference = Literal["auto", "cpu", "cuda", "mps"]


class DeviceUnavailableError(RuntimeError):
    """The requested device is not present on this machine."""


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def pick_device(preference: str = "auto") -> tuple[torch.device, torch.dtype]:
    """(device, dtype): CUDA or MPS with fp16 when present (or asked for), else CPU with fp32."""
    preference = preference.lower()
    if preference == "cpu":
        return torch.device("cpu"), torch.float32
    if preference == "cuda" or (preference == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise DeviceUnavailableError(
                "device 'cuda' was requested but no CUDA GPU is available to torch "
                f"(torch {torch.__version__}); choose 'auto' or 'cpu'"
            )
        return torch.device("cuda"), torch.float16
    if preference == "mps" or (preference == "auto" and _mps_available()):
        if not _mps_available():
            raise DeviceUnavailableError(
                "device 'mps' was requested but Apple MPS is not available; choose 'auto' or 'cpu'"
            )
        return torch.device("mps"), torch.float16
    if preference == "auto":
        return torch.device("cpu"), torch.float32
    raise ValueError(f"unknown device preference {preference!r}; use one of auto, cpu, cuda, mps")


def cpu_computes_bf16_fast() -> bool:
    """Whether this CPU has bf16 matrix units (Intel AMX): bf16 convolutions then run several times fp32's speed."""
    probe = getattr(torch.cpu, "_is_amx_tile_supported", None)
    return bool(probe is not None and probe())


def place(module: M, device: torch.device | str, dtype: torch.dtype) -> M:
    """Move `module` to `device`, casting only when its dtype differs (diffusers warns on every cast)."""
    module = module.to(device)
    first = next(module.parameters(), None)
    if first is not None and first.dtype != dtype:
        module = module.to(dtype=dtype)
    return module
