"""Mask maths on MASK tensors [B, H, W] in 0..1, and the pixel-region helpers images share with masks."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

CHANNELS: dict[str, int] = {"red": 0, "green": 1, "blue": 2, "alpha": 3}


def _logical(op: Callable[[Tensor, Tensor], Tensor]) -> Callable[[Tensor, Tensor], Tensor]:
    return lambda a, b: op(a.round().bool(), b.round().bool()).float()


OPERATIONS: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "multiply": torch.mul,
    "add": torch.add,
    "subtract": torch.sub,
    "min": torch.minimum,
    "max": torch.maximum,
    "and": _logical(torch.logical_and),
    "or": _logical(torch.logical_or),
    "xor": _logical(torch.logical_xor),
}


def solid(value: float, width: int, height: int) -> Tensor:
    """A single mask of `height` x `width` filled with `value`."""
    return torch.full((1, height, width), float(value))


def threshold(mask: Tensor, value: float) -> Tensor:
    """1 where the mask is above `value`, else 0."""
    return (mask > value).float()


def invert(mask: Tensor) -> Tensor:
    """1 - mask."""
    return 1.0 - mask


def grow(mask: Tensor, pixels: int, tapered_corners: bool = True) -> Tensor:
    """Dilate by `pixels` (negative: erode); tapered corners grow a diamond, otherwise a square.

    The image border is not an edge: nothing outside the mask erodes into it.
    """
    if pixels == 0:
        return mask.clone()
    shrink = pixels < 0
    grid = (1.0 - mask if shrink else mask)[:, None]
    steps = abs(pixels)
    if tapered_corners:
        for _ in range(steps):
            grid = _dilate_cross(grid)
    else:  # a (2n+1)-square dilation is separable into a row pass and a column pass
        grid = F.max_pool2d(F.pad(grid, (steps, steps, 0, 0), mode="replicate"), (1, 2 * steps + 1), stride=1)
        grid = F.max_pool2d(F.pad(grid, (0, 0, steps, steps), mode="replicate"), (2 * steps + 1, 1), stride=1)
    grown = grid[:, 0]
    return 1.0 - grown if shrink else grown


def _dilate_cross(grid: Tensor) -> Tensor:
    padded = F.pad(grid, (1, 1, 1, 1), mode="replicate")
    centre = padded[..., 1:-1, 1:-1]
    neighbours = (padded[..., :-2, 1:-1], padded[..., 2:, 1:-1], padded[..., 1:-1, :-2], padded[..., 1:-1, 2:])
    for neighbour in neighbours:
        centre = torch.maximum(centre, neighbour)
    return centre


def feather_edges(mask: Tensor, left: int, top: int, right: int, bottom: int) -> Tensor:
    """Fade the mask to 0 towards each image edge over the given number of pixels (linear ramps).

    Pixel i (0 = at the edge) of an n-pixel ramp is multiplied by (i + 1) / n; ramps meeting in a
    corner multiply. A ramp longer than the mask is cut to the mask's size.
    """
    height, width = mask.shape[-2:]
    across = _edge_ramps(width, left, right)
    down = _edge_ramps(height, top, bottom)
    return mask * down[:, None] * across[None, :]


def _edge_ramps(size: int, start: int, end: int) -> Tensor:
    weights = torch.ones(size)
    start, end = min(start, size), min(end, size)
    if start:
        weights[:start] *= (torch.arange(start) + 1.0) / start
    if end:
        weights[size - end :] *= ((torch.arange(end) + 1.0) / end).flip(0)
    return weights


def gaussian_kernel(radius: int) -> Tensor:
    """Normalised 1-D Gaussian weights over [-radius, radius] with sigma = radius / 3."""
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
    weights = torch.exp(-0.5 * (offsets / (radius / 3.0)) ** 2)
    return weights / weights.sum()


def blur(mask: Tensor, radius: int) -> Tensor:
    """Gaussian blur (sigma = radius / 3, cut at `radius`); pixels beyond the border repeat the edge."""
    if radius <= 0:
        return mask.clone()
    kernel = gaussian_kernel(radius)
    grid = F.pad(mask[:, None], (radius, radius, radius, radius), mode="replicate")
    grid = F.conv2d(grid, kernel.view(1, 1, 1, -1))
    grid = F.conv2d(grid, kernel.view(1, 1, -1, 1))
    return grid[:, 0].clamp(0.0, 1.0)


def common_batch(**tensors: Tensor) -> int:
    """The batch size the named tensors broadcast to: all equal, or 1; a clear error naming them otherwise."""
    sizes = {name: tensor.shape[0] for name, tensor in tensors.items()}
    if len(set(sizes.values()) - {1}) > 1:
        listed = ", ".join(f"{name} has {size}" for name, size in sizes.items())
        raise ValueError(
            f"batch sizes differ ({listed}); give batches of the same size, or a batch of 1 to use for every item"
        )
    return max(sizes.values())


def paste_region(
    destination: tuple[int, int], source: tuple[int, int], x: int, y: int
) -> tuple[tuple[slice, slice], tuple[slice, slice]] | None:
    """(rows, columns) of `destination` and of `source` (both (height, width)) that overlap when the
    source's top-left corner is placed at (x, y); None when they do not overlap."""
    (dest_h, dest_w), (src_h, src_w) = destination, source
    top, bottom = max(y, 0), min(y + src_h, dest_h)
    left, right = max(x, 0), min(x + src_w, dest_w)
    if top >= bottom or left >= right:
        return None
    return ((slice(top, bottom), slice(left, right)), (slice(top - y, bottom - y), slice(left - x, right - x)))


def composite(destination: Tensor, source: Tensor, x: int, y: int, operation: str) -> Tensor:
    """Combine `source` into `destination` where it lands with its top-left corner at (x, y).

    Outside the source the destination is unchanged; the result is clamped to 0..1; a source
    (partly) outside the destination is cut. Batches must match or one of them be 1.
    """
    if operation not in OPERATIONS:
        raise ValueError(f"unknown mask operation {operation!r}; use one of {', '.join(OPERATIONS)}")
    batch = common_batch(destination=destination, source=source)
    out = destination.expand(batch, -1, -1).clone()
    region = paste_region(tuple(destination.shape[-2:]), tuple(source.shape[-2:]), x, y)
    if region is None:
        return out
    (rows, cols), (src_rows, src_cols) = region
    src = source.expand(batch, -1, -1)[:, src_rows, src_cols]
    out[:, rows, cols] = OPERATIONS[operation](out[:, rows, cols], src)
    return out.clamp_(0.0, 1.0)


def crop_window(size: tuple[int, int], x: int, y: int, width: int, height: int, what: str) -> tuple[slice, slice]:
    """(rows, columns) of a crop of `size` (height, width); cut at the far edges, an error if it starts outside."""
    full_h, full_w = size
    if not (0 <= x < full_w and 0 <= y < full_h):
        raise ValueError(
            f"crop at x={x}, y={y} starts outside the {what}, which is {full_w}x{full_h} "
            f"(x must be below {full_w}, y below {full_h})"
        )
    return slice(y, min(y + height, full_h)), slice(x, min(x + width, full_w))


def crop(mask: Tensor, x: int, y: int, width: int, height: int) -> Tensor:
    """The `width` x `height` region at (x, y), cut where it passes the mask's right or bottom edge."""
    rows, cols = crop_window(tuple(mask.shape[-2:]), x, y, width, height, "mask")
    return mask[:, rows, cols].clone()


def from_image(image: Tensor, channel: str) -> Tensor:
    """One channel of an IMAGE [B, H, W, C] as a MASK; 'alpha' needs a 4-channel image."""
    index = CHANNELS[channel]
    if index >= image.shape[-1]:
        raise ValueError(
            f"the image has {image.shape[-1]} channels, so it has no {channel} channel; "
            "images here are RGB: take the mask output of Load Image for its transparency"
        )
    return image[..., index].clone()


def from_color(image: Tensor, color: int) -> Tensor:
    """1 where a pixel's 8-bit RGB value equals `color` (0xRRGGBB), else 0."""
    levels = (image[..., :3].clamp(0, 1) * 255).round().to(torch.int64)
    packed = (levels[..., 0] << 16) + (levels[..., 1] << 8) + levels[..., 2]
    return (packed == color).float()


def to_image(mask: Tensor) -> Tensor:
    """A grey IMAGE [B, H, W, 3] whose channels all equal the mask."""
    return mask[..., None].expand(-1, -1, -1, 3).clone()
