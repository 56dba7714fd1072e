"""Speed options for the U-Net: torch.compile and a VRAM budget (low-VRAM mode).

Channels-last memory format is measured by benchmarks/speed_memory.py but not offered: it has not been
measured faster on the CPU here (docs/benchmarks.md)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import torch

from .device import place
from .streaming import stream_weights

M = TypeVar("M", bound=torch.nn.Module)
COMPILE_CACHE_ENV = "TORCHINDUCTOR_CACHE_DIR"


@dataclass(frozen=True)
class Speed:
    """How the U-Net runs: `compile` with torch.compile, and with a `vram_budget_bytes` its weights stay in
    CPU memory and visit the device layer by layer."""

    compile: bool = False
    vram_budget_bytes: int | None = None
    compile_cache_dir: Path | None = None


def speed_up(unet: M, device: torch.device, dtype: torch.dtype, speed: Speed) -> M:
    """`unet` placed on `device` in `dtype` and set up as `speed` asks."""
    if speed.vram_budget_bytes is not None and device.type != "cpu":
        unet = place(unet, "cpu", dtype)
        stream_weights(unet, device, dtype, speed.vram_budget_bytes)
    else:
        unet = place(unet, device, dtype)
    if speed.compile:
        use_compile_cache(speed.compile_cache_dir)
        unet.compile(dynamic=False)  # in place: the module keeps its type, config and attributes
    return unet


def use_compile_cache(folder: Path | None) -> None:
    """Keep torch.compile's kernels in `folder` between runs (unless TORCHINDUCTOR_CACHE_DIR is already set).

    Inductor reads its cache folder only from that variable, so this is the one place graphflow sets one."""
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        os.environ.setdefault(COMPILE_CACHE_ENV, str(folder.resolve()))
