"""Image operation nodes: resize, invert, crop, paste through a mask, pad, stitch, and batch utilities."""

from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from graphflow.api import BOOLEAN, FLOAT, IMAGE, INT, MASK, Context, Input, Output, enum_type, hookimpl, node
from graphflow.imaging import canvas
from graphflow.imaging.masks import common_batch, crop_window, paste_region
from graphflow.limits import check_pixels

RESIZE_METHOD = enum_type("RESIZE_METHOD", ["nearest", "bilinear", "bicubic", "lanczos", "area"])
CROP = enum_type("RESIZE_CROP", ["disabled", "center"])
DIRECTION = enum_type("STITCH_DIRECTION", list(canvas.DIRECTIONS))
SPACING_COLOR = enum_type("STITCH_SPACING_COLOR", list(canvas.SPACING_COLORS))
MAX_SIZE = 16384
_TORCH_MODES = {"nearest": "nearest-exact", "bilinear": "bilinear", "bicubic": "bicubic", "area": "area"}


def target_size(height: int, width: int, new_width: int, new_height: int) -> tuple[int, int]:
    """(height, width) asked for, where a 0 keeps the aspect ratio from the other side (both 0: unchanged)."""
    if new_width == 0 and new_height == 0:
        return height, width
    if new_width == 0:
        new_width = max(1, round(width * new_height / height))
    elif new_height == 0:
        new_height = max(1, round(height * new_width / width))
    return new_height, new_width


def _crop_to_aspect(pixels: Tensor, height: int, width: int) -> Tensor:
    """The centred part of `pixels` [B, C, H, W] that has the aspect ratio width:height."""
    old_h, old_w = pixels.shape[-2:]
    old_aspect, new_aspect = old_w / old_h, width / height
    x = round((old_w - old_w * new_aspect / old_aspect) / 2) if old_aspect > new_aspect else 0
    y = round((old_h - old_h * old_aspect / new_aspect) / 2) if old_aspect < new_aspect else 0
    return pixels[..., y : old_h - y, x : old_w - x]


def _lanczos(pixels: Tensor, height: int, width: int) -> Tensor:
    # PIL resamples single-channel float ("F") images with Lanczos-3, without 8-bit rounding
    planes = [
        np.asarray(Image.fromarray(plane.numpy()).resize((width, height), Image.Resampling.LANCZOS))
        for plane in pixels.reshape(-1, *pixels.shape[-2:]).float()
    ]
    return torch.from_numpy(np.stack(planes)).reshape(*pixels.shape[:2], height, width)


def resize(image: Tensor, width: int, height: int, method: str, crop: str = "disabled") -> Tensor:
    """IMAGE resized to width x height (0 keeps the aspect ratio); crop 'center' first cuts the sides
    that would otherwise be squashed. Bilinear and bicubic are antialiased when shrinking."""
    height, width = target_size(image.shape[1], image.shape[2], width, height)
    pixels = image.permute(0, 3, 1, 2)
    if crop == "center":
        pixels = _crop_to_aspect(pixels, height, width)
    if method == "lanczos":
        resized = _lanczos(pixels, height, width)
    else:
        smooth = method in ("bilinear", "bicubic")
        resized = F.interpolate(
            pixels,
            size=(height, width),
            mode=_TORCH_MODES[method],
            **({"antialias": True, "align_corners": False} if smooth else {}),
        )
    return resized.clamp(0.0, 1.0).permute(0, 2, 3, 1).contiguous()


@node("graphflow.image.scale_to", version="1.0.0", title="Scale Image To", category="image")
class ScaleImageTo:
    """Resize to width x height; a 0 keeps the aspect ratio. With crop 'center' the image is first cut
    to the new aspect ratio (equally on both sides) instead of being squashed."""

    image = Input(IMAGE)
    method = Input(RESIZE_METHOD, default="bilinear")
    width = Input(INT, default=512, min=0, max=MAX_SIZE, budget="width")
    height = Input(INT, default=512, min=0, max=MAX_SIZE, budget="height")
    crop = Input(CROP, default="disabled")
    result = Output(IMAGE)

    def run(self, ctx: Context, image: Tensor, method: str, width: int, height: int, crop: str) -> Tensor:
        height, width = target_size(image.shape[1], image.shape[2], width, height)
        check_pixels(ctx.settings, width, height)
        return resize(image, width, height, method, crop)


@node("graphflow.image.scale_by", version="1.0.0", title="Scale Image By", category="image")
class ScaleImageBy:
    """Resize by a factor (each side rounded to whole pixels, at least 1)."""

    image = Input(IMAGE)
    method = Input(RESIZE_METHOD, default="bilinear")
    factor = Input(FLOAT, default=1.5, min=0.01, max=16.0, step=0.01)
    result = Output(IMAGE)

    def run(self, ctx: Context, image: Tensor, method: str, factor: float) -> Tensor:
        height, width = image.shape[1:3]
        width, height = max(1, round(width * factor)), max(1, round(height * factor))
        check_pixels(ctx.settings, width, height)
        return resize(image, width, height, method)


@node("graphflow.image.scale_to_total_pixels", version="1.0.0", title="Scale Image to Total Pixels", category="image")
class ScaleImageToTotalPixels:
    """Resize to about `megapixels` million pixels (1 = 1024 x 1024) keeping the aspect ratio; each side is
    rounded to a multiple of `resolution_steps` (ComfyUI's ImageScaleToTotalPixels)."""

    image = Input(IMAGE)
    method = Input(RESIZE_METHOD, default="nearest")
    megapixels = Input(FLOAT, default=1.0, min=0.01, max=16.0, step=0.01)
    resolution_steps = Input(INT, default=1, min=1, max=256, description="round width and height to multiples of this")
    result = Output(IMAGE)

    def run(self, ctx: Context, image: Tensor, method: str, megapixels: float, resolution_steps: int) -> Tensor:
        height, width = canvas.total_pixels_size(image.shape[1], image.shape[2], megapixels, resolution_steps)
        check_pixels(ctx.settings, width, height)
        return resize(image, width, height, method)


@node("graphflow.image.empty", version="1.0.0", title="Empty Image", category="image")
class EmptyImage:
    """A batch of images filled with one colour, given as a number 0xRRGGBB (0 = black)."""

    width = Input(INT, default=512, min=1, max=MAX_SIZE, budget="width")
    height = Input(INT, default=512, min=1, max=MAX_SIZE, budget="height")
    batch_size = Input(INT, default=1, min=1, max=4096, budget="batch")
    color = Input(INT, default=0, min=0, max=0xFFFFFF, widget="color")
    image = Output(IMAGE)

    def run(self, ctx: Context, width: int, height: int, batch_size: int, color: int) -> Tensor:
        return canvas.solid_image(width, height, batch_size, color)


class Padded(NamedTuple):
    """What Pad Image for Outpainting gives."""

    result: Tensor
    mask: Tensor


@node("graphflow.image.pad_for_outpaint", version="1.0.0", title="Pad Image for Outpainting", category="image")
class PadImageForOutpaint:
    """Grow the canvas by the given pixels on each side, filled with grey, for outpainting
    (ComfyUI's ImagePadForOutpaint). Feed both outputs to VAE Encode (Inpaint).

    The mask is 1 on the new border; inside the picture it fades in over `feathering` pixels from each padded
    side ((f - d) / f squared), so the seam is repainted too. Feathering only applies when twice it is smaller
    than the picture's width and height.
    """

    image = Input(IMAGE)
    left = Input(INT, default=0, min=0, max=MAX_SIZE, step=8)
    top = Input(INT, default=0, min=0, max=MAX_SIZE, step=8)
    right = Input(INT, default=0, min=0, max=MAX_SIZE, step=8)
    bottom = Input(INT, default=0, min=0, max=MAX_SIZE, step=8)
    feathering = Input(INT, default=40, min=0, max=MAX_SIZE)
    result = Output(IMAGE, "the picture on the bigger grey canvas")
    mask = Output(MASK, "1 where the sampler should paint")

    def run(self, ctx: Context, image: Tensor, left: int, top: int, right: int, bottom: int, feathering: int) -> Padded:
        check_pixels(ctx.settings, image.shape[2] + left + right, image.shape[1] + top + bottom)
        return Padded(*canvas.pad_for_outpaint(image, left, top, right, bottom, feathering))


@node("graphflow.image.stitch", version="1.0.0", title="Stitch Images", category="image")
class StitchImages:
    """Join `image2` to `image1` on the `direction` side (ComfyUI's ImageStitch); without image2, image1 is returned.

    `match_image_size` scales image2 (lanczos, aspect kept) to image1's height (left/right) or width (up/down);
    otherwise the smaller one is padded evenly. The spacing between them is rounded up to an even width.
    Shorter batches repeat their last image.
    """

    image1 = Input(IMAGE)
    direction = Input(DIRECTION, default="right")
    match_image_size = Input(BOOLEAN, default=True)
    spacing_width = Input(INT, default=0, min=0, max=1024, step=2)
    spacing_color = Input(SPACING_COLOR, default="white")
    image2 = Input(IMAGE, optional=True)
    result = Output(IMAGE)

    def run(
        self,
        ctx: Context,
        image1: Tensor,
        direction: str,
        match_image_size: bool,
        spacing_width: int,
        spacing_color: str,
        image2: Tensor | None = None,
    ) -> Tensor:
        if image2 is None:
            return image1
        if match_image_size:
            height, width = canvas.stitch_target_size(image1, image2, direction)
            if (height, width) != tuple(image2.shape[1:3]):
                image2 = resize(image2, width, height, "lanczos")
        return canvas.stitch(image1, image2, direction, spacing_width, spacing_color)


@node("graphflow.image.invert", version="1.0.0", title="Invert Image", category="image")
class InvertImage:
    """The negative: 1 - each colour value."""

    image = Input(IMAGE)
    result = Output(IMAGE)

    def run(self, ctx: Context, image: Tensor) -> Tensor:
        return 1.0 - image


@node("graphflow.image.crop", version="1.0.0", title="Crop Image", category="image")
class CropImage:
    """The region of `width` x `height` at (x, y); cut where it passes the right or bottom edge."""

    image = Input(IMAGE)
    x = Input(INT, default=0, min=0, max=MAX_SIZE)
    y = Input(INT, default=0, min=0, max=MAX_SIZE)
    width = Input(INT, default=512, min=1, max=MAX_SIZE)
    height = Input(INT, default=512, min=1, max=MAX_SIZE)
    result = Output(IMAGE)

    def run(self, ctx: Context, image: Tensor, x: int, y: int, width: int, height: int) -> Tensor:
        rows, cols = crop_window(tuple(image.shape[1:3]), x, y, width, height, "image")
        return image[:, rows, cols].clone()


def composite(
    destination: Tensor, source: Tensor, x: int, y: int, mask: Tensor | None = None, resize_source: bool = False
) -> Tensor:
    """`source` pasted onto `destination` with its top-left corner at (x, y), blended through `mask`
    (1 = source); the mask is stretched (bilinear) to the source's size when the sizes differ."""
    if resize_source:
        source = resize(source, destination.shape[2], destination.shape[1], "bilinear")
    src_h, src_w = source.shape[1:3]
    if mask is None:
        mask = torch.ones(1, src_h, src_w)
    elif tuple(mask.shape[-2:]) != (src_h, src_w):
        mask = F.interpolate(mask.reshape(-1, 1, *mask.shape[-2:]), size=(src_h, src_w), mode="bilinear")[:, 0]
    batch = common_batch(destination=destination, source=source, mask=mask)
    out = destination.expand(batch, -1, -1, -1).clone()
    region = paste_region((out.shape[1], out.shape[2]), (src_h, src_w), x, y)
    if region is None:
        return out
    (rows, cols), (src_rows, src_cols) = region
    weight = mask.expand(batch, -1, -1)[:, src_rows, src_cols, None]
    pasted = source.expand(batch, -1, -1, -1)[:, src_rows, src_cols]
    out[:, rows, cols] = pasted * weight + out[:, rows, cols] * (1.0 - weight)
    return out


@node("graphflow.image.composite", version="1.0.0", title="Composite Images (Masked)", category="image")
class CompositeImages:
    """Paste `source` onto `destination` with its top-left corner at (x, y) (ComfyUI's ImageCompositeMasked).

    Where `mask` is 1 the source shows, where 0 the destination; without a mask the whole source is
    pasted. A mask of another size is stretched to the source's size; `resize_source` first stretches
    the source to the destination's size. Parts falling outside the destination are cut. Batches must
    match, or one of them be 1.
    """

    destination = Input(IMAGE)
    source = Input(IMAGE)
    x = Input(INT, default=0, min=-MAX_SIZE, max=MAX_SIZE)
    y = Input(INT, default=0, min=-MAX_SIZE, max=MAX_SIZE)
    resize_source = Input(BOOLEAN, default=False)
    mask = Input(MASK, optional=True)
    result = Output(IMAGE)

    def run(
        self,
        ctx: Context,
        destination: Tensor,
        source: Tensor,
        x: int,
        y: int,
        resize_source: bool,
        mask: Tensor | None = None,
    ) -> Tensor:
        return composite(destination, source, x, y, mask, resize_source)


@node("graphflow.image.batch", version="1.0.0", title="Batch Images", category="image/batch")
class BatchImages:
    """One batch of all the given images, in order. Images of another size than `image1` are resized
    to its size (bilinear, centre-cropped to its aspect ratio first)."""

    image1 = Input(IMAGE)
    image2 = Input(IMAGE)
    image3 = Input(IMAGE, optional=True)
    image4 = Input(IMAGE, optional=True)
    result = Output(IMAGE)

    def run(
        self, ctx: Context, image1: Tensor, image2: Tensor, image3: Tensor | None = None, image4: Tensor | None = None
    ) -> Tensor:
        height, width = image1.shape[1:3]
        rest = [image for image in (image2, image3, image4) if image is not None]
        fitted = [
            image if image.shape[1:3] == image1.shape[1:3] else resize(image, width, height, "bilinear", "center")
            for image in rest
        ]
        return torch.cat([image1, *fitted])


@node("graphflow.image.from_batch", version="1.0.0", title="Images from Batch", category="image/batch")
class ImagesFromBatch:
    """`length` images of a batch starting at `index` (0 = the first)."""

    image = Input(IMAGE)
    index = Input(INT, default=0, min=0, max=4095)
    length = Input(INT, default=1, min=1, max=4096)
    result = Output(IMAGE)

    def run(self, ctx: Context, image: Tensor, index: int, length: int) -> Tensor:
        size = image.shape[0]
        if index + length > size:
            raise ValueError(
                f"images {index}..{index + length - 1} asked for, but the batch has {size} "
                f"image{'s' if size != 1 else ''} (indices 0..{size - 1})"
            )
        return image[index : index + length].clone()


@node("graphflow.image.repeat_batch", version="1.0.0", title="Repeat Image Batch", category="image/batch")
class RepeatImageBatch:
    """The batch repeated `amount` times, one copy after the other."""

    image = Input(IMAGE)
    amount = Input(INT, default=1, min=1, max=4096, budget="batch")
    result = Output(IMAGE)

    def run(self, ctx: Context, image: Tensor, amount: int) -> Tensor:
        return image.repeat(amount, 1, 1, 1)


@hookimpl
def register_nodes(register) -> None:
    """Provide the image operation nodes."""
    for cls in (
        ScaleImageTo,
        ScaleImageBy,
        ScaleImageToTotalPixels,
        EmptyImage,
        PadImageForOutpaint,
        StitchImages,
        InvertImage,
        CropImage,
        CompositeImages,
        BatchImages,
        ImagesFromBatch,
        RepeatImageBatch,
    ):
        register(cls)
