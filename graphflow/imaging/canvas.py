"""Canvas maths on IMAGE tensors [B, H, W, C]: solid images, padding for outpainting, stitching side by side."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

OUTPAINT_GREY = 0.5
DIRECTIONS = ("right", "down", "left", "up")
# spacing colours as ComfyUI's ImageStitch names them; a single number is a grey level for every channel
SPACING_COLORS: dict[str, float | tuple[float, float, float]] = {
    "white": 1.0,
    "black": 0.0,
    "red": (1.0, 0.0, 0.0),
    "green": (0.0, 1.0, 0.0),
    "blue": (0.0, 0.0, 1.0),
}


def rgb_of(color: int) -> tuple[float, float, float]:
    """A 0xRRGGBB number as (r, g, b) in 0..1."""
    return tuple(((color >> shift) & 0xFF) / 0xFF for shift in (16, 8, 0))  # type: ignore[return-value]


def solid_image(width: int, height: int, batch_size: int, color: int) -> Tensor:
    """An IMAGE batch of one colour (0xRRGGBB), like ComfyUI's EmptyImage."""
    return torch.tensor(rgb_of(color), dtype=torch.float32).expand(batch_size, height, width, 3).clone()


def outpaint_feather(
    height: int, width: int, top: bool, bottom: bool, left: bool, right: bool, feathering: int
) -> Tensor:
    """The mask over the original picture [H, W]: 0 inside, rising as ((f - d) / f)^2 within f pixels of a padded side.

    d counts from a padded side: i from the top, H - i to the bottom (so the last row is 1 away), j and W - j
    across; sides that are not padded do not count. No feathering unless 0 < 2 * f < both sides (ComfyUI's rule).
    """
    if feathering <= 0 or 2 * feathering >= height or 2 * feathering >= width:
        return torch.zeros(height, width)
    rows = torch.arange(height, dtype=torch.float64)[:, None]
    cols = torch.arange(width, dtype=torch.float64)[None, :]
    far_rows, far_cols = torch.full_like(rows, height), torch.full_like(cols, width)
    distance = torch.minimum(
        torch.minimum(rows if top else far_rows, height - rows if bottom else far_rows),
        torch.minimum(cols if left else far_cols, width - cols if right else far_cols),
    )
    rise = ((feathering - distance) / feathering) ** 2
    return torch.where(distance < feathering, rise, torch.zeros_like(rise)).float()


def pad_for_outpaint(
    image: Tensor, left: int, top: int, right: int, bottom: int, feathering: int
) -> tuple[Tensor, Tensor]:
    """The image on a grey canvas grown by the given pixels, and the MASK [1, H', W'] to repaint.

    The mask is 1 on the new border and feathered into the original near each padded side (ComfyUI's
    ImagePadForOutpaint).
    """
    batch, height, width, channels = image.shape
    canvas = torch.full((batch, height + top + bottom, width + left + right, channels), OUTPAINT_GREY)
    canvas[:, top : top + height, left : left + width] = image
    mask = torch.ones(height + top + bottom, width + left + right)
    inner = outpaint_feather(height, width, top != 0, bottom != 0, left != 0, right != 0, feathering)
    mask[top : top + height, left : left + width] = inner
    return canvas, mask[None]


def total_pixels_size(height: int, width: int, megapixels: float, multiple: int = 1) -> tuple[int, int]:
    """(height, width) with about `megapixels` * 1024^2 pixels and the same aspect, sides multiples of `multiple`."""
    scale = math.sqrt(megapixels * 1024 * 1024 / (width * height))
    return (
        max(1, round(height * scale / multiple)) * multiple,
        max(1, round(width * scale / multiple)) * multiple,
    )


def repeat_last_to(image: Tensor, batch: int) -> Tensor:
    """The batch made `batch` long by repeating its last item."""
    missing = batch - image.shape[0]
    return image if missing <= 0 else torch.cat([image, image[-1:].expand(missing, -1, -1, -1)])


def _pad_centre(image: Tensor, dim: int, size: int, value: float) -> Tensor:
    """`image` padded along `dim` (1 = rows, 2 = columns) to `size`, the extra split evenly (more after)."""
    extra = size - image.shape[dim]
    if extra <= 0:
        return image
    before, after = extra // 2, extra - extra // 2
    pad = (0, 0, before, after) if dim == 2 else (0, 0, 0, 0, before, after)
    return F.pad(image, pad, mode="constant", value=value)


def _spacing(batch: int, height: int, width: int, channels: int, color: str) -> Tensor:
    value = SPACING_COLORS[color]
    fill = torch.tensor(value if isinstance(value, tuple) else (value,) * 3, dtype=torch.float32)
    return fill[:channels].expand(batch, height, width, channels).clone()


def stitch(image1: Tensor, image2: Tensor, direction: str, spacing_width: int, spacing_color: str) -> Tensor:
    """image2 joined to image1 on the `direction` side (ComfyUI's ImageStitch, sizes already matched or not).

    Shorter batches repeat their last image; a side that differs is padded evenly with the spacing colour's
    grey level (black for red, green and blue); the spacing is rounded up to an even width.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"unknown stitch direction {direction!r}; use one of {', '.join(DIRECTIONS)}")
    if spacing_color not in SPACING_COLORS:
        raise ValueError(f"unknown spacing colour {spacing_color!r}; use one of {', '.join(SPACING_COLORS)}")
    batch = max(image1.shape[0], image2.shape[0])
    image1, image2 = repeat_last_to(image1, batch), repeat_last_to(image2, batch)
    across = direction in ("left", "right")
    other = 1 if across else 2  # the side that must agree
    value = SPACING_COLORS[spacing_color]
    pad_value = value if isinstance(value, float) else 0.0
    size = max(image1.shape[other], image2.shape[other])
    image1, image2 = _pad_centre(image1, other, size, pad_value), _pad_centre(image2, other, size, pad_value)
    parts = [image2, image1] if direction in ("left", "up") else [image1, image2]
    if spacing_width > 0:
        width = spacing_width + spacing_width % 2
        shape = (size, width) if across else (width, size)
        parts.insert(1, _spacing(batch, *shape, image1.shape[-1], spacing_color))
    return torch.cat(parts, dim=2 if across else 1)


def stitch_target_size(image1: Tensor, image2: Tensor, direction: str) -> tuple[int, int]:
    """(height, width) image2 takes to match image1's side along the stitch, keeping its aspect ratio (truncated)."""
    (h1, w1), (h2, w2) = image1.shape[1:3], image2.shape[1:3]
    aspect = w2 / h2
    if direction in ("left", "right"):
        return h1, max(1, int(h1 * aspect))
    return max(1, int(w1 / aspect)), w1
