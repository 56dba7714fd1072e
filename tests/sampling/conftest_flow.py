"""Tiny random flow-matching transformers (SD3 and Flux layouts) and conditionings that fit them."""

from __future__ import annotations

from typing import Any

import torch

from graphflow.sampling.conditioning import CondEntry
from graphflow.sampling.flow import FlowSampling
from graphflow.sampling.model import LATENT_FORMATS, DiffusionModel

CONTEXT_WIDTH, POOLED_WIDTH = 32, 24


def tiny_sd3(seed: int = 0) -> Any:
    """A random SD3Transformer2DModel: one MMDiT block, 16 latent channels, 2x2 patches."""
    from diffusers import SD3Transformer2DModel

    torch.manual_seed(seed)
    return SD3Transformer2DModel(
        sample_size=8,
        patch_size=2,
        in_channels=16,
        out_channels=16,
        num_layers=1,
        attention_head_dim=8,
        num_attention_heads=2,
        joint_attention_dim=CONTEXT_WIDTH,
        caption_projection_dim=16,
        pooled_projection_dim=POOLED_WIDTH,
        pos_embed_max_size=16,
    ).eval()


def tiny_flux(guidance_embeds: bool = True, seed: int = 0) -> Any:
    """A random FluxTransformer2DModel: one double- and one single-stream block on packed 16-channel latents."""
    from diffusers import FluxTransformer2DModel

    torch.manual_seed(seed)
    return FluxTransformer2DModel(
        patch_size=1,
        in_channels=64,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=8,
        num_attention_heads=2,
        joint_attention_dim=CONTEXT_WIDTH,
        pooled_projection_dim=POOLED_WIDTH,
        guidance_embeds=guidance_embeds,
        axes_dims_rope=(2, 2, 4),
    ).eval()


def flow_model(transformer: Any, family: str, sampling: FlowSampling | None = None) -> DiffusionModel:
    """A DiffusionModel around a tiny transformer on the CPU in float32 (ComfyUI's default shift for the family)."""
    if sampling is None:
        sampling = FlowSampling("flux", shift=1.15, multiplier=1.0) if family == "flux" else FlowSampling("sd3")
    return DiffusionModel(
        unet=transformer,
        sampling=sampling,
        family=family,
        latent_format=LATENT_FORMATS[family],
        device=torch.device("cpu"),
        dtype=torch.float32,
    )


def flow_text(seed: int, tokens: int = 6, **fields: Any) -> CondEntry:
    """A random conditioning entry that fits the tiny transformers: context [1, tokens, 32], pooled [1, 24]."""
    generator = torch.Generator().manual_seed(seed)
    context = torch.randn(1, tokens, CONTEXT_WIDTH, generator=generator)
    return CondEntry(context=context, pooled=torch.randn(1, POOLED_WIDTH, generator=generator), **fields)
