"""Calling the flow-matching transformers (SD3/SD3.5 MMDiT, Flux) on stacked latent rows, and what they need.

Both predict the velocity v on 2x2 patches of the latent: diffusers' SD3Transformer2DModel patches the latent
itself, FluxTransformer2DModel takes the patches packed as tokens [B, H/2 * W/2, 4C] with their (0, row, column)
positions and all-zero positions for the text tokens. A latent whose height or width is odd is padded by
wrapping around at the bottom and right for the call and the prediction cut back (as ComfyUI does). Flux's
guidance-distilled models (dev) also take the guidance value each conditioning entry carries (FluxGuidance).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from graphflow.sampling.conditioning import CondEntry, Conditioning
from graphflow.sampling.model import DiffusionModel

PATCH = 2
_TEXT_ENCODERS = {"sd3": "CLIP-L + CLIP-G + T5-XXL", "flux": "CLIP-L + T5-XXL"}
FLUX_GUIDANCE = 3.5
"""The guidance a Flux entry without FluxGuidance gets (ComfyUI's default)."""


def transformer_kind(module: Any) -> str | None:
    """Which flow transformer `module` is: "sd3" (SD3Transformer2DModel), "flux" (FluxTransformer2DModel) or None."""
    from diffusers import FluxTransformer2DModel, SD3Transformer2DModel

    if isinstance(module, SD3Transformer2DModel):
        return "sd3"
    if isinstance(module, FluxTransformer2DModel):
        return "flux"
    return None


def is_flow_transformer(model: DiffusionModel) -> bool:
    """Whether the model's network is a flow-matching transformer rather than a U-Net."""
    return transformer_kind(model.unet) is not None


def flux_guidance(entry: CondEntry) -> float:
    """The guidance value a Flux entry asks for (FluxGuidance's `guidance`, 3.5 when none was set)."""
    return float(entry.extras.get("guidance", FLUX_GUIDANCE))


def with_flux_guidance(conditioning: Conditioning, guidance: float) -> Conditioning:
    """Every entry set to ask a guidance-distilled Flux model for `guidance` (FluxGuidance, CLIPTextEncodeFlux)."""
    return tuple(entry.replace(extras={**entry.extras, "guidance": float(guidance)}) for entry in conditioning)


def _padded(x: Tensor) -> Tensor:
    pad_h, pad_w = (-x.shape[-2]) % PATCH, (-x.shape[-1]) % PATCH
    return F.pad(x, (0, pad_w, 0, pad_h), mode="circular") if pad_h or pad_w else x


def pack(x: Tensor) -> Tensor:
    """[B, C, H, W] (H, W even) -> Flux tokens [B, H/2 * W/2, C * 4], each a 2x2 patch, channel-major."""
    batch, channels, height, width = x.shape
    patches = x.reshape(batch, channels, height // PATCH, PATCH, width // PATCH, PATCH)
    return patches.permute(0, 2, 4, 1, 3, 5).reshape(batch, -1, channels * PATCH * PATCH)


def unpack(tokens: Tensor, height: int, width: int) -> Tensor:
    """The inverse of `pack` for a latent of `height` x `width` cells."""
    batch, _, features = tokens.shape
    channels = features // (PATCH * PATCH)
    patches = tokens.reshape(batch, height // PATCH, width // PATCH, channels, PATCH, PATCH)
    return patches.permute(0, 3, 1, 4, 2, 5).reshape(batch, channels, height, width)


def patch_ids(height: int, width: int) -> Tensor:
    """Flux's image token positions [H/2 * W/2, 3]: (0, row, column) of each patch, row by row."""
    rows, columns = torch.meshgrid(torch.arange(height // PATCH), torch.arange(width // PATCH), indexing="ij")
    return torch.stack([torch.zeros_like(rows), rows, columns], dim=-1).reshape(-1, 3).float()


def transformer_velocity(
    model: DiffusionModel,
    x: Tensor,
    timestep: Tensor,
    context: Tensor,
    pooled: Tensor,
    guidance: Tensor | None = None,
) -> Tensor:
    """The transformer's prediction for rows x [N, C, H, W] (on the model's device and dtype), [N, C, H, W].

    `context` [N, T, D] and `pooled` [N, P] are the rows' text; `guidance` [N] is used by Flux models with
    guidance embeddings only.
    """
    height, width = x.shape[-2:]
    x = _padded(x)
    transformer = model.unet
    if transformer_kind(transformer) == "flux":
        uses_guidance = bool(getattr(transformer.config, "guidance_embeds", False))
        output = transformer(
            hidden_states=pack(x),
            encoder_hidden_states=context,
            pooled_projections=pooled,
            timestep=timestep,
            # positions in float32 whatever the compute dtype: bfloat16 counts whole numbers exactly only to 256
            img_ids=patch_ids(*x.shape[-2:]).to(x.device),
            txt_ids=torch.zeros(context.shape[1], 3, device=x.device),
            guidance=guidance if uses_guidance else None,
            return_dict=False,
        )[0]
        output = unpack(output, *x.shape[-2:])
    else:
        output = transformer(
            hidden_states=x,
            encoder_hidden_states=context,
            pooled_projections=pooled,
            timestep=timestep,
            return_dict=False,
        )[0]
    return output[..., :height, :width]


def check_flow_conditioning(model: DiffusionModel, conditioning: Conditioning, name: str) -> None:
    """A clear error when `conditioning` cannot drive this flow transformer (widths, pooled text, add-ons)."""
    config = model.unet.config
    context_width, pooled_width = int(config.joint_attention_dim), int(config.pooled_projection_dim)
    encoders = _TEXT_ENCODERS.get(model.family, "the one that belongs to the model")
    for entry in conditioning:
        if entry.width != context_width:
            raise ValueError(
                f"{name} conditioning has width {entry.width} but this {model.family} model expects {context_width}: "
                f"encode the prompt with this model's text encoders ({encoders})"
            )
        if entry.pooled is None:
            raise ValueError(
                f"{name} conditioning has no pooled text embedding, which this {model.family} model needs: "
                f"encode the prompt with this model's text encoders ({encoders})"
            )
        if entry.pooled.shape[1] != pooled_width:
            raise ValueError(
                f"{name} conditioning has a pooled embedding of width {entry.pooled.shape[1]} but this "
                f"{model.family} model expects {pooled_width}: encode the prompt with this model's text encoders "
                f"({encoders})"
            )
        for present, what in ((entry.control is not None, "a ControlNet"), (entry.gligen is not None, "GLIGEN boxes")):
            if present:
                raise ValueError(
                    f"{name} conditioning carries {what}, which {model.family} models do not support in graphflow "
                    "yet: remove it from the conditioning"
                )
