"""Recognising flow-matching models (SD3/SD3.5, Flux) and their text encoders from weight names and shapes.

Settings the weights cannot show follow the published models: SD3's MMDiT has as many heads as blocks
(width 64 * depth), Flux's head width is its q/k norm's, and its rotary axes split a head as the real
model's 16/56/56 of 128 do; T5's relative-attention reach is 4x its bucket count (128 for 32 buckets).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from .convert import _count_indices
from .detect import UnknownModelLayoutError, family_config
from .flow_convert import DIFFUSION_PREFIX, to_original

Shapes = Mapping[str, torch.Tensor]
SD3_MARKER = "joint_blocks.0.context_block.adaLN_modulation.1.bias"
FLUX_MARKER = "double_blocks.0.img_attn.norm.key_norm.scale"
T5_MARKER = "encoder.block.0.layer.0.SelfAttention.q.weight"
CLIP_MARKER = "embeddings.token_embedding.weight"
TEXT_ENCODERS_PREFIX = "text_encoders."
# a text part inside an SD3/Flux single file
TEXT_PART_PREFIX = "text_encoders.{part}.transformer."


@dataclass(frozen=True)
class FlowTransformer:
    """A flow transformer found in weights: family ("sd3" | "flux"), its variant's config folder ("sd3", "sd35",
    "sd35-medium", "flux-dev", "flux-schnell"), the names' layout and prefix, and the diffusers config."""

    family: str
    variant: str
    layout: str  # "original" or "diffusers"
    prefix: str
    config: dict[str, Any]


def _without(shapes: Shapes, prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in shapes.items() if k.startswith(prefix)}


def find_flow_transformer(shapes: Shapes, source: str) -> FlowTransformer | None:
    """The flow transformer in a file's weights (original layout, optionally under model.diffusion_model., or a
    diffusers transformer's own names), or None when the file holds none."""
    for prefix in (DIFFUSION_PREFIX, ""):
        if prefix + SD3_MARKER in shapes:
            return _sd3(_without(shapes, prefix), "original", prefix, source)
        if prefix + FLUX_MARKER in shapes:
            return _flux(_without(shapes, prefix), "original", prefix, source)
    if "single_transformer_blocks.0.proj_mlp.weight" in shapes:
        return _flux(to_original("flux", shapes), "diffusers", "", source)
    if "pos_embed.proj.weight" in shapes and "context_embedder.weight" in shapes:
        return _sd3(to_original("sd3", shapes), "diffusers", "", source)
    return None


def _shape(weights: Shapes, key: str, source: str) -> tuple[int, ...]:
    if key not in weights:
        raise UnknownModelLayoutError(f"{source}: the transformer lacks its weight {key!r}")
    return tuple(int(n) for n in weights[key].shape)


def _sd3(weights: Shapes, layout: str, prefix: str, source: str) -> FlowTransformer:
    depth = _count_indices(weights, "joint_blocks.")
    inner, in_channels, patch, _ = _shape(weights, "x_embedder.proj.weight", source)
    caption, joint = _shape(weights, "context_embedder.weight", source)
    positions = _shape(weights, "pos_embed", source)[1]
    qk_norm = "joint_blocks.0.x_block.attn.ln_q.weight" in weights
    dual = [i for i in range(depth) if f"joint_blocks.{i}.x_block.attn2.qkv.weight" in weights]
    variant = "sd35-medium" if dual else "sd35" if qk_norm else "sd3"
    if inner % depth:
        raise UnknownModelLayoutError(
            f"{source}: an SD3 transformer of width {inner} cannot have {depth} heads, one per block, as MMDiT has"
        )
    config = family_config(variant, "transformer") | {
        "num_layers": depth,
        "num_attention_heads": depth,
        "attention_head_dim": inner // depth,
        "patch_size": patch,
        "in_channels": in_channels,
        "out_channels": _shape(weights, "final_layer.linear.weight", source)[0] // (patch * patch),
        "caption_projection_dim": caption,
        "joint_attention_dim": joint,
        "pooled_projection_dim": _shape(weights, "y_embedder.mlp.0.weight", source)[1],
        "pos_embed_max_size": round(positions**0.5),
        "dual_attention_layers": dual,
        "qk_norm": "rms_norm" if qk_norm else None,
    }
    return FlowTransformer("sd3", variant, layout, prefix, config)


def rope_axes(head_dim: int) -> list[int]:
    """Flux's rotary axes for a head width: the real model's 16/56/56 split of 128, scaled (each part even)."""
    side = head_dim * 7 // 16 // 2 * 2
    return [head_dim - 2 * side, side, side]


def _flux(weights: Shapes, layout: str, prefix: str, source: str) -> FlowTransformer:
    inner, in_channels = _shape(weights, "img_in.weight", source)
    head_dim = _shape(weights, "double_blocks.0.img_attn.norm.query_norm.scale", source)[0]
    guidance = "guidance_in.in_layer.weight" in weights
    variant = "flux-dev" if guidance else "flux-schnell"
    linear1 = (
        _shape(weights, "single_blocks.0.linear1.weight", source)[0]
        if "single_blocks.0.linear1.weight" in weights
        else 7 * inner
    )
    if linear1 != 7 * inner:
        raise UnknownModelLayoutError(
            f"{source}: its single blocks' MLP is not 4x the width {inner} (Flux's, which diffusers builds)"
        )
    config = family_config(variant, "transformer") | {
        "num_layers": _count_indices(weights, "double_blocks."),
        "num_single_layers": _count_indices(weights, "single_blocks."),
        "attention_head_dim": head_dim,
        "num_attention_heads": inner // head_dim,
        "in_channels": in_channels,
        "out_channels": _shape(weights, "final_layer.linear.weight", source)[0],
        "joint_attention_dim": _shape(weights, "txt_in.weight", source)[1],
        "pooled_projection_dim": _shape(weights, "vector_in.in_layer.weight", source)[1],
        "guidance_embeds": guidance,
        "axes_dims_rope": rope_axes(head_dim),
    }
    return FlowTransformer("flux", variant, layout, prefix, config)


def text_kind(shapes: Shapes, source: str) -> tuple[str, str]:
    """("t5" | "clip", the names' prefix) of a text encoder's weights (transformers' names, maybe under a prefix)."""
    for name in shapes:
        if name.endswith(T5_MARKER):
            return "t5", name[: -len(T5_MARKER)]
        if name.endswith(CLIP_MARKER):
            return "clip", name[: -len(CLIP_MARKER)].removesuffix("text_model.")
    sample = ", ".join(sorted(shapes)[:4]) or "(no weights)"
    raise UnknownModelLayoutError(
        f"{source} is not a CLIP or T5 text encoder in transformers' layout (no '*{CLIP_MARKER}' or "
        f"'*{T5_MARKER}'); found weights like: {sample}"
    )


def t5_config(shapes: Shapes, prefix: str, source: str) -> dict[str, Any]:
    """A T5 encoder's config from its weights (T5-XXL's published config for what they cannot show)."""
    weights = _without(shapes, prefix)
    embeddings = "shared.weight" if "shared.weight" in weights else "encoder.embed_tokens.weight"
    vocab, width = _shape(weights, embeddings, source)
    buckets, heads = _shape(weights, "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", source)
    gated = "encoder.block.0.layer.1.DenseReluDense.wi_0.weight" in weights
    ff_key = "encoder.block.0.layer.1.DenseReluDense." + ("wi_0.weight" if gated else "wi.weight")
    return family_config("sd3", "text_encoder_3") | {
        "vocab_size": vocab,
        "d_model": width,
        "num_layers": _count_indices(weights, "encoder.block."),
        "num_heads": heads,
        "d_kv": _shape(weights, "encoder.block.0.layer.0.SelfAttention.q.weight", source)[0] // heads,
        "d_ff": _shape(weights, ff_key, source)[0],
        "relative_attention_num_buckets": buckets,
        "relative_attention_max_distance": 4 * buckets,
        "feed_forward_proj": "gated-gelu" if gated else "relu",
    }


def clip_width(shapes: Shapes, prefix: str) -> int:
    """The width of the CLIP text encoder whose names are under `prefix`."""
    key = next(k for k in (prefix + "text_model." + CLIP_MARKER, prefix + CLIP_MARKER) if k in shapes)
    return int(shapes[key].shape[1])


def clip_part_names(widths: list[int]) -> list[str]:
    """The part name of each CLIP of a text encoder by width: bigG's width (1280) or, of two CLIPs of other
    widths, the wider is "clip_g"; the rest are "clip_l"."""
    if len(widths) == 2 and 1280 not in widths and 768 not in widths and widths[0] != widths[1]:
        return ["clip_g" if width == max(widths) else "clip_l" for width in widths]
    return ["clip_g" if width >= 1280 else "clip_l" for width in widths]


def text_parts_in(shapes: Shapes) -> list[str]:
    """The text parts an SD3/Flux single file carries under text_encoders.<part>.transformer."""
    found = {m.group(1) for name in shapes if (m := re.match(r"text_encoders\.(\w+)\.transformer\.", name))}
    return sorted(found)
