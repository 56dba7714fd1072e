"""Recognising a model's family, prediction type and architecture from its weights or folder."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .convert import CLIP_PREFIXES, OPENCLIP_PARTS, UNET_PREFIX, VAE_PREFIX, _count_indices
from .embedded import CONFIGS_KEY, embedded_configs

CONFIG_ROOT = Path(__file__).parent / "configs"
FAMILIES = ("sd1", "sd2", "sdxl")
FAMILY_PREDICTION = {"sd1": "epsilon", "sd2": "v_prediction", "sdxl": "epsilon"}
PREDICTIONS = ("epsilon", "v_prediction")
# the base text config of each text part; sizes are then read from the weights
_TEXT_BASE = {
    "clip_l": ("sd1", "text_encoder"),
    "clip_h": ("sd2", "text_encoder"),
    "clip_g": ("sdxl", "text_encoder_2"),
}
_PREDICTION_ALIASES = {
    "epsilon": "epsilon",
    "eps": "epsilon",
    "v": "v_prediction",
    "v_prediction": "v_prediction",
    "v-prediction": "v_prediction",
}
_METADATA_KEYS = ("modelspec.prediction_type", "prediction_type")
_CONFIG_FOLDERS = {"flux": "flux-dev"}  # a family whose configs are one variant's


class UnknownModelLayoutError(ValueError):
    """Weights or a folder that match none of the supported layouts."""


class UninferableSettingsError(UnknownModelLayoutError):
    """A checkpoint whose architecture settings cannot be read from its weights (and that carries none)."""


HOW_TO_GIVE_SETTINGS = (
    "Give the model with its settings: as a diffusers folder (model_index.json, and unet/, vae/, text_encoder/ "
    "each with its config.json), or as one .safetensors file that carries its configs in its metadata "
    f"({CONFIGS_KEY!r}, written by graphflow.models.embedded.embed; `python -m graphflow.demo.export` writes "
    "such a file for the demo model)"
)
_PARTS = {"unet": "UNet", "vae": "VAE"}


def settings_error(source: str, part: str, reason: str, embedded: bool = False) -> UninferableSettingsError:
    """The error for a `part` ("unet", "vae", "text encoder clip_l", ...) that its settings cannot build."""
    name = _PARTS.get(part, part)
    if embedded:
        return UninferableSettingsError(
            f"{source}: the {name} settings in its metadata ({CONFIGS_KEY!r}) do not fit its weights: {reason}"
        )
    return UninferableSettingsError(
        f"{source}: the {name}'s settings cannot be inferred from its weights: {reason}. {HOW_TO_GIVE_SETTINGS}"
    )


def _groups_problem(config: Mapping[str, Any]) -> str | None:
    groups = int(config.get("norm_num_groups", 32))
    channels = [int(c) for c in config.get("block_out_channels", ())]
    if all(c % groups == 0 for c in channels):
        return None
    listed = ", ".join(map(str, channels))
    return (
        f"its channel counts ({listed}) do not split into the {groups} normalisation groups Stable Diffusion uses "
        "(norm_num_groups), and the weights do not record the group count"
    )


def check_inferred(source: str, part: str, config: Mapping[str, Any]) -> None:
    """Refuse settings read off weights that could not have produced them (e.g. 16 channels in 32 groups)."""
    # SD's 8 attention heads divide any channel count its 32 groups do, so the groups are the one thing to check
    problem = _groups_problem(config)
    if problem:
        raise settings_error(source, part, problem)


@dataclass
class Detection:
    """What a checkpoint is: family, prediction type, key layout and the configs to build it with."""

    family: str
    prediction: str
    layout: str  # "ldm" (original single file) or "diffusers"
    unet_config: dict[str, Any] = field(default_factory=dict)
    vae_config: dict[str, Any] | None = None
    text_configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    scheduler_config: dict[str, Any] | None = None  # only where the file carries one; else the family's


def family_config(family: str, component: str) -> dict[str, Any]:
    """The shipped (published) config of `component` ("unet", "vae", "text_encoder", ...) of `family`."""
    name = "scheduler_config.json" if component == "scheduler" else "config.json"
    path = CONFIG_ROOT / _CONFIG_FOLDERS.get(family, family) / component / name
    if not path.is_file():
        raise ValueError(f"no {component} config for family {family!r}")
    return {k: v for k, v in json.loads(path.read_text()).items() if not k.startswith("_")}


def normalize_prediction(value: str, source: str) -> str:
    """'epsilon' or 'v_prediction' from common spellings; a clear error otherwise."""
    normalized = _PREDICTION_ALIASES.get(str(value).strip().lower())
    if normalized is None:
        raise ValueError(f"unknown prediction type {value!r} from {source}; use 'epsilon' or 'v_prediction'")
    return normalized


def _prediction(family: str, state_dict: Mapping[str, Any], metadata: Mapping[str, str], override: str | None) -> str:
    if override is not None:
        return normalize_prediction(override, "the loader argument")
    if "v_pred" in state_dict:
        return "v_prediction"
    for key in _METADATA_KEYS:
        if key in metadata:
            return normalize_prediction(metadata[key], f"file metadata {key!r}")
    return FAMILY_PREDICTION[family]


def detect_state_dict(
    state_dict: Mapping[str, torch.Tensor],
    metadata: Mapping[str, str] | None = None,
    prediction: str | None = None,
    source: str = "the checkpoint",
) -> Detection:
    """Detect an original-layout checkpoint, or a diffusers-layout UNet state dict (keys optionally under `unet.`);
    `source` names the file in errors."""
    metadata = metadata or {}
    if UNET_PREFIX + "input_blocks.0.0.weight" in state_dict:
        unet = {k[len(UNET_PREFIX) :]: v for k, v in state_dict.items() if k.startswith(UNET_PREFIX)}
        levels, layout = _levels_ldm(unet), "ldm"
    else:
        prefix = "unet." if "unet.conv_in.weight" in state_dict else ""
        unet = {k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)}
        if "conv_in.weight" not in unet or "down_blocks.0.resnets.0.conv1.weight" not in unet:
            sample = ", ".join(sorted(state_dict)[:5]) or "(no keys)"
            raise UnknownModelLayoutError(
                "not a recognised Stable Diffusion checkpoint: expected the original layout "
                f"('{UNET_PREFIX}input_blocks.*', '{VAE_PREFIX}*', 'cond_stage_model.*' or "
                "'conditioner.embedders.*') or a diffusers UNet ('conv_in.*', 'down_blocks.*'); "
                f"found keys like: {sample}"
            )
        levels, layout = _levels_diffusers(unet), "diffusers"
    family = _family(state_dict, unet, layout)
    text_configs = {
        part: text_config_from_weights(state_dict, part, prefix, source)
        for part, prefix in CLIP_PREFIXES[family].items()
        if _has_prefix(state_dict, prefix)
    }
    pooled = text_configs.get("clip_g", {}).get("projection_dim")
    has_vae = _has_prefix(state_dict, VAE_PREFIX)
    embedded = embedded_configs(metadata, source)  # shapes the weights cannot tell, where the file has them
    unet_config = embedded.get("unet")
    if not unet_config:
        unet_config = _unet_config(family, unet, levels, layout, pooled)
        check_inferred(source, "unet", unet_config)
    vae_config = embedded.get("vae") if has_vae else None
    if has_vae and not vae_config:
        vae_config = vae_config_from_ldm(family, state_dict)
        check_inferred(source, "vae", vae_config)
    return Detection(
        family=family,
        prediction=_prediction(family, state_dict, metadata, prediction),
        layout=layout,
        unet_config=unet_config,
        vae_config=vae_config,
        text_configs={part: embedded.get("text", {}).get(part, config) for part, config in text_configs.items()},
        scheduler_config=embedded.get("scheduler"),
    )


def detect_folder(folder: str | Path, prediction: str | None = None) -> Detection:
    """Detect a diffusers pipeline folder (model_index.json, unet/, vae/, text_encoder/...)."""
    folder = Path(folder)
    index_path = folder / "model_index.json"
    if not index_path.is_file():
        raise UnknownModelLayoutError(f"{folder} is not a diffusers model folder: it has no model_index.json")
    index = json.loads(index_path.read_text())
    unet_config = _read_json(folder / "unet" / "config.json")
    text_config = _read_json(folder / "text_encoder" / "config.json")
    if unet_config.get("addition_embed_type") == "text_time" or "text_encoder_2" in index:
        family = "sdxl"
    elif text_config.get("hidden_act") == "gelu" or unet_config.get("cross_attention_dim") == 1024:
        family = "sd2"  # OpenCLIP text encoders use exact GELU, OpenAI CLIP uses quick GELU
    else:
        family = "sd1"
    scheduler_path = folder / "scheduler" / "scheduler_config.json"
    scheduler = _read_json(scheduler_path) if scheduler_path.is_file() else {}
    if prediction is not None:
        chosen = normalize_prediction(prediction, "the loader argument")
    elif "prediction_type" in scheduler:
        chosen = normalize_prediction(scheduler["prediction_type"], str(scheduler_path))
    else:
        chosen = FAMILY_PREDICTION[family]
    return Detection(family=family, prediction=chosen, layout="diffusers", unet_config=unet_config)


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise UnknownModelLayoutError(f"diffusers folder is missing {path}")
    return json.loads(path.read_text())


def _has_prefix(state_dict: Mapping[str, Any], prefix: str) -> bool:
    return any(k.startswith(prefix) for k in state_dict)


def _family(state_dict: Mapping[str, Any], unet: Mapping[str, torch.Tensor], layout: str) -> str:
    adm_key = "label_emb.0.0.weight" if layout == "ldm" else "add_embedding.linear_1.weight"
    if adm_key in unet or _has_prefix(state_dict, CLIP_PREFIXES["sdxl"]["clip_g"]):
        return "sdxl"
    if _has_prefix(state_dict, CLIP_PREFIXES["sd2"]["clip_h"]):
        return "sd2"
    if _has_prefix(state_dict, CLIP_PREFIXES["sd1"]["clip_l"]):
        return "sd1"
    # no text encoder in the file: judge by the cross-attention width and projection kind
    context = _cross_attention_dim(unet)
    by_context = {768: "sd1", 1024: "sd2", 2048: "sdxl"}
    if context in by_context:
        return by_context[context]
    return "sd2" if _linear_projection(unet) else "sd1"


def _cross_attention_dim(unet: Mapping[str, torch.Tensor]) -> int:
    key = next((k for k in unet if k.endswith("attn2.to_k.weight")), None)
    if key is None:
        raise UnknownModelLayoutError(
            "the UNet has no cross-attention layers (attn2.to_k); not an SD text-to-image UNet"
        )
    return int(unet[key].shape[1])


def _linear_projection(unet: Mapping[str, torch.Tensor]) -> bool:
    key = next(k for k in unet if k.endswith("proj_in.weight"))
    return unet[key].ndim == 2


# a level is a list of (resnet output channels, transformer depth after it; 0 = no attention)
Levels = list[list[tuple[int, int]]]


def _levels_ldm(unet: Mapping[str, torch.Tensor]) -> Levels:
    levels: Levels = [[]]
    for i in range(1, _count_indices(unet, "input_blocks.")):
        if f"input_blocks.{i}.0.op.weight" in unet:
            levels.append([])
            continue
        channels = int(unet[f"input_blocks.{i}.0.out_layers.3.weight"].shape[0])
        levels[-1].append((channels, _count_indices(unet, f"input_blocks.{i}.1.transformer_blocks.")))
    return levels


def _levels_diffusers(unet: Mapping[str, torch.Tensor]) -> Levels:
    return [
        [
            (
                int(unet[f"down_blocks.{level}.resnets.{j}.conv2.weight"].shape[0]),
                _count_indices(unet, f"down_blocks.{level}.attentions.{j}.transformer_blocks."),
            )
            for j in range(_count_indices(unet, f"down_blocks.{level}.resnets."))
        ]
        for level in range(_count_indices(unet, "down_blocks."))
    ]


def _unet_config(
    family: str, unet: Mapping[str, torch.Tensor], levels: Levels, layout: str, pooled_dim: int | None
) -> dict[str, Any]:
    config = family_config(family, "unet")
    conv_in, conv_out = (
        ("input_blocks.0.0.weight", "out.2.weight") if layout == "ldm" else ("conv_in.weight", "conv_out.weight")
    )
    channels = [level[0][0] for level in levels]
    depths = [level[0][1] for level in levels]
    config |= {
        "in_channels": int(unet[conv_in].shape[1]),
        "out_channels": int(unet[conv_out].shape[0]),
        "block_out_channels": channels,
        "layers_per_block": len(levels[0]),
        "down_block_types": ["CrossAttnDownBlock2D" if d else "DownBlock2D" for d in depths],
        "up_block_types": ["CrossAttnUpBlock2D" if d else "UpBlock2D" for d in reversed(depths)],
        "cross_attention_dim": _cross_attention_dim(unet),
        "use_linear_projection": _linear_projection(unet),
        # SD1 uses 8 heads everywhere; SD2/SDXL use heads of width 64
        "attention_head_dim": 8 if family == "sd1" else [max(1, c // 64) for c in channels],
    }
    transformer_depths = [d or 1 for d in depths]
    if family == "sdxl" or set(transformer_depths) != {1}:
        config["transformer_layers_per_block"] = transformer_depths
    adm_key = "label_emb.0.0.weight" if layout == "ldm" else "add_embedding.linear_1.weight"
    if adm_key in unet:
        adm_in = int(unet[adm_key].shape[1])
        # without the text encoder the pooled width is unknown: keep the family's size-hint width
        pooled = pooled_dim if pooled_dim is not None else adm_in - 6 * int(config.get("addition_time_embed_dim", 256))
        config |= {
            "addition_embed_type": "text_time",
            "projection_class_embeddings_input_dim": adm_in,
            "addition_time_embed_dim": (adm_in - pooled) // 6,
        }
    return config


def vae_config_from_ldm(family: str, state_dict: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    """AutoencoderKL config of original-layout VAE weights (under first_stage_model.), sizes read from shapes."""
    vae = {k[len(VAE_PREFIX) :]: v for k, v in state_dict.items() if k.startswith(VAE_PREFIX)}
    levels = _count_indices(vae, "encoder.down.")
    return family_config(family, "vae") | {
        "in_channels": int(vae["encoder.conv_in.weight"].shape[1]),
        "out_channels": int(vae["decoder.conv_out.weight"].shape[0]),
        "latent_channels": int(vae["decoder.conv_in.weight"].shape[1]),
        "block_out_channels": [int(vae[f"encoder.down.{i}.block.0.conv2.weight"].shape[0]) for i in range(levels)],
        "layers_per_block": _count_indices(vae, "encoder.down.0.block."),
        "down_block_types": ["DownEncoderBlock2D"] * levels,
        "up_block_types": ["UpDecoderBlock2D"] * levels,
        "use_quant_conv": "quant_conv.weight" in vae,  # SD3's and Flux's VAEs have none
        "use_post_quant_conv": "post_quant_conv.weight" in vae,
    }


def text_config_from_weights(
    state_dict: Mapping[str, torch.Tensor], part: str, prefix: str, source: str
) -> dict[str, Any]:
    """A CLIP text `part`'s config: its family's published one, with the sizes read off the weights under `prefix`."""
    config = family_config(*_TEXT_BASE[part])
    if part in OPENCLIP_PARTS and prefix + "token_embedding.weight" in state_dict:  # else transformers' names
        token = _weight(state_dict, prefix + "token_embedding.weight", part, source)
        positions = _weight(state_dict, prefix + "positional_embedding", part, source).shape[0]
        layers = _count_indices(state_dict, prefix + "transformer.resblocks.")
        intermediate = _weight(state_dict, prefix + "transformer.resblocks.0.mlp.c_fc.weight", part, source).shape[0]
        projection = state_dict.get(prefix + "text_projection")
        if projection is not None:
            config["projection_dim"] = int(projection.shape[1])
    else:
        inner = prefix + "text_model." if _has_prefix(state_dict, prefix + "text_model.") else prefix
        token = _weight(state_dict, inner + "embeddings.token_embedding.weight", part, source)
        positions = _weight(state_dict, inner + "embeddings.position_embedding.weight", part, source).shape[0]
        layers = _count_indices(state_dict, inner + "encoder.layers.")
        intermediate = _weight(state_dict, inner + "encoder.layers.0.mlp.fc1.weight", part, source).shape[0]
        projection = state_dict.get(prefix + "text_projection.weight")
        if projection is not None:
            config["projection_dim"] = int(projection.shape[0])
    hidden = int(token.shape[1])
    return config | {
        "vocab_size": int(token.shape[0]),
        "hidden_size": hidden,
        "max_position_embeddings": int(positions),
        "num_hidden_layers": layers,
        "intermediate_size": int(intermediate),
        "num_attention_heads": max(1, hidden // 64),
    }


def _weight(state_dict: Mapping[str, torch.Tensor], key: str, part: str, source: str) -> torch.Tensor:
    if key not in state_dict:
        raise UnknownModelLayoutError(f"{source}: the text encoder ({part}) lacks its weight {key!r}")
    return state_dict[key]
