"""Upscale-model nodes: load an ESRGAN / Real-ESRGAN network and enlarge images with it, tile by tile."""

from typing import Any

import torch

from graphflow.api import IMAGE, INT, STRING, UPSCALE_MODEL, Context, Input, Output, Settings, hookimpl, node
from graphflow.limits import check_pixels
from graphflow.models.builtin import resolve_upscale_model, upscale_model_choices
from graphflow.models.cache import file_identity
from graphflow.upscale import UpscaleModel, load_upscale_model


@node("graphflow.upscale.load_model", version="1.0.0", title="Load Upscale Model", category="loaders")
class LoadUpscaleModel:
    """Load a super-resolution model from models/upscale_models (.safetensors or weights-only .pth), or a built-in one.

    `builtin:shapes-x2` is graphflow's own tiny x2 model for the demo model's shapes pictures.
    ESRGAN/RRDBNet (ESRGAN, BSRGAN, Real-ESRGAN x4plus/x2plus) and Real-ESRGAN compact networks are
    recognised from their weights, with their scale.
    """

    model_name = Input(
        STRING,
        choices=lambda settings: upscale_model_choices(settings.models_dir),
        source="literal",
        widget="model_file",
    )
    upscale_model = Output(UPSCALE_MODEL)

    @staticmethod
    def fingerprint(settings: Settings, model_name: str | None = None, **_: Any) -> Any:
        """The file's identity, so a replaced file is loaded again."""
        return file_identity(resolve_upscale_model(settings.models_dir, model_name)) if model_name else None

    def run(self, ctx: Context, model_name: str) -> UpscaleModel:
        model = load_upscale_model(
            resolve_upscale_model(ctx.settings.models_dir, model_name), device=ctx.settings.device, cache=ctx.models
        )
        ctx.log.info("loaded %s: %r", model_name, model)
        return model


@node("graphflow.upscale.with_model", version="1.0.0", title="Upscale Image (using Model)", category="image")
class UpscaleWithModel:
    """Enlarge images by the model's scale. The image is run in overlapping tiles that are blended, so
    memory stays flat however large it is; lower `tile_size` if the device runs out of memory."""

    upscale_model = Input(UPSCALE_MODEL)
    image = Input(IMAGE)
    tile_size = Input(INT, default=512, min=32, max=8192, step=8, description="tile side in input pixels")
    overlap = Input(INT, default=32, min=0, max=1024, step=8, description="blended overlap in input pixels")
    result = Output(IMAGE)

    def run(
        self, ctx: Context, upscale_model: UpscaleModel, image: torch.Tensor, tile_size: int, overlap: int
    ) -> torch.Tensor:
        scale = upscale_model.scale
        check_pixels(ctx.settings, image.shape[2] * scale, image.shape[1] * scale)
        return upscale_model.upscale(image, tile_size, overlap, progress=ctx.progress)


@hookimpl
def register_nodes(register) -> None:
    """Provide the upscale-model nodes."""
    for cls in (LoadUpscaleModel, UpscaleWithModel):
        register(cls)
