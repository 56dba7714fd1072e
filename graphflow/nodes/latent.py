"""Latent nodes: empty latents to start generation from."""

from collections.abc import Callable

import torch

from graphflow.api import INT, LATENT, Context, Input, Output, hookimpl, node
from graphflow.sampling.latent import Latent

LATENT_CHANNELS = 4  # SD1, SD2, SDXL and the demo model; the sampler remakes an empty latent for other models
FLOW_LATENT_CHANNELS = 16  # SD3/SD3.5 and Flux
DOWNSCALE = 8


def empty_latent(width: int, height: int, batch_size: int, channels: int) -> Latent:
    """Zeros [batch_size, channels, height / 8, width / 8]; a size that is not a multiple of 8 is refused."""
    for name, value in (("width", width), ("height", height)):
        if value % DOWNSCALE:
            lower = value - value % DOWNSCALE
            raise ValueError(f"{name} {value} is not a multiple of {DOWNSCALE}; use {lower} or {lower + DOWNSCALE}")
    return Latent(torch.zeros(batch_size, channels, height // DOWNSCALE, width // DOWNSCALE))


@node("graphflow.latent.empty", version="1.0.0", title="Empty Latent", category="latent")
class EmptyLatent:
    """A batch of blank latents for images of the given size (width and height multiples of 8)."""

    width = Input(INT, default=512, min=8, max=16384, step=8, budget="width")
    height = Input(INT, default=512, min=8, max=16384, step=8, budget="height")
    batch_size = Input(INT, default=1, min=1, max=4096, budget="batch")
    latent = Output(LATENT)

    def run(self, ctx: Context, width: int, height: int, batch_size: int) -> Latent:
        return empty_latent(width, height, batch_size, LATENT_CHANNELS)


@node("graphflow.latent.empty_sd3", version="1.0.0", title="Empty SD3 Latent", category="latent")
class EmptySD3Latent:
    """A batch of blank 16-channel latents for SD3/SD3.5 and Flux (ComfyUI's EmptySD3LatentImage).

    Width and height are multiples of 8; multiples of 16 fill the transformers' 2x2 patches exactly.
    """

    width = Input(INT, default=1024, min=16, max=16384, step=16, budget="width")
    height = Input(INT, default=1024, min=16, max=16384, step=16, budget="height")
    batch_size = Input(INT, default=1, min=1, max=4096, budget="batch")
    latent = Output(LATENT)

    def run(self, ctx: Context, width: int, height: int, batch_size: int) -> Latent:
        return empty_latent(width, height, batch_size, FLOW_LATENT_CHANNELS)


@hookimpl
def register_nodes(register: Callable[[type], None]) -> None:
    """Provide the latent nodes."""
    register(EmptyLatent)
    register(EmptySD3Latent)
