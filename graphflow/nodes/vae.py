"""VAE nodes: latents to images and back, whole or in tiles whose memory does not grow with size."""

import torch

from graphflow.api import IMAGE, INT, LATENT, VAE, Context, Input, Output, hookimpl, node
from graphflow.models.vae import Vae
from graphflow.sampling.latent import Latent


@node("graphflow.vae.decode", version="1.0.0", title="VAE Decode", category="latent")
class VaeDecode:
    """Turn latents into images."""

    latent = Input(LATENT)
    vae = Input(VAE)
    image = Output(IMAGE)

    def run(self, ctx: Context, latent: Latent, vae: Vae) -> torch.Tensor:
        return vae.decode(latent.samples)


@node("graphflow.vae.encode", version="1.0.0", title="VAE Encode", category="latent")
class VaeEncode:
    """Turn images into latents (for image-to-image)."""

    image = Input(IMAGE)
    vae = Input(VAE)
    latent = Output(LATENT)

    def run(self, ctx: Context, image: torch.Tensor, vae: Vae) -> Latent:
        return Latent(vae.encode(image))


@node("graphflow.vae.decode_tiled", version="1.0.0", title="VAE Decode (Tiled)", category="latent")
class VaeDecodeTiled:
    """Turn latents into images tile by tile: memory stays flat however large the image."""

    latent = Input(LATENT)
    vae = Input(VAE)
    tile_size = Input(INT, default=512, min=64, max=4096, step=32, description="tile side in pixels")
    overlap = Input(INT, default=64, min=0, max=4096, step=32, description="blended overlap in pixels")
    image = Output(IMAGE)

    def run(self, ctx: Context, latent: Latent, vae: Vae, tile_size: int, overlap: int) -> torch.Tensor:
        return vae.decode_tiled(latent.samples, tile_size=tile_size, overlap=overlap)


@node("graphflow.vae.encode_tiled", version="1.0.0", title="VAE Encode (Tiled)", category="latent")
class VaeEncodeTiled:
    """Turn images into latents tile by tile: memory stays flat however large the image."""

    image = Input(IMAGE)
    vae = Input(VAE)
    tile_size = Input(INT, default=512, min=64, max=4096, step=32, description="tile side in pixels")
    overlap = Input(INT, default=64, min=0, max=4096, step=32, description="blended overlap in pixels")
    latent = Output(LATENT)

    def run(self, ctx: Context, image: torch.Tensor, vae: Vae, tile_size: int, overlap: int) -> Latent:
        return Latent(vae.encode_tiled(image, tile_size=tile_size, overlap=overlap))


@hookimpl
def register_nodes(register) -> None:
    """Provide the VAE nodes."""
    for cls in (VaeDecode, VaeEncode, VaeDecodeTiled, VaeEncodeTiled):
        register(cls)
