"""Inpainting nodes: limit sampling to a masked region, and encode an image with its hole greyed out.

The sampler does the rest (graphflow.sampling.denoiser.masked_denoiser): outside the noise mask
the original latent is kept at every step, so it comes out unchanged.
"""

import torch
import torch.nn.functional as F

from graphflow.api import IMAGE, INT, LATENT, MASK, VAE, Context, Input, Output, hookimpl, node
from graphflow.models.vae import Vae
from graphflow.sampling.latent import Latent, resize_noise_mask
from graphflow.sampling.latent_edit import check_mask_covers, mask_to_grid

GREY = 0.5


def _as_batch(mask: torch.Tensor) -> torch.Tensor:
    """A MASK ([H, W] or [B, H, W]) as [B, 1, H, W] float."""
    if mask.ndim not in (2, 3):
        raise ValueError(f"expected a MASK [B, H, W], got shape {tuple(mask.shape)}")
    return mask.float().reshape(-1, 1, *mask.shape[-2:])


def _grid_mask(mask: torch.Tensor, batch: int, height: int, width: int) -> torch.Tensor:
    """A mask on a latent grid, one per batch item: [batch, 1, height, width]."""
    check_mask_covers(mask, height, width)
    return resize_noise_mask(mask_to_grid(mask, height, width), (batch, 1, height, width))


def grow(mask: torch.Tensor, pixels: int) -> torch.Tensor:
    """Dilate a [B, 1, H, W] mask by `pixels` in every direction (a square neighbourhood)."""
    if pixels <= 0:
        return mask
    return F.max_pool2d(mask, kernel_size=2 * pixels + 1, stride=1, padding=pixels)


@node("graphflow.inpaint.set_noise_mask", version="1.0.0", title="Set Latent Noise Mask", category="inpaint")
class SetLatentNoiseMask:
    """Only regenerate where the mask is 1 (soft values blend); elsewhere the latent stays as it is.

    The mask may be image-sized or latent-sized: it is resized to the latent grid (each 8x8 block
    averaged), so a block half covered is half regenerated. Its shape must match the latent's.
    """

    latent = Input(LATENT)
    mask = Input(MASK)
    result = Output(LATENT)

    def run(self, ctx: Context, latent: Latent, mask: torch.Tensor) -> Latent:
        batch, _, height, width = latent.samples.shape
        grid = _grid_mask(_as_batch(mask), batch, height, width)
        return Latent(latent.samples, noise_mask=grid, batch_index=latent.batch_index)


@node("graphflow.inpaint.vae_encode", version="1.0.0", title="VAE Encode (Inpaint)", category="inpaint")
class VaeEncodeForInpaint:
    """Encode an image for inpainting: masked pixels become grey, the noise mask is the mask grown by
    `grow_mask_by` pixels, so latents next to the grey hole are regenerated too (ComfyUI's VAEEncodeForInpaint).

    Images whose sides are not multiples of the VAE's factor (8) are centre-cropped to them, the mask with them.
    Use a denoise of 1: the hole holds no picture to keep.
    """

    image = Input(IMAGE)
    vae = Input(VAE)
    mask = Input(MASK)
    grow_mask_by = Input(INT, default=6, min=0, max=64)
    latent = Output(LATENT)

    def run(self, ctx: Context, image: torch.Tensor, vae: Vae, mask: torch.Tensor, grow_mask_by: int) -> Latent:
        batch, height, width, _ = image.shape
        masks = _as_batch(mask)
        check_mask_covers(masks, height, width, what="image")
        if masks.shape[0] not in (1, batch):
            raise ValueError(f"the mask has {masks.shape[0]} items but the image batch has {batch}: give 1 or {batch}")
        masks = mask_to_grid(masks, height, width).round()
        factor = vae.downscale
        top, left = (height % factor) // 2, (width % factor) // 2
        rows, cols = slice(top, top + height // factor * factor), slice(left, left + width // factor * factor)
        pixels, masks = image[:, rows, cols, :], masks[:, :, rows, cols]
        keep = (1 - masks).permute(0, 2, 3, 1)
        samples = vae.encode((pixels - GREY) * keep + GREY)
        noise_mask = mask_to_grid(grow(masks, grow_mask_by), *samples.shape[-2:])
        return Latent(samples, noise_mask=resize_noise_mask(noise_mask, (batch, 1, *samples.shape[-2:])))


@hookimpl
def register_nodes(register) -> None:
    """Provide the inpainting nodes."""
    register(SetLatentNoiseMask)
    register(VaeEncodeForInpaint)
