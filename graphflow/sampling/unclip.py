"""unCLIP image embeddings as a model input (ComfyUI's unclip_adm): noise-augmented embeddings and their noise level.

Each image embedding is noised to its level of a 1000-step squared-cosine schedule (the embedding statistics
are taken as mean 0, std 1, as ComfyUI does), concatenated with the level's sinusoidal embedding and weighted
by strength. Several embeddings are summed and noised once more at the merge level.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import cache

import torch
from torch import Tensor

from graphflow.sampling.conditioning import UnclipImage

MAX_NOISE_LEVEL = 1000
SEED_OFFSET = -10  # ComfyUI draws the augmentation noise from the sampler's seed - 10
UNCLIP_MERGE_LEVEL = 0.05  # SD 2.1 unCLIP: several images are merged at this augmentation
REVISION_MERGE_LEVEL = 0.0  # SDXL revision


@cache
def _schedule() -> tuple[Tensor, Tensor]:
    """sqrt(alphas_cumprod) and sqrt(1 - alphas_cumprod) of the squared-cosine schedule (float64 maths, float32)."""
    alpha_bar = lambda t: math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2
    steps = MAX_NOISE_LEVEL
    betas = torch.tensor(
        [min(1 - alpha_bar((i + 1) / steps) / alpha_bar(i / steps), 0.999) for i in range(steps)], dtype=torch.float64
    )
    cumprod = torch.cumprod(1 - betas, dim=0)
    return cumprod.sqrt().float(), (1 - cumprod).sqrt().float()


def noise_level_embedding(level: int, width: int) -> Tensor:
    """The sinusoidal embedding [1, width] of a noise level (cosines first, as ComfyUI's and diffusers' are)."""
    half = width // 2
    frequencies = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32) / half)
    angles = torch.tensor([float(level)])[:, None] * frequencies[None]
    embedding = torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)
    return torch.nn.functional.pad(embedding, (0, width % 2))


def augment(embeds: Tensor, level: int, seed: int) -> Tensor:
    """One image embedding [1, D] noised to `level` with noise from `seed`, then its level embedding: [1, 2D]."""
    signal, noise_scale = _schedule()
    noise = torch.randn(embeds.shape, dtype=embeds.dtype, generator=torch.Generator().manual_seed(seed))
    noised = signal[level].to(embeds) * embeds + noise_scale[level].to(embeds) * noise
    return torch.cat([noised, noise_level_embedding(level, embeds.shape[1]).to(embeds)], dim=1)


def level_of(noise_augmentation: float) -> int:
    """The noise level an augmentation of 0..1 stands for."""
    return round((MAX_NOISE_LEVEL - 1) * noise_augmentation)


def unclip_adm(images: Sequence[UnclipImage], seed: int, merge_level: float) -> Tensor:
    """The model input [1, 2D] for the image embeddings of one conditioning entry (`seed`: the sampler's)."""
    seed += SEED_OFFSET
    parts = [
        augment(embeds[None].float().cpu(), level_of(image.noise_augmentation), seed) * image.strength
        for image in images
        for embeds in image.image_embeds
    ]
    if len(parts) == 1:
        return parts[0]
    summed = torch.stack(parts).sum(0)
    return augment(summed[:, : summed.shape[1] // 2], level_of(merge_level), seed)
