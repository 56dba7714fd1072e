"""Mask nodes: make masks (solid, from an image channel or colour), change them, combine them, crop them."""

import torch

from graphflow.api import BOOLEAN, FLOAT, IMAGE, INT, MASK, Context, Input, Output, enum_type, hookimpl, node
from graphflow.imaging import masks

CHANNEL = enum_type("MASK_CHANNEL", list(masks.CHANNELS))
OPERATION = enum_type("MASK_OPERATION", list(masks.OPERATIONS))
MAX_SIZE = 16384


@node("graphflow.mask.solid", version="1.0.0", title="Solid Mask", category="mask")
class SolidMask:
    """A mask of the given size filled with one value."""

    value = Input(FLOAT, default=1.0, min=0.0, max=1.0, step=0.01)
    width = Input(INT, default=512, min=1, max=MAX_SIZE, budget="width")
    height = Input(INT, default=512, min=1, max=MAX_SIZE, budget="height")
    mask = Output(MASK)

    def run(self, ctx: Context, value: float, width: int, height: int) -> torch.Tensor:
        return masks.solid(value, width, height)


@node("graphflow.mask.from_image", version="1.0.0", title="Image to Mask", category="mask")
class ImageToMask:
    """One channel of an image as a mask (alpha only exists on 4-channel images)."""

    image = Input(IMAGE)
    channel = Input(CHANNEL, default="red")
    mask = Output(MASK)

    def run(self, ctx: Context, image: torch.Tensor, channel: str) -> torch.Tensor:
        return masks.from_image(image, channel)


@node("graphflow.mask.from_color", version="1.0.0", title="Image Colour to Mask", category="mask")
class ImageColorToMask:
    """1 where a pixel has exactly the given 8-bit colour (0xRRGGBB as a number), else 0."""

    image = Input(IMAGE)
    color = Input(INT, default=0xFFFFFF, min=0, max=0xFFFFFF)
    mask = Output(MASK)

    def run(self, ctx: Context, image: torch.Tensor, color: int) -> torch.Tensor:
        return masks.from_color(image, color)


@node("graphflow.mask.to_image", version="1.0.0", title="Mask to Image", category="mask")
class MaskToImage:
    """A grey image showing the mask (white = 1)."""

    mask = Input(MASK)
    image = Output(IMAGE)

    def run(self, ctx: Context, mask: torch.Tensor) -> torch.Tensor:
        return masks.to_image(mask)


@node("graphflow.mask.threshold", version="1.0.0", title="Threshold Mask", category="mask")
class ThresholdMask:
    """1 where the mask is above `value`, else 0."""

    mask = Input(MASK)
    value = Input(FLOAT, default=0.5, min=0.0, max=1.0, step=0.01)
    result = Output(MASK)

    def run(self, ctx: Context, mask: torch.Tensor, value: float) -> torch.Tensor:
        return masks.threshold(mask, value)


@node("graphflow.mask.invert", version="1.0.0", title="Invert Mask", category="mask")
class InvertMask:
    """1 - mask: what was masked is kept and the other way round."""

    mask = Input(MASK)
    result = Output(MASK)

    def run(self, ctx: Context, mask: torch.Tensor) -> torch.Tensor:
        return masks.invert(mask)


@node("graphflow.mask.grow", version="1.0.0", title="Grow Mask", category="mask")
class GrowMask:
    """Grow the mask by `pixels` (negative shrinks it); tapered corners grow diamonds instead of squares."""

    mask = Input(MASK)
    pixels = Input(INT, default=0, min=-MAX_SIZE, max=MAX_SIZE)
    tapered_corners = Input(BOOLEAN, default=True)
    result = Output(MASK)

    def run(self, ctx: Context, mask: torch.Tensor, pixels: int, tapered_corners: bool) -> torch.Tensor:
        return masks.grow(mask, pixels, tapered_corners)


@node("graphflow.mask.feather", version="1.0.0", title="Feather Mask", category="mask")
class FeatherMask:
    """Soften the mask: fade it out linearly towards each edge over the given pixels, then blur it.

    `blur_radius` is a Gaussian blur (sigma = radius / 3); 0 leaves the edges of shapes hard.
    """

    mask = Input(MASK)
    left = Input(INT, default=0, min=0, max=MAX_SIZE)
    top = Input(INT, default=0, min=0, max=MAX_SIZE)
    right = Input(INT, default=0, min=0, max=MAX_SIZE)
    bottom = Input(INT, default=0, min=0, max=MAX_SIZE)
    blur_radius = Input(INT, default=0, min=0, max=1024)
    result = Output(MASK)

    def run(
        self, ctx: Context, mask: torch.Tensor, left: int, top: int, right: int, bottom: int, blur_radius: int
    ) -> torch.Tensor:
        return masks.blur(masks.feather_edges(mask, left, top, right, bottom), blur_radius)


@node("graphflow.mask.composite", version="1.0.0", title="Composite Masks", category="mask")
class CompositeMasks:
    """Combine `source` into `destination` with its top-left corner at (x, y) (ComfyUI's MaskComposite).

    The result has the destination's size; outside the source it is unchanged, and a source reaching
    past the destination is cut, so the two masks may have any sizes. and/or/xor round both to 0/1
    first; the result is clamped to 0..1. Batches must match, or one of them be 1.
    """

    destination = Input(MASK)
    source = Input(MASK)
    x = Input(INT, default=0, min=-MAX_SIZE, max=MAX_SIZE)
    y = Input(INT, default=0, min=-MAX_SIZE, max=MAX_SIZE)
    operation = Input(OPERATION, default="multiply")
    result = Output(MASK)

    def run(
        self, ctx: Context, destination: torch.Tensor, source: torch.Tensor, x: int, y: int, operation: str
    ) -> torch.Tensor:
        return masks.composite(destination, source, x, y, operation)


@node("graphflow.mask.crop", version="1.0.0", title="Crop Mask", category="mask")
class CropMask:
    """The region of `width` x `height` at (x, y); cut where it passes the right or bottom edge."""

    mask = Input(MASK)
    x = Input(INT, default=0, min=0, max=MAX_SIZE)
    y = Input(INT, default=0, min=0, max=MAX_SIZE)
    width = Input(INT, default=512, min=1, max=MAX_SIZE)
    height = Input(INT, default=512, min=1, max=MAX_SIZE)
    result = Output(MASK)

    def run(self, ctx: Context, mask: torch.Tensor, x: int, y: int, width: int, height: int) -> torch.Tensor:
        return masks.crop(mask, x, y, width, height)


@hookimpl
def register_nodes(register) -> None:
    """Provide the mask nodes."""
    for cls in (
        SolidMask,
        ImageToMask,
        ImageColorToMask,
        MaskToImage,
        ThresholdMask,
        InvertMask,
        GrowMask,
        FeatherMask,
        CompositeMasks,
        CropMask,
    ):
        register(cls)
