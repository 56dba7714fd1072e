"""CLIP vision weights in the layouts ComfyUI reads, named as transformers' CLIPVisionModelWithProjection names them.

Two layouts: transformers' own (`vision_model.*`, `visual_projection.weight`, as in the IP-Adapter image
encoders and full CLIP models) and OpenAI/OpenCLIP's (`visual.conv1.weight`, `visual.transformer.resblocks.*`,
`visual.proj`; also inside unCLIP checkpoints under `embedder.model.visual.`).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from .convert import _count_indices

StateDict = dict[str, torch.Tensor]

VISION = "vision_model."
PROJECTION = "visual_projection.weight"
OPENCLIP_MARKER = "transformer.resblocks.0.attn.in_proj_weight"
_OPENCLIP_TOP = {
    "class_embedding": "embeddings.class_embedding",
    "conv1.weight": "embeddings.patch_embedding.weight",
    "positional_embedding": "embeddings.position_embedding.weight",
    "ln_pre.weight": "pre_layrnorm.weight",
    "ln_pre.bias": "pre_layrnorm.bias",
    "ln_post.weight": "post_layernorm.weight",
    "ln_post.bias": "post_layernorm.bias",
}
_OPENCLIP_LAYER = {
    "ln_1": "layer_norm1",
    "ln_2": "layer_norm2",
    "mlp.c_fc": "mlp.fc1",
    "mlp.c_proj": "mlp.fc2",
    "attn.out_proj": "self_attn.out_proj",
}


def openclip_prefix(state: Mapping[str, torch.Tensor]) -> str | None:
    """The prefix (ending in `visual.`) of OpenAI/OpenCLIP-layout vision weights in `state`, if any."""
    for key in state:
        if key.endswith("visual." + OPENCLIP_MARKER):
            return key[: -len(OPENCLIP_MARKER)]
    return None


def from_openclip(state: Mapping[str, torch.Tensor], prefix: str) -> StateDict:
    """Transformers-named vision weights from OpenAI/OpenCLIP-layout ones under `prefix`."""
    out: StateDict = {VISION + new: state[prefix + old] for old, new in _OPENCLIP_TOP.items() if prefix + old in state}
    if prefix + "proj" in state:
        out[PROJECTION] = state[prefix + "proj"].T.contiguous()
    for i in range(_count_indices(state, prefix + "transformer.resblocks.")):
        src, dst = f"{prefix}transformer.resblocks.{i}.", f"{VISION}encoder.layers.{i}."
        for kind in ("weight", "bias"):
            for name, part in zip("qkv", state[f"{src}attn.in_proj_{kind}"].chunk(3), strict=True):
                out[f"{dst}self_attn.{name}_proj.{kind}"] = part.contiguous()
            for old, new in _OPENCLIP_LAYER.items():
                out[f"{dst}{new}.{kind}"] = state[f"{src}{old}.{kind}"]
    return out


def to_openclip(canonical: Mapping[str, torch.Tensor], prefix: str = "visual.") -> StateDict:
    """OpenAI/OpenCLIP-layout vision weights under `prefix` from transformers-named ones (for tests and tools)."""
    out: StateDict = {prefix + old: canonical[VISION + new] for old, new in _OPENCLIP_TOP.items()}
    if PROJECTION in canonical:
        out[prefix + "proj"] = canonical[PROJECTION].T.contiguous()
    for i in range(_count_indices(canonical, VISION + "encoder.layers.")):
        src, dst = f"{VISION}encoder.layers.{i}.", f"{prefix}transformer.resblocks.{i}."
        for kind in ("weight", "bias"):
            out[f"{dst}attn.in_proj_{kind}"] = torch.cat([canonical[f"{src}self_attn.{n}_proj.{kind}"] for n in "qkv"])
            for old, new in _OPENCLIP_LAYER.items():
                out[f"{dst}{old}.{kind}"] = canonical[f"{src}{new}.{kind}"]
    return out


def canonical_vision_weights(state: Mapping[str, torch.Tensor], source: str) -> StateDict:
    """The vision weights of a file in either layout, transformers-named; other weights (a text tower) are left out."""
    prefix = openclip_prefix(state)
    if prefix is not None:
        return from_openclip(state, prefix)
    weights = {k: v for k, v in state.items() if k.startswith(VISION) and not k.endswith("position_ids")}
    if PROJECTION in state:
        weights[PROJECTION] = state[PROJECTION]
    if VISION + "embeddings.patch_embedding.weight" not in weights:
        sample = ", ".join(sorted(state)[:4]) or "(no keys)"
        raise ValueError(
            f"{source} is not a CLIP vision model: expected transformers' 'vision_model.*' weights or "
            f"OpenCLIP's 'visual.{OPENCLIP_MARKER}'; found keys like: {sample}"
        )
    return weights


def layer_count(canonical: Mapping[str, torch.Tensor]) -> int:
    """How many transformer layers the vision weights hold."""
    return _count_indices(canonical, VISION + "encoder.layers.")
