"""Latent nodes: empty latents to start generation from."""

import torch

from graphflow.api import INT, LATENT, Context, Input, Output, hookimpl, node
from graphflow.sampling.latent import Latent

LATENT_CHANNELS = 4  # SD1, SD2, SDXL and the demo model; the sampler remakes an empty latent for other models
DOWNSCALE = 8


@node("graphflow.latent.empty", version="1.0.0", title="Empty Latent", category="latent")
class EmptyLatent:
    """A batch of blank latents for images of the given size (width and height multiples of 8)."""

    width = Input(INT, default=512, min=8, max=16384, step=8, budget="width")
    height = Input(INT, default=512, min=8, max=16384, step=8, budget="height")
    batch_size = Input(INT, default=1, min=1, max=4096, budget="batch")
    latent = Output(LATENT)

    def run(self, ctx: Context, width: int, height: int, batch_size: int) -> Latent:
        for name, value in (("width", width), ("height", height)):
            if value % DOWNSCALE:
                lower = value - value % DOWNSCALE
                raise ValueError(f"{name} {value} is not a multiple of {DOWNSCALE}; use {lower} or {lower + DOWNSCALE}")
        return Latent(torch.zeros(batch_size, LATENT_CHANNELS, height // DOWNSCALE, width // DOWNSCALE))


@hookimpl
def register_nodes(register) -> None:
    """Provide the latent nodes."""
    register(EmptyLatent)
