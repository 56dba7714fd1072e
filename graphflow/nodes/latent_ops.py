"""Latent editing nodes: upscale (nearest, bilinear, bislerp), composite, blend and batch utilities.

Sizes and positions are given in image pixels (multiples of 8), as in ComfyUI; a latent pixel is 8x8.
"""

from graphflow.api import FLOAT, INT, LATENT, Context, Input, Output, enum_type, hookimpl, node
from graphflow.limits import check_pixels
from graphflow.sampling import latent_edit
from graphflow.sampling.latent import Latent

DOWNSCALE = 8
RESIZE_METHOD = enum_type("LATENT_RESIZE_METHOD", latent_edit.RESIZE_METHODS)
CROP = enum_type("LATENT_CROP", ("disabled", "center"))


def _cells(name: str, pixels: int) -> int:
    """Pixels to latent pixels; a clear error for a value that is not a multiple of 8."""
    if pixels % DOWNSCALE:
        lower = pixels - pixels % DOWNSCALE
        raise ValueError(f"{name} {pixels} is not a multiple of {DOWNSCALE}; use {lower} or {lower + DOWNSCALE}")
    return pixels // DOWNSCALE


@node("graphflow.latent.upscale", version="1.0.0", title="Upscale Latent", category="latent")
class UpscaleLatent:
    """Resize latents to a size in pixels (0 for one side keeps the aspect ratio; 0 for both keeps the size).

    `bislerp` slerps neighbouring latent vectors instead of averaging them, keeping noise's
    magnitude. `center` crops to the new aspect ratio first. A noise mask is resized with the latent.
    """

    latent = Input(LATENT)
    method = Input(RESIZE_METHOD, default="nearest")
    width = Input(INT, default=512, min=0, max=16384, step=8, budget="width")
    height = Input(INT, default=512, min=0, max=16384, step=8, budget="height")
    crop = Input(CROP, default="disabled")
    result = Output(LATENT)

    def run(self, ctx: Context, latent: Latent, method: str, width: int, height: int, crop: str) -> Latent:
        old_height, old_width = latent.samples.shape[-2:]
        cells_w, cells_h = _cells("width", width), _cells("height", height)
        if not cells_w and not cells_h:
            cells_w, cells_h = old_width, old_height
        elif not cells_w:
            cells_w = max(1, round(old_width * cells_h / old_height))
        elif not cells_h:
            cells_h = max(1, round(old_height * cells_w / old_width))
        check_pixels(ctx.settings, cells_w * DOWNSCALE, cells_h * DOWNSCALE)
        return latent_edit.upscale(latent, cells_h, cells_w, method, crop=crop == "center")


@node("graphflow.latent.upscale_by", version="1.0.0", title="Upscale Latent By", category="latent")
class UpscaleLatentBy:
    """Resize latents by a factor (sides rounded to whole latent pixels); a noise mask follows."""

    latent = Input(LATENT)
    method = Input(RESIZE_METHOD, default="nearest")
    scale_by = Input(FLOAT, default=1.5, min=0.01, max=8.0, step=0.01)
    result = Output(LATENT)

    def run(self, ctx: Context, latent: Latent, method: str, scale_by: float) -> Latent:
        height, width = latent.samples.shape[-2:]
        cells_h, cells_w = max(1, round(height * scale_by)), max(1, round(width * scale_by))
        check_pixels(ctx.settings, cells_w * DOWNSCALE, cells_h * DOWNSCALE)
        return latent_edit.upscale(latent, cells_h, cells_w, method)


@node("graphflow.latent.composite", version="1.0.0", title="Composite Latent", category="latent")
class CompositeLatent:
    """Paste `source` into `destination` at (x, y) pixels; `feather` pixels of its inner edges blend in."""

    destination = Input(LATENT)
    source = Input(LATENT)
    x = Input(INT, default=0, min=0, max=16384, step=8)
    y = Input(INT, default=0, min=0, max=16384, step=8)
    feather = Input(INT, default=0, min=0, max=16384, step=8)
    result = Output(LATENT)

    def run(self, ctx: Context, destination: Latent, source: Latent, x: int, y: int, feather: int) -> Latent:
        return latent_edit.composite(destination, source, _cells("x", x), _cells("y", y), _cells("feather", feather))


@node("graphflow.latent.blend", version="1.0.0", title="Blend Latents", category="latent")
class BlendLatents:
    """factor x first + (1 - factor) x second (same size); the first's noise mask is kept."""

    first = Input(LATENT)
    second = Input(LATENT)
    factor = Input(FLOAT, default=0.5, min=0.0, max=1.0, step=0.01, widget="slider")
    result = Output(LATENT)

    def run(self, ctx: Context, first: Latent, second: Latent, factor: float) -> Latent:
        return latent_edit.blend(first, second, factor)


@node("graphflow.latent.batch", version="1.0.0", title="Batch Latents", category="latent")
class BatchLatents:
    """Join latents of one size into a batch; each keeps the noise it would get on its own."""

    first = Input(LATENT)
    second = Input(LATENT)
    third = Input(LATENT, optional=True)
    fourth = Input(LATENT, optional=True)
    result = Output(LATENT)

    def run(
        self, ctx: Context, first: Latent, second: Latent, third: Latent | None = None, fourth: Latent | None = None
    ) -> Latent:
        named = [
            (n, v)
            for n, v in (("first", first), ("second", second), ("third", third), ("fourth", fourth))
            if v is not None
        ]
        return latent_edit.concat_batches([v for _, v in named], [n for n, _ in named])


@node("graphflow.latent.from_batch", version="1.0.0", title="Latent From Batch", category="latent")
class LatentFromBatch:
    """Take `length` latents starting at `batch_index`; they keep their noise (ComfyUI's LatentFromBatch)."""

    latent = Input(LATENT)
    batch_index = Input(INT, default=0, min=0, max=4095)
    length = Input(INT, default=1, min=1, max=4096)
    result = Output(LATENT)

    def run(self, ctx: Context, latent: Latent, batch_index: int, length: int) -> Latent:
        return latent_edit.take_from_batch(latent, batch_index, length)


@node("graphflow.latent.repeat_batch", version="1.0.0", title="Repeat Latent Batch", category="latent")
class RepeatLatentBatch:
    """Repeat a batch `amount` times; each copy gets its own noise."""

    latent = Input(LATENT)
    amount = Input(INT, default=1, min=1, max=64, budget="batch")
    result = Output(LATENT)

    def run(self, ctx: Context, latent: Latent, amount: int) -> Latent:
        return latent_edit.repeat_batch(latent, amount)


@hookimpl
def register_nodes(register) -> None:
    """Provide the latent editing nodes."""
    for cls in (
        UpscaleLatent,
        UpscaleLatentBy,
        CompositeLatent,
        BlendLatents,
        BatchLatents,
        LatentFromBatch,
        RepeatLatentBatch,
    ):
        register(cls)
