"""Recognising ControlNet and T2I-Adapter weights: key layout, model family, and the config to build them with."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import torch

CONFIG_ROOT = Path(__file__).parent / "configs"
LDM_PREFIX = "control_model."
DIFF_MARKER = "difference"  # the key that marks a diff ControlNet (weights relative to a base UNet)

Layout = Literal["controlnet_ldm", "controlnet_diffusers", "t2i_original", "t2i_original_light", "t2i_diffusers"]
_FAMILY_BY_CONTEXT = {768: "sd1", 1024: "sd2", 2048: "sdxl"}
# original T2I-Adapters take the hint pixel-unshuffled by 8 (SD) or 16 (SDXL); 1 or 3 hint channels
_XL_ADAPTER_INPUTS = (256, 768)
# every original (TencentARC) T2I-Adapter has four feature levels
ORIGINAL_ADAPTER_LEVELS = 4


class UnknownControlLayoutError(ValueError):
    """Weights that are neither a ControlNet nor a T2I-Adapter layout graphflow reads."""


def shipped_config(family: str, kind: str) -> dict[str, Any]:
    """The published config of a `kind` ("controlnet", "t2i_adapter") made for `family`, without `_` keys."""
    path = CONFIG_ROOT / family / kind / "config.json"
    if not path.is_file():
        raise ValueError(f"no shipped {kind} config for family {family!r}")
    return {k: v for k, v in json.loads(path.read_text()).items() if not k.startswith("_")}


def count_indices(keys: Mapping[str, Any], prefix: str) -> int:
    """Number of numbered children `prefix{i}.` (one more than the largest index found)."""
    indices = {int(k[len(prefix) :].split(".", 1)[0]) for k in keys if k.startswith(prefix)}
    return max(indices) + 1 if indices else 0


def classify(state: Mapping[str, torch.Tensor], source: str) -> Layout:
    """Which layout a state dict is in; a clear error naming `source` when it is none graphflow reads."""
    if "lora_controlnet" in state:
        raise UnknownControlLayoutError(
            f"{source} is a Control-LoRA (it has 'lora_controlnet'), which graphflow does not load; "
            "use a full ControlNet file or folder"
        )
    if LDM_PREFIX + "zero_convs.0.0.weight" in state or "zero_convs.0.0.weight" in state:
        return "controlnet_ldm"
    if "controlnet_cond_embedding.conv_in.weight" in state:
        return "controlnet_diffusers"
    if "adapter.conv_in.weight" in state or "adapter.body.0.in_conv.weight" in state:
        return "t2i_diffusers"
    if "conv_in.weight" in state and "body.0.block1.weight" in state:
        return "t2i_original"
    if "body.0.in_conv.weight" in state and "body.0.body.0.block1.weight" in state:
        return "t2i_original_light"
    sample = ", ".join(sorted(state)[:5]) or "(no keys)"
    raise UnknownControlLayoutError(
        f"{source} is not a ControlNet or T2I-Adapter graphflow can read: expected an original ControlNet "
        f"('{LDM_PREFIX}zero_convs.*' or 'zero_convs.*', 'input_hint_block.*'), a diffusers ControlNet "
        "('controlnet_cond_embedding.*'), or a T2I-Adapter ('conv_in.*' + 'body.*', or 'adapter.*'); "
        f"found keys like: {sample}"
    )


def _cross_attention_width(state: Mapping[str, torch.Tensor]) -> int | None:
    key = next((k for k in state if k.endswith("attn2.to_k.weight")), None)
    return None if key is None else int(state[key].shape[1])


def _linear_projection(state: Mapping[str, torch.Tensor]) -> bool:
    key = next((k for k in state if k.endswith("proj_in.weight")), None)
    return key is not None and state[key].ndim == 2


def controlnet_family(state: Mapping[str, torch.Tensor]) -> str:
    """ "sd1", "sd2" or "sdxl" for a ControlNet in diffusers names: size embedding, then context width."""
    if "add_embedding.linear_1.weight" in state:
        return "sdxl"
    width = _cross_attention_width(state)
    if width in _FAMILY_BY_CONTEXT:
        return _FAMILY_BY_CONTEXT[width]
    return "sd2" if _linear_projection(state) else "sd1"


def controlnet_config(state: Mapping[str, torch.Tensor], family: str, source: str) -> dict[str, Any]:
    """ControlNetModel config for diffusers-named weights: the family's shipped config, sizes read off the weights."""
    config = shipped_config(family, "controlnet")
    levels = count_indices(state, "down_blocks.")
    layers = count_indices(state, "down_blocks.0.resnets.")
    if not levels or not layers or "conv_in.weight" not in state:
        raise UnknownControlLayoutError(f"{source}: the ControlNet has no encoder blocks (down_blocks.*, conv_in)")
    channels = [int(state[f"down_blocks.{i}.resnets.0.conv2.weight"].shape[0]) for i in range(levels)]
    depths = [count_indices(state, f"down_blocks.{i}.attentions.0.transformer_blocks.") for i in range(levels)]
    embedding = [int(state["controlnet_cond_embedding.conv_in.weight"].shape[0])]
    for i in range(count_indices(state, "controlnet_cond_embedding.blocks.") // 2):
        embedding.append(int(state[f"controlnet_cond_embedding.blocks.{2 * i + 1}.weight"].shape[0]))
    config |= {
        "in_channels": int(state["conv_in.weight"].shape[1]),
        "conditioning_channels": int(state["controlnet_cond_embedding.conv_in.weight"].shape[1]),
        "conditioning_embedding_out_channels": embedding,
        "block_out_channels": channels,
        "layers_per_block": layers,
        "down_block_types": ["CrossAttnDownBlock2D" if d else "DownBlock2D" for d in depths],
        "use_linear_projection": _linear_projection(state),
        # SD1 uses 8 heads everywhere; SD2/SDXL heads of width 64 (the weights cannot tell)
        "attention_head_dim": 8 if family == "sd1" else [max(1, c // 64) for c in channels],
    }
    if "mid_block.attentions.0.proj_in.weight" not in state:
        config["mid_block_type"] = "UNetMidBlock2D"  # the small SDXL ControlNets have no mid-block attention
    width = _cross_attention_width(state)
    if width is not None:
        config["cross_attention_dim"] = width
    if family == "sdxl" or {d or 1 for d in depths} != {1}:
        config["transformer_layers_per_block"] = [d or 1 for d in depths]
    if "class_embedding.weight" in state:
        config["num_class_embeds"] = int(state["class_embedding.weight"].shape[0])
    if "add_embedding.linear_1.weight" in state:
        config |= _size_embedding(state, config, source)
    return config


def _size_embedding(state: Mapping[str, torch.Tensor], config: Mapping[str, Any], source: str) -> dict[str, Any]:
    """SDXL's pooled-text + size-hint embedding: its input width is in the weights, its time width is not."""
    width = int(state["add_embedding.linear_1.weight"].shape[1])
    time_width = int(config.get("addition_time_embed_dim") or 256)
    if width <= 6 * time_width:
        raise UnknownControlLayoutError(
            f"{source}: its size embedding takes {width} inputs, too few for SDXL's six size hints of width "
            f"{time_width}; give the model as a diffusers folder with its config.json"
        )
    return {
        "addition_embed_type": "text_time",
        "addition_time_embed_dim": time_width,
        "projection_class_embeddings_input_dim": width,
    }


def adapter_config(state: Mapping[str, torch.Tensor], source: str) -> tuple[str, dict[str, Any]]:
    """(family, T2IAdapter config) for weights in diffusers names (under `adapter.`)."""
    levels = count_indices(state, "adapter.body.")
    blocks = count_indices(state, "adapter.body.0.resnets.")
    if "adapter.conv_in.weight" in state:
        inputs = int(state["adapter.conv_in.weight"].shape[1])
        xl = inputs in _XL_ADAPTER_INPUTS
        factor = 16 if xl else 8
        channels = [int(state["adapter.conv_in.weight"].shape[0])]
        for i in range(1, levels):
            in_conv = state.get(f"adapter.body.{i}.in_conv.weight")
            channels.append(channels[-1] if in_conv is None else int(in_conv.shape[0]))
        kind = "full_adapter_xl" if xl else "full_adapter"
    else:
        inputs = int(state["adapter.body.0.in_conv.weight"].shape[1])
        factor, xl = 8, False
        outputs = [int(state[f"adapter.body.{i}.out_conv.weight"].shape[0]) for i in range(levels)]
        if levels < 2 or outputs[-1] != outputs[-2]:
            raise UnknownControlLayoutError(
                f"{source}: a light T2I-Adapter whose last two levels differ in width ({outputs}) is not supported"
            )
        channels, kind = outputs[:-1], "light_adapter"
    if inputs % (factor * factor):
        raise UnknownControlLayoutError(
            f"{source}: the adapter's first layer takes {inputs} inputs, not a multiple of {factor * factor} "
            f"(hint channels x {factor}x{factor} pixel unshuffle)"
        )
    config = {
        "in_channels": inputs // (factor * factor),
        "channels": channels,
        "num_res_blocks": blocks,
        "downscale_factor": factor,
        "adapter_type": kind,
    }
    return ("sdxl" if xl else "sd1"), config
