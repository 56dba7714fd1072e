"""Test helpers: an exact analytic denoiser, seeded noise, tiny random UNets and conditionings."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from graphflow.sampling.conditioning import CondEntry
from graphflow.sampling.model import SD1_LATENT_FORMAT, DiffusionModel, ModelSampling

# Per-element data distribution: a mixture of three Gaussians (weight, mean, std).
MIXTURE = ((0.3, -1.0, 0.3), (0.5, 0.5, 0.5), (0.2, 2.0, 0.2))


def mixture_denoiser(x: Tensor, sigma: Tensor, **_: object) -> Tensor:
    """Exact E[x0 | x0 + sigma * n = x] for the MIXTURE data distribution, element-wise."""
    sigma = torch.as_tensor(sigma, dtype=x.dtype).reshape(-1, *([1] * (x.ndim - 1)))
    log_weights, posterior_means = [], []
    for weight, mean, std in MIXTURE:
        variance = std**2 + sigma**2
        log_density = -0.5 * torch.log(variance) - (x - mean) ** 2 / (2 * variance)
        log_weights.append(math.log(weight) + log_density)
        posterior_means.append(mean + std**2 / variance * (x - mean))
    responsibilities = torch.softmax(torch.stack(log_weights), dim=0)
    return (responsibilities * torch.stack(posterior_means)).sum(0)


def normal_draws(shape: tuple[int, ...], seed: int) -> Callable[[Tensor, Tensor], Tensor]:
    """A noise sampler giving float64 standard normal draws from its own generator; same seed, same draws."""
    generator = torch.Generator().manual_seed(seed)
    return lambda sigma, sigma_next: torch.randn(shape, generator=generator, dtype=torch.float64)


def tiny_unet(cross_attention_dim: int = 16, **config: object) -> torch.nn.Module:
    """A random-weight UNet2DConditionModel small enough to run many times per second."""
    from diffusers import UNet2DConditionModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=8,
        in_channels=4,
        out_channels=4,
        block_out_channels=(8, 16),
        layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=cross_attention_dim,
        attention_head_dim=4,
        norm_num_groups=8,
        **config,
    )
    return unet.eval()


def tiny_model(prediction_type: str = "epsilon", family: str = "sd1", **config: object) -> DiffusionModel:
    """A DiffusionModel around tiny_unet on the CPU in float32."""
    return DiffusionModel(
        unet=tiny_unet(**config),
        sampling=ModelSampling.from_betas(prediction_type=prediction_type),
        family=family,
        latent_format=SD1_LATENT_FORMAT,
        device=torch.device("cpu"),
        dtype=torch.float32,
    )


def text(seed: int, tokens: int = 77, width: int = 16, **fields: object) -> CondEntry:
    """A random conditioning entry [1, tokens, width]."""
    generator = torch.Generator().manual_seed(seed)
    return CondEntry(context=torch.randn(1, tokens, width, generator=generator), **fields)
