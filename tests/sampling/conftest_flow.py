"""The tiny random flow models (graphflow.models.tiny_flow) as DiffusionModels, and conditionings that fit them."""

from __future__ import annotations

import functools
from typing import Any

import torch

from graphflow.models.tiny_flow import TinyFlow, build_tiny_flow
from graphflow.sampling.conditioning import CondEntry
from graphflow.sampling.flow import FlowSampling
from graphflow.sampling.model import LATENT_FORMATS, DiffusionModel


@functools.cache
def tiny_flow(variant: str) -> TinyFlow:
    """The tiny models of `variant` ("sd3", "sd35", "flux-dev", "flux-schnell"), built once per test session."""
    return build_tiny_flow(variant)


def flow_model(variant: str = "sd3") -> DiffusionModel:
    """A DiffusionModel around the variant's tiny transformer, on the CPU in float32, with its kind's defaults."""
    models = tiny_flow(variant)
    return DiffusionModel(
        unet=models.transformer,
        sampling=FlowSampling(models.family),
        family=models.family,
        latent_format=LATENT_FORMATS[models.family],
        device=torch.device("cpu"),
        dtype=torch.float32,
    )


def flow_text(model: DiffusionModel, seed: int, tokens: int = 6, **fields: Any) -> CondEntry:
    """A random conditioning entry as wide as `model`'s transformer takes: context [1, tokens, D], pooled [1, P]."""
    config = model.unet.config
    generator = torch.Generator().manual_seed(seed)
    context = torch.randn(1, tokens, config.joint_attention_dim, generator=generator)
    pooled = torch.randn(1, config.pooled_projection_dim, generator=generator)
    return CondEntry(context=context, pooled=pooled, **fields)
