"""Fitting a hint picture to the latent being sampled: centre crop, resize, channel count, batch."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def fit_size(hint: Tensor, height: int, width: int) -> Tensor:
    """`hint` [B, C, H, W] cropped about its centre to the aspect of height x width, then resized (nearest-exact).

    ComfyUI fits ControlNet hints the same way; a hint already of that size is returned unchanged.
    """
    old_height, old_width = hint.shape[-2:]
    if (old_height, old_width) == (height, width):
        return hint
    old_aspect, new_aspect = old_width / old_height, width / height
    top = left = 0
    if old_aspect > new_aspect:
        left = round((old_width - old_width * new_aspect / old_aspect) / 2)
    elif old_aspect < new_aspect:
        top = round((old_height - old_height * old_aspect / new_aspect) / 2)
    cropped = hint[..., top : old_height - top, left : old_width - left]
    return F.interpolate(cropped, size=(height, width), mode="nearest-exact")


def fit_channels(hint: Tensor, channels: int, source: str) -> Tensor:
    """`hint` with the channel count the model reads: RGB averaged to grey for one-channel models."""
    if hint.shape[1] == channels:
        return hint
    if channels == 1:
        return hint.mean(dim=1, keepdim=True)
    if hint.shape[1] == 1:
        return hint.expand(-1, channels, -1, -1)
    raise ValueError(f"{source} reads hints with {channels} channels; the image has {hint.shape[1]}")


def per_latent(rows: Tensor, batch: int) -> Tensor:
    """One hint row per latent of the batch: the hint batch repeats cyclically (a single hint serves all)."""
    if rows.shape[0] == batch:
        return rows
    if rows.shape[0] == 1:
        return rows.expand(batch, *rows.shape[1:])
    return rows[torch.arange(batch, device=rows.device) % rows.shape[0]]
