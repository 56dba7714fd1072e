"""The CONTROL_NET value: a loaded ControlNet or T2I-Adapter and what it expects."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch

ControlKind = Literal["controlnet", "t2i_adapter"]
# the hint is resized to the latent's size times this (pixels per latent cell)
LATENT_TO_PIXELS = 8


@dataclass(frozen=True, eq=False)
class ControlModel:
    """A ControlNet (diffusers ControlNetModel) or T2I-Adapter (diffusers T2IAdapter), ready on its device.

    `family` is the model family it was made for ("sd1", "sd2", "sdxl"); `source` names the file it came
    from, for error messages. Loaded models are shared through the model cache and never changed.
    """

    kind: ControlKind
    module: Any
    family: str
    source: str
    device: torch.device
    dtype: torch.dtype

    @property
    def hint_channels(self) -> int:
        """Channels of the hint picture the model reads (3 for RGB; 1 for some T2I-Adapters)."""
        config = self.module.config
        return int(config.conditioning_channels if self.kind == "controlnet" else config.in_channels)

    @property
    def hint_multiple(self) -> int:
        """The hint's sides are rounded up to a multiple of this (a T2I-Adapter's pixel-unshuffle factor)."""
        return int(self.module.config.downscale_factor) if self.kind == "t2i_adapter" else 1

    @property
    def label(self) -> str:
        """How messages name it: kind, family and file."""
        kind = "ControlNet" if self.kind == "controlnet" else "T2I-Adapter"
        return f"{self.family} {kind} {self.source}"
