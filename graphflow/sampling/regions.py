"""Where each conditioning entry acts on a latent: its crop, mask and feathered weights, as ComfyUI composes them.

An entry with an `area` predicts on that crop only; its weights fade over up to 8 cells at crop edges that lie
inside the latent (none with a mask). A `mask` weighs each cell. The sampler divides the weighted sum of all
predictions by the summed weights (ComfyUI's calc_cond_batch).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from graphflow.sampling.conditioning import CondEntry

Cells = tuple[int, int, int, int]
"""(height, width, y, x) in latent cells."""

FEATHER = 8  # cells over which an area's inner edges fade in
MIN_BOUNDS = 8  # a mask's bounding box is at least this many cells on each side (as ComfyUI makes it)


@dataclass(frozen=True, eq=False)
class Region:
    """An entry's crop of the latent (None: everywhere) and its mask resized to the latent [M, H, W] (or None)."""

    area: Cells | None
    mask: Tensor | None


def _mask_bounds(mask: Tensor) -> Cells:
    """The bounding box of a latent-sized mask's non-zero cells (over all its masks), at least MIN_BOUNDS wide."""
    covered = mask.abs().amax(dim=0) != 0
    if not covered.any():
        return (MIN_BOUNDS, MIN_BOUNDS, 0, 0)  # an all-zero mask does nothing: the smallest area will do
    ys, xs = torch.where(covered)
    top, left = int(ys.min()), int(xs.min())
    return max(MIN_BOUNDS, int(ys.max()) - top + 1), max(MIN_BOUNDS, int(xs.max()) - left + 1), top, left


def resolve(entry: CondEntry, height: int, width: int) -> Region:
    """The entry's region on a latent of height x width cells (fractions and mask bounds resolved)."""
    area = None if entry.area is None else entry.area.cells(height, width)
    mask = entry.mask
    if mask is not None:
        mask = mask.float()
        if tuple(mask.shape[1:]) != (height, width):
            mask = F.interpolate(mask.unsqueeze(1), size=(height, width), mode="bilinear").squeeze(1)
        if entry.mask_bounds:
            area = _mask_bounds(mask)
    return Region(area, mask)


def clamp(area: Cells | None, height: int, width: int) -> Cells | None:
    """The area with its size cut to what fits in the latent from its corner."""
    if area is None:
        return None
    h, w, y, x = area
    return min(h, height - y), min(w, width - x), y, x


def crop(x: Tensor, area: Cells | None) -> Tensor:
    """The crop of x [B, C, H, W] an area covers (all of x for None)."""
    if area is None:
        return x
    h, w, y, x0 = area
    return x[:, :, y : y + h, x0 : x0 + w]


def _rows(mask: Tensor, batch: int) -> Tensor:
    """One mask per latent: a single mask serves all, more repeat cyclically."""
    if mask.shape[0] == 1:
        return mask.expand(batch, *mask.shape[1:])
    return mask[torch.arange(batch) % mask.shape[0]]


def weights(entry: CondEntry, region: Region, x: Tensor) -> Tensor:
    """The per-cell weights of the entry's prediction on its crop of x [B, C, H, W] (ComfyUI's `mult`)."""
    height, width = x.shape[-2:]
    area = clamp(region.area, height, width)
    target = crop(x, area)
    if region.mask is not None:
        mask = crop(_rows(region.mask, x.shape[0]).unsqueeze(1).to(x), area) * entry.mask_strength
        mult = mask.expand_as(target) * entry.strength
    else:
        mult = torch.full_like(target, entry.strength)
    if region.mask is None and area is not None:
        mult = _feather(mult.clone(), area, height, width)
    return mult


def _feather(mult: Tensor, area: Cells, height: int, width: int) -> Tensor:
    """Fade the weights in over the crop's edges that lie inside the latent (up to FEATHER cells)."""
    h, w, y, x = area
    for dim, size, offset, full in ((2, h, y, height), (3, w, x, width)):
        steps = min(FEATHER, mult.shape[dim] // 4)
        for t in range(steps):
            factor = (t + 1) / steps
            if offset != 0:
                mult.narrow(dim, t, 1).mul_(factor)
            if size + offset < full:
                mult.narrow(dim, size - 1 - t, 1).mul_(factor)
    return mult


def _inside(inner: Cells, outer: Cells) -> bool:
    (ih, iw, iy, ix), (oh, ow, oy, ox) = inner, outer
    return iy >= oy and ix >= ox and iy + ih <= oy + oh and ix + iw <= ox + ow


Placed = tuple[CondEntry, Region]


def _opposite(side: list[Placed], entry: CondEntry, region: Region) -> None:
    """Give `side` an entry for `region`'s area made of its smallest entry covering it (ComfyUI's
    create_cond_with_same_area_if_none): the area's place, strength and add-ons, that entry's text."""
    if region.area is None:
        return
    smallest: Placed | None = None
    for candidate in side:
        other = candidate[1].area
        if other is not None:
            if _inside(region.area, other) and (
                smallest is None or smallest[1].area is None or math.prod(smallest[1].area[:2]) > math.prod(other[:2])
            ):
                smallest = candidate
        elif smallest is None:
            smallest = candidate
    if smallest is None or smallest[1].area == region.area:
        return
    side.append((entry.with_model_inputs_of(smallest[0]), region))


def equal_areas(sides: Sequence[list[Placed]]) -> None:
    """Make every area on one side exist on the others too, in place (so guidance compares like with like)."""
    for index, side in enumerate(sides):
        for entry, region in list(side):
            for other_index, other in enumerate(sides):
                if other_index != index:
                    _opposite(other, entry, region)
