"""Tiny random upscale networks and their weights renamed into the layouts real model files use."""

from __future__ import annotations

import re

import torch
from torch import Tensor, nn

from graphflow.upscale import UpscaleSpec, build

FEATURES, GROWTH = 8, 4


def rrdb_spec(scale: int, unshuffle: int = 1, blocks: int = 1) -> UpscaleSpec:
    """A tiny RRDBNet spec (BasicSR names); `unshuffle` 2 or 4 makes Real-ESRGAN's x2plus/x1 shape."""
    return UpscaleSpec(
        arch="esrgan",
        layout="real-esrgan",
        scale=scale,
        in_channels=3,
        out_channels=3,
        features=FEATURES,
        blocks=blocks,
        growth=GROWTH,
        unshuffle=unshuffle,
    )


def compact_spec(scale: int, blocks: int = 2) -> UpscaleSpec:
    """A tiny Real-ESRGAN compact spec."""
    return UpscaleSpec(
        arch="compact",
        layout="real-esrgan-compact",
        scale=scale,
        in_channels=3,
        out_channels=3,
        features=FEATURES,
        blocks=blocks,
    )


def tiny_network(spec: UpscaleSpec, seed: int = 0) -> nn.Module:
    """`spec`'s network with seeded random weights whose output spreads over 0..1 (not clamped flat)."""
    torch.manual_seed(seed)
    network = build(spec).eval()
    if spec.arch == "esrgan":  # a random RRDB trunk's output is tiny: amplify it around mid grey
        with torch.no_grad():
            network.conv_last.weight.mul_(8.0)
            network.conv_last.bias.fill_(0.5)
    return network


def _rrdb_names(layout: str, upsamples: int, blocks: int) -> list[tuple[str, str]]:
    """(canonical pattern, layout replacement) rules, as the ESRGAN, BSRGAN and Real-ESRGAN releases name them."""
    if layout == "real-esrgan":
        return [(rf"^ups\.{i}\.", f"conv_up{i + 1}.") for i in range(upsamples)]
    if layout == "esrgan-trunk":
        return [
            (r"^body\.(\d+)\.rdb(\d)\.", r"RRDB_trunk.\1.RDB\2."),
            (r"^conv_body\.", "trunk_conv."),
            (r"^conv_hr\.", "HRconv."),
            *((rf"^ups\.{i}\.", f"upconv{i + 1}.") for i in range(upsamples)),
        ]
    assert layout == "esrgan-sequential"
    return [
        (r"^body\.(\d+)\.rdb(\d)\.conv(\d)\.", r"model.1.sub.\1.RDB\2.conv\3.0."),
        (r"^conv_body\.", f"model.1.sub.{blocks}."),
        (r"^conv_first\.", "model.0."),
        *((rf"^ups\.{i}\.", f"model.{3 * (i + 1)}.") for i in range(upsamples)),
        (r"^conv_hr\.", f"model.{3 * upsamples + 2}."),
        (r"^conv_last\.", f"model.{3 * upsamples + 4}."),
    ]


def in_layout(network: nn.Module, spec: UpscaleSpec, layout: str) -> dict[str, Tensor]:
    """The network's weights under the key names of `layout` (compact nets have one layout)."""
    state = {key: value.clone() for key, value in network.state_dict().items()}
    if spec.arch == "compact":
        return state
    renamed = {}
    for key, value in state.items():
        for pattern, replacement in _rrdb_names(layout, spec.upsamples, spec.blocks):
            key = re.sub(pattern, replacement, key)
        renamed[key] = value
    return renamed
