"""Running an image network over overlapping tiles, blended with linear ramps so the seams vanish.

Only one tile's intermediates are alive at a time, so memory does not grow with the image
(tiled VAE encode/decode, tiled model upscaling).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of `tile` covering [0, length), neighbours sharing at least `overlap`."""
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, tile - overlap))
    return [*starts, length - tile]


def edge_ramp(size: int, ramp: int, rise: bool, fall: bool) -> Tensor:
    """1-D weights of one tile: 1 inside, rising over the first `ramp` samples and/or falling over the last."""
    weights = torch.ones(size)
    steps = torch.arange(1, ramp + 1, dtype=torch.float32) / (ramp + 1)
    if ramp and rise:
        weights[:ramp] = steps
    if ramp and fall:
        weights[size - ramp :] = torch.minimum(weights[size - ramp :], steps.flip(0))
    return weights


def blend_tiles(
    out: Tensor, tile: int, overlap: int, run: Callable[[int, int, int, int], Tensor], scale: int
) -> Tensor:
    """Fill `out` ([B, C, H*scale, W*scale], preallocated) from tiles of an input grid of H x W.

    `run(y, x, h, w)` processes the input window at (y, x) of size (h, w) and returns it `scale`
    times larger; overlaps are weighted with ramps on the edges tiles share.
    """
    in_height, in_width = out.shape[2] // scale, out.shape[3] // scale
    total = torch.zeros(1, 1, out.shape[2], out.shape[3])
    h, w = min(tile, in_height), min(tile, in_width)
    for y in tile_starts(in_height, tile, overlap):
        down = edge_ramp(h * scale, overlap * scale, y > 0, y + h < in_height)
        for x in tile_starts(in_width, tile, overlap):
            across = edge_ramp(w * scale, overlap * scale, x > 0, x + w < in_width)
            weight = down[:, None] * across[None, :]
            region = (slice(None), slice(None), slice(y * scale, (y + h) * scale), slice(x * scale, (x + w) * scale))
            out[region] += run(y, x, h, w) * weight
            total[region] += weight
    return out.div_(total)
