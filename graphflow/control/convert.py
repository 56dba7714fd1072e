"""Key layouts of ControlNet and T2I-Adapter files <-> the diffusers model classes' names, with no weight lost."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import torch
from diffusers.loaders.single_file_utils import convert_controlnet_checkpoint

from graphflow.models.convert import UNET_PREFIX, unet_to_ldm

from .detect import DIFF_MARKER, LDM_PREFIX, ORIGINAL_ADAPTER_LEVELS, UnknownControlLayoutError, count_indices

StateDict = dict[str, torch.Tensor]

# the original layout's size/class embedding (label_emb), which diffusers' ControlNet converter leaves out
_LABEL_EMBEDDING = {
    "label_emb.0.0.": "add_embedding.linear_1.",
    "label_emb.0.2.": "add_embedding.linear_2.",
    "label_emb.weight": "class_embedding.weight",
}
# diffusers' converter reads the hint encoder's output conv at this fixed index (four embedding levels)
_HINT_OUT_INDEX = 14
_CONTROL_ONLY = ("controlnet_cond_embedding.", "controlnet_down_blocks.", "controlnet_mid_block.")


def _unlanded(source: Mapping[str, torch.Tensor], converted: Mapping[str, torch.Tensor]) -> list[str]:
    """Source keys whose tensor is not among the converted values (renaming keeps the tensor objects)."""
    landed = {id(value) for value in converted.values()}
    return sorted(key for key, value in source.items() if id(value) not in landed)


def _check_complete(source: Mapping[str, torch.Tensor], converted: Mapping[str, torch.Tensor], what: str) -> None:
    missing = _unlanded(source, converted)
    if missing:
        raise UnknownControlLayoutError(
            f"{what}: {len(missing)} weights have no place in the model, e.g. {', '.join(missing[:4])}"
        )


def strip_ldm_prefix(state: Mapping[str, torch.Tensor], source: str) -> StateDict:
    """An original-layout ControlNet's own weights, without `control_model.` (and without the diff marker)."""
    if not any(key.startswith(LDM_PREFIX) for key in state):
        return {k: v for k, v in state.items() if k != DIFF_MARKER}
    stray = sorted(k for k in state if not k.startswith(LDM_PREFIX) and k != DIFF_MARKER)
    if stray:
        raise UnknownControlLayoutError(
            f"{source}: besides '{LDM_PREFIX}*' it holds {len(stray)} other weights, e.g. {', '.join(stray[:4])}"
        )
    return {k[len(LDM_PREFIX) :]: v for k, v in state.items() if k.startswith(LDM_PREFIX)}


def _layers_per_block(state: Mapping[str, torch.Tensor]) -> int:
    blocks = count_indices(state, "input_blocks.")
    first_downsample = next((i for i in range(1, blocks) if f"input_blocks.{i}.0.op.weight" in state), None)
    return (first_downsample if first_downsample is not None else blocks) - 1


def controlnet_from_ldm(state: Mapping[str, torch.Tensor], source: str) -> StateDict:
    """Original-layout ControlNet weights (prefix already stripped) in ControlNetModel's names, all of them."""
    converted = convert_controlnet_checkpoint(dict(state), {"layers_per_block": _layers_per_block(state)})
    out: StateDict = {k: v for k, v in converted.items() if v is not None}
    for key, value in state.items():
        for old, new in _LABEL_EMBEDDING.items():
            if key.startswith(old):
                out[new + key[len(old) :]] = value
    _check_complete(state, out, f"{source} (original ControlNet layout)")
    return out


def _pseudo_unet_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The UNet config whose encoder half a ControlNet copies (enough for the UNet key map)."""
    ups = ["CrossAttnUpBlock2D" if t.startswith("CrossAttn") else "UpBlock2D" for t in config["down_block_types"]]
    return {
        "layers_per_block": config["layers_per_block"],
        "block_out_channels": config["block_out_channels"],
        "up_block_types": list(reversed(ups)),
    }


def controlnet_to_ldm(state: Mapping[str, torch.Tensor], config: Mapping[str, Any]) -> StateDict:
    """A ControlNetModel state dict in the original single-file layout (under `control_model.`)."""
    blocks = count_indices(state, "controlnet_cond_embedding.blocks.")
    if 2 * (blocks + 1) != _HINT_OUT_INDEX:
        raise ValueError(
            f"the original layout has a four-level hint encoder; this ControlNet has {blocks // 2 + 1} levels "
            "(conditioning_embedding_out_channels)"
        )
    out: StateDict = {}
    shared: StateDict = {}
    for key, value in state.items():
        if key.startswith("controlnet_down_blocks."):
            index, rest = key[len("controlnet_down_blocks.") :].split(".", 1)
            out[f"zero_convs.{index}.0.{rest}"] = value
        elif key.startswith("controlnet_mid_block."):
            out["middle_block_out.0." + key[len("controlnet_mid_block.") :]] = value
        elif key.startswith("controlnet_cond_embedding.conv_in."):
            out["input_hint_block.0." + key.rsplit(".", 1)[1]] = value
        elif key.startswith("controlnet_cond_embedding.conv_out."):
            out[f"input_hint_block.{_HINT_OUT_INDEX}." + key.rsplit(".", 1)[1]] = value
        elif key.startswith("controlnet_cond_embedding.blocks."):
            index, rest = key[len("controlnet_cond_embedding.blocks.") :].split(".", 1)
            out[f"input_hint_block.{2 * int(index) + 2}.{rest}"] = value
        elif key.startswith("class_embedding.weight"):
            out["label_emb.weight"] = value
        else:
            shared[key] = value
    for key, value in unet_to_ldm(shared, _pseudo_unet_config(config)).items():
        out[key[len(UNET_PREFIX) :]] = value
    return {LDM_PREFIX + k: v.detach().contiguous() for k, v in out.items()}


def add_base_weights(state: Mapping[str, torch.Tensor], base: Mapping[str, torch.Tensor], source: str) -> StateDict:
    """A diff ControlNet made whole: each weight the base UNet also has (same diffusers name) gets it added."""
    out: StateDict = {}
    for key, value in state.items():
        if key.startswith(_CONTROL_ONLY) or key not in base:
            out[key] = value
            continue
        if base[key].shape != value.shape:
            raise ValueError(
                f"{source}: the diff ControlNet's {key} has shape {tuple(value.shape)} but the model's has "
                f"{tuple(base[key].shape)}; it was made for another base model"
            )
        out[key] = (value.float() + base[key].detach().to("cpu", torch.float32)).to(value.dtype)
    return out


_FULL_BODY = re.compile(r"body\.(\d+)\.(block1|block2|in_conv)\.(weight|bias)$")
_LIGHT_BODY = re.compile(r"body\.(\d+)\.(?:(in_conv|out_conv)|body\.(\d+)\.(block1|block2))\.(weight|bias)$")


def adapter_from_original(state: Mapping[str, torch.Tensor], source: str) -> StateDict:
    """An original (TencentARC) full T2I-Adapter in T2IAdapter's names (under `adapter.`)."""
    unsupported = sorted(k for k in state if ".skep." in k or ".down_opt.op." in k)
    if unsupported:
        raise UnknownControlLayoutError(
            f"{source}: a T2I-Adapter with skip or strided-conv blocks ({unsupported[0]}) has no diffusers "
            "equivalent; only the published kind (plain skips, average-pool downsampling) loads"
        )
    entries = count_indices(state, "body.")
    if entries % ORIGINAL_ADAPTER_LEVELS:
        raise UnknownControlLayoutError(
            f"{source}: {entries} adapter blocks do not split into {ORIGINAL_ADAPTER_LEVELS} levels"
        )
    per_level = entries // ORIGINAL_ADAPTER_LEVELS
    out: StateDict = {}
    for key, value in state.items():
        if key.startswith("conv_in."):
            out["adapter." + key] = value
            continue
        match = _FULL_BODY.fullmatch(key)
        if match is None:
            continue
        level, block = divmod(int(match[1]), per_level)
        if match[2] == "in_conv":
            if block or (value.ndim == 4 and value.shape[-1] != 1):
                raise UnknownControlLayoutError(f"{source}: {key} is not the 1x1 channel change diffusers has")
            out[f"adapter.body.{level}.in_conv.{match[3]}"] = value
        else:
            if match[2] == "block2" and value.ndim == 4 and value.shape[-1] != 1:
                raise UnknownControlLayoutError(
                    f"{source}: {key} has a {value.shape[-1]}x{value.shape[-1]} kernel; diffusers' adapter blocks end "
                    "in a 1x1 convolution"
                )
            out[f"adapter.body.{level}.resnets.{block}.{match[2]}.{match[3]}"] = value
    _check_complete(state, out, f"{source} (original T2I-Adapter layout)")
    return out


def adapter_from_original_light(state: Mapping[str, torch.Tensor], source: str) -> StateDict:
    """An original light T2I-Adapter (e.g. the colour adapter) in T2IAdapter's names (under `adapter.`)."""
    out: StateDict = {}
    for key, value in state.items():
        match = _LIGHT_BODY.fullmatch(key)
        if match is None:
            continue
        level, conv, block, part, kind = match.groups()
        name = f"{conv}" if conv else f"resnets.{block}.{part}"
        out[f"adapter.body.{level}.{name}.{kind}"] = value
    _check_complete(state, out, f"{source} (original light T2I-Adapter layout)")
    return out


def adapter_to_original(state: Mapping[str, torch.Tensor]) -> StateDict:
    """A full T2IAdapter state dict in the original (TencentARC) layout; it must have four levels."""
    levels = count_indices(state, "adapter.body.")
    if levels != ORIGINAL_ADAPTER_LEVELS:
        raise ValueError(f"the original layout has {ORIGINAL_ADAPTER_LEVELS} adapter levels, this one has {levels}")
    per_level = count_indices(state, "adapter.body.0.resnets.")
    out: StateDict = {}
    for key, value in state.items():
        rest = key.removeprefix("adapter.")
        parts = rest.split(".")
        if parts[0] == "body" and parts[2] == "resnets":
            rest = f"body.{int(parts[1]) * per_level + int(parts[3])}.{'.'.join(parts[4:])}"
        elif parts[0] == "body":
            rest = f"body.{int(parts[1]) * per_level}.{'.'.join(parts[2:])}"
        out[rest] = value.detach().contiguous()
    return out
