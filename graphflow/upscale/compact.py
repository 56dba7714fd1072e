"""Real-ESRGAN's compact network (SRVGGNetCompact): plain 3x3 convs with PReLU, then a pixel shuffle.

Weights are `body.N`: even N a convolution, odd N a PReLU; the last convolution gives
channels x scale^2 maps that the pixel shuffle turns into the larger image, which is added to the
nearest-neighbour upscaled input.
"""

from __future__ import annotations

import math
import re

import torch.nn.functional as F
from torch import Tensor, nn

from .spec import NotAnUpscaleModelError, UpscaleSpec

StateDict = dict[str, Tensor]
_KEY = re.compile(r"^body\.(\d+)\.(weight|bias)$")


class CompactNet(nn.Module):
    """SRVGGNetCompact with PReLU activations."""

    def __init__(self, spec: UpscaleSpec) -> None:
        super().__init__()
        self.scale = spec.scale
        layers: list[nn.Module] = [nn.Conv2d(spec.in_channels, spec.features, 3, padding=1), nn.PReLU(spec.features)]
        for _ in range(spec.blocks):
            layers += [nn.Conv2d(spec.features, spec.features, 3, padding=1), nn.PReLU(spec.features)]
        layers.append(nn.Conv2d(spec.features, spec.out_channels * spec.scale**2, 3, padding=1))
        self.body = nn.ModuleList(layers)

    def forward(self, x: Tensor) -> Tensor:
        """[B, C, H, W] -> [B, C, H * scale, W * scale]."""
        out = x
        for layer in self.body:
            out = layer(out)
        return F.pixel_shuffle(out, self.scale) + F.interpolate(x, scale_factor=float(self.scale), mode="nearest")


def matches(state: StateDict) -> bool:
    """Whether `state` has the compact net's key names (every key `body.N.weight|bias`, a 4-D first conv)."""
    first = state.get("body.0.weight")
    return first is not None and first.ndim == 4 and all(_KEY.match(key) for key in state)


def read(state: StateDict) -> tuple[UpscaleSpec, StateDict]:
    """The spec of a compact-net state dict (its keys are already canonical)."""
    last = max(int(_KEY.match(key)[1]) for key in state)
    prelu = state.get("body.1.weight")
    if prelu is None or prelu.ndim != 1 or last % 2:
        raise NotAnUpscaleModelError("a Real-ESRGAN compact net without PReLU weights at body.1 is not supported")
    first = state["body.0.weight"]
    channels, shuffled = first.shape[1], state[f"body.{last}.weight"].shape[0]
    scale = math.isqrt(shuffled // channels)
    if scale * scale * channels != shuffled:
        raise NotAnUpscaleModelError(f"compact net's last layer gives {shuffled} maps, not {channels} x a square scale")
    spec = UpscaleSpec(
        arch="compact",
        layout="real-esrgan-compact",
        scale=scale,
        in_channels=channels,
        out_channels=channels,
        features=first.shape[0],
        blocks=last // 2 - 1,
    )
    return spec, state
