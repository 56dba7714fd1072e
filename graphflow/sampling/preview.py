"""Fast previews: latent -> RGB through a linear map per latent format (no VAE needed)."""

from __future__ import annotations

import torch
from PIL import Image
from torch import Tensor

from graphflow.sampling.model import LatentFormat


def latent_to_rgb(samples: Tensor, latent_format: LatentFormat) -> Tensor:
    """Approximate colours of latents [B, C, h, w] as float images [B, h, w, 3] in [0, 1]."""
    if samples.shape[1] != latent_format.channels:
        raise ValueError(
            f"cannot preview a {samples.shape[1]}-channel latent with a {latent_format.channels}-channel format"
        )
    factors = torch.tensor(latent_format.latent_rgb_factors, dtype=torch.float32)
    bias = None
    if latent_format.latent_rgb_factors_bias is not None:
        bias = torch.tensor(latent_format.latent_rgb_factors_bias, dtype=torch.float32)
    rgb = torch.nn.functional.linear(samples.detach().float().cpu().movedim(1, -1), factors.T, bias)
    return ((rgb + 1) / 2).clamp(0, 1)


def preview_image(samples: Tensor, latent_format: LatentFormat, max_size: int = 512) -> Image.Image:
    """PIL preview of the first latent of a batch, shrunk so its longer side is at most max_size."""
    pixels = latent_to_rgb(samples[:1], latent_format)[0].mul(255).round().to(torch.uint8).numpy()
    image = Image.fromarray(pixels, mode="RGB")
    if max(image.size) > max_size:
        image.thumbnail((max_size, max_size))
    return image


def fit_latent_rgb_factors(latents: Tensor, images: Tensor) -> tuple[Tensor, Tensor]:
    """Least-squares latent->RGB factors [C, 3] and bias [3] from latents [B, C, h, w] and IMAGEs [B, H, W, 3].

    Images are area-resized to the latent grid and mapped to [-1, 1]; use this to give a new
    family (e.g. the demo model) a preview map.
    """
    target = torch.nn.functional.interpolate(images.movedim(-1, 1).float(), size=latents.shape[-2:], mode="area")
    target = (target * 2 - 1).movedim(1, -1).reshape(-1, 3)
    inputs = latents.float().movedim(1, -1).reshape(-1, latents.shape[1])
    design = torch.cat([inputs, torch.ones(inputs.shape[0], 1)], dim=1)
    solution = torch.linalg.lstsq(design, target).solution
    return solution[:-1], solution[-1]


def step_preview(denoised: Tensor, latent_format: LatentFormat, min_side: int = 128) -> Image.Image | None:
    """A step's x0 estimate as a picture, tiny latents enlarged to `min_side`; None without RGB factors."""
    if latent_format.latent_rgb_factors is None:
        return None
    image = preview_image(denoised, latent_format)
    if max(image.size) < min_side:  # tiny latents: enlarge so the editor shows something
        scale = min_side // max(image.size)
        image = image.resize((image.width * scale, image.height * scale), Image.NEAREST)
    return image
