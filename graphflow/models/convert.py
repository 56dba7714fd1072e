"""Key-layout conversion between diffusers/transformers models and original (LDM) checkpoints."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch
from transformers import CLIPTextModel

StateDict = dict[str, torch.Tensor]

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
# text encoder prefixes in original checkpoints, per family and part
CLIP_PREFIXES: dict[str, dict[str, str]] = {
    "sd1": {"clip_l": "cond_stage_model.transformer."},
    "sd2": {"clip_h": "cond_stage_model.model."},
    "sdxl": {"clip_l": "conditioner.embedders.0.transformer.", "clip_g": "conditioner.embedders.1.model."},
}
OPENCLIP_PARTS = frozenset({"clip_h", "clip_g"})

_RESNET_UNET = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "time_emb_proj": "emb_layers.1",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "conv_shortcut": "skip_connection",
}
_VAE_ATTENTION = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}
_OPENCLIP_LAYER = {
    "self_attn.out_proj": "attn.out_proj",
    "layer_norm1": "ln_1",
    "layer_norm2": "ln_2",
    "mlp.fc1": "mlp.c_fc",
    "mlp.fc2": "mlp.c_proj",
}


def _rename(key: str, prefix_map: Mapping[str, str], inner: Mapping[str, str] | None = None) -> str | None:
    """Map `key` through the first matching prefix, then rename its first inner component."""
    for old, new in prefix_map.items():
        if key.startswith(old):
            rest = key[len(old) :]
            for inner_old, inner_new in (inner or {}).items():
                if rest.startswith(inner_old + "."):
                    rest = inner_new + rest[len(inner_old) :]
                    break
            return new + rest
    return None


def _unet_prefix_map(config: Mapping[str, Any]) -> dict[str, str]:
    layers = int(config["layers_per_block"])
    levels = len(config["block_out_channels"])
    up_has_attention = [t.startswith("CrossAttn") for t in config["up_block_types"]]
    mapping = {
        "time_embedding.linear_1.": "time_embed.0.",
        "time_embedding.linear_2.": "time_embed.2.",
        "add_embedding.linear_1.": "label_emb.0.0.",
        "add_embedding.linear_2.": "label_emb.0.2.",
        "conv_in.": "input_blocks.0.0.",
        "conv_norm_out.": "out.0.",
        "conv_out.": "out.2.",
        "mid_block.resnets.0.": "middle_block.0.",
        "mid_block.attentions.0.": "middle_block.1.",
        "mid_block.resnets.1.": "middle_block.2.",
    }
    for level in range(levels):
        for j in range(layers):
            index = 1 + level * (layers + 1) + j
            mapping[f"down_blocks.{level}.resnets.{j}."] = f"input_blocks.{index}.0."
            mapping[f"down_blocks.{level}.attentions.{j}."] = f"input_blocks.{index}.1."
        mapping[f"down_blocks.{level}.downsamplers.0.conv."] = f"input_blocks.{1 + level * (layers + 1) + layers}.0.op."
        for j in range(layers + 1):
            index = level * (layers + 1) + j
            mapping[f"up_blocks.{level}.resnets.{j}."] = f"output_blocks.{index}.0."
            mapping[f"up_blocks.{level}.attentions.{j}."] = f"output_blocks.{index}.1."
        upsample_slot = 2 if up_has_attention[level] else 1
        mapping[f"up_blocks.{level}.upsamplers.0.conv."] = (
            f"output_blocks.{level * (layers + 1) + layers}.{upsample_slot}.conv."
        )
    return mapping


def unet_to_ldm(state_dict: Mapping[str, torch.Tensor], config: Mapping[str, Any]) -> StateDict:
    """A diffusers UNet2DConditionModel state dict in the original layout (under model.diffusion_model.)."""
    mapping = _unet_prefix_map(config)
    out: StateDict = {}
    for key, value in state_dict.items():
        new = _rename(key, mapping, _RESNET_UNET if ".resnets." in key else None)
        if new is None:
            raise KeyError(f"no original-layout name for UNet weight {key!r}")
        out[UNET_PREFIX + new] = value
    return out


def vae_to_ldm(state_dict: Mapping[str, torch.Tensor], config: Mapping[str, Any]) -> StateDict:
    """A diffusers AutoencoderKL state dict in the original layout (attention as 1x1 convs)."""
    levels = len(config["block_out_channels"])
    mapping = {"quant_conv.": "quant_conv.", "post_quant_conv.": "post_quant_conv."}
    for part in ("encoder", "decoder"):
        mapping |= {
            f"{part}.conv_in.": f"{part}.conv_in.",
            f"{part}.conv_out.": f"{part}.conv_out.",
            f"{part}.conv_norm_out.": f"{part}.norm_out.",
            f"{part}.mid_block.resnets.0.": f"{part}.mid.block_1.",
            f"{part}.mid_block.resnets.1.": f"{part}.mid.block_2.",
            f"{part}.mid_block.attentions.0.": f"{part}.mid.attn_1.",
        }
    for level in range(levels):
        mapping[f"encoder.down_blocks.{level}.resnets."] = f"encoder.down.{level}.block."
        mapping[f"encoder.down_blocks.{level}.downsamplers.0."] = f"encoder.down.{level}.downsample."
        up = levels - 1 - level  # the original decoder numbers its levels from the lowest resolution
        mapping[f"decoder.up_blocks.{level}.resnets."] = f"decoder.up.{up}.block."
        mapping[f"decoder.up_blocks.{level}.upsamplers.0."] = f"decoder.up.{up}.upsample."
    out: StateDict = {}
    for key, value in state_dict.items():
        if ".attentions." in key:
            new = _rename(key, mapping, _VAE_ATTENTION)
            if value.ndim == 2:
                value = value[:, :, None, None]
        else:
            new = _rename(key, mapping)
            new = new and new.replace(".conv_shortcut.", ".nin_shortcut.")
        if new is None:
            raise KeyError(f"no original-layout name for VAE weight {key!r}")
        out[VAE_PREFIX + new] = value
    return out


_CLIP_PARTS = ("text_model.", "embeddings.", "encoder.", "final_layer_norm.")


def _canonical(key: str) -> str:
    return key if key.startswith(("text_model.", "text_projection.")) else "text_model." + key


def canonical_clip_keys(state_dict: Mapping[str, torch.Tensor]) -> StateDict:
    """transformers CLIP text weights with the `text_model.` prefix (transformers >= 5.6 omits it)."""
    return {_canonical(k): v for k, v in state_dict.items() if not k.endswith("position_ids")}


def clip_to_ldm(state_dict: Mapping[str, torch.Tensor], prefix: str) -> StateDict:
    """OpenAI-CLIP text weights (transformers names) under `prefix` + `text_model.`."""
    return {prefix + k: v for k, v in canonical_clip_keys(state_dict).items() if not k.startswith("text_projection")}


def clip_from_ldm(checkpoint: Mapping[str, torch.Tensor], prefix: str) -> StateDict:
    """Transformers CLIP text weights (canonical names) read from an original checkpoint, whose keys may
    lack the `text_model.` level (as transformers 5 writes them, and as ComfyUI accepts)."""
    return {
        _canonical(k[len(prefix) :]): checkpoint[k]
        for k in checkpoint
        if k.startswith(prefix) and k[len(prefix) :].startswith(_CLIP_PARTS) and not k.endswith("position_ids")
    }


def openclip_to_ldm(state_dict: Mapping[str, torch.Tensor], prefix: str) -> StateDict:
    """transformers CLIP text weights in OpenCLIP layout under `prefix`."""
    sd = canonical_clip_keys(state_dict)
    out: StateDict = {
        prefix + "token_embedding.weight": sd["text_model.embeddings.token_embedding.weight"],
        prefix + "positional_embedding": sd["text_model.embeddings.position_embedding.weight"],
        prefix + "ln_final.weight": sd["text_model.final_layer_norm.weight"],
        prefix + "ln_final.bias": sd["text_model.final_layer_norm.bias"],
    }
    width = out[prefix + "token_embedding.weight"].shape[1]
    projection = sd.get("text_projection.weight")
    out[prefix + "text_projection"] = projection.T.contiguous() if projection is not None else torch.eye(width)
    layers = _count_indices(sd, "text_model.encoder.layers.")
    for i in range(layers):
        src, dst = f"text_model.encoder.layers.{i}.", f"{prefix}transformer.resblocks.{i}."
        for kind in ("weight", "bias"):
            out[f"{dst}attn.in_proj_{kind}"] = torch.cat(
                [sd[f"{src}self_attn.{p}_proj.{kind}"] for p in ("q", "k", "v")]
            )
            for hf_name, oc_name in _OPENCLIP_LAYER.items():
                out[f"{dst}{oc_name}.{kind}"] = sd[f"{src}{hf_name}.{kind}"]
    return out


def openclip_from_ldm(checkpoint: Mapping[str, torch.Tensor], prefix: str, layers: int) -> StateDict:
    """Transformers CLIP text weights (canonical names) from the first `layers` OpenCLIP blocks under `prefix`."""
    get = lambda name: _require(checkpoint, prefix + name)
    out: StateDict = {
        "text_model.embeddings.token_embedding.weight": get("token_embedding.weight"),
        "text_model.embeddings.position_embedding.weight": get("positional_embedding"),
        "text_model.final_layer_norm.weight": get("ln_final.weight"),
        "text_model.final_layer_norm.bias": get("ln_final.bias"),
    }
    if prefix + "text_projection" in checkpoint:
        out["text_projection.weight"] = checkpoint[prefix + "text_projection"].T.contiguous()
    for i in range(layers):
        src, dst = f"transformer.resblocks.{i}.", f"text_model.encoder.layers.{i}."
        for kind in ("weight", "bias"):
            q, k, v = get(f"{src}attn.in_proj_{kind}").chunk(3)
            for name, part in zip(("q", "k", "v"), (q, k, v), strict=True):
                out[f"{dst}self_attn.{name}_proj.{kind}"] = part.contiguous()
            for hf_name, oc_name in _OPENCLIP_LAYER.items():
                out[f"{dst}{hf_name}.{kind}"] = get(f"{src}{oc_name}.{kind}")
    return out


def load_clip_weights(model: torch.nn.Module, canonical: Mapping[str, torch.Tensor], what: str) -> None:
    """Load canonical-named CLIP weights into `model` (either key style), failing clearly on any gap."""
    by_canonical = {_canonical(k): k for k in model.state_dict() if not k.endswith("position_ids")}
    if "text_projection.weight" not in by_canonical:
        canonical = {k: v for k, v in canonical.items() if not k.startswith("text_projection")}
    load_exact(model, {by_canonical.get(k, k): v for k, v in canonical.items()}, what)


def append_identity_layer(model: CLIPTextModel) -> None:
    """Append a layer that passes its input through (zero output projections).

    diffusers stores SD2's OpenCLIP text encoder without its last layer (SD2 reads the penultimate
    one); graphflow keeps OpenCLIP's full depth, so a diffusers SD2 encoder gets this stand-in.
    """
    layers = _clip_layers(model)
    layer = copy.deepcopy(layers[-1])
    for linear in (layer.self_attn.out_proj, layer.mlp.fc2):
        torch.nn.init.zeros_(linear.weight)
        torch.nn.init.zeros_(linear.bias)
    layers.append(layer)
    model.config.num_hidden_layers += 1


def drop_last_layer(model: CLIPTextModel) -> CLIPTextModel:
    """A copy without the last layer (diffusers' layout of SD2's text encoder)."""
    clone = copy.deepcopy(model)
    layers = _clip_layers(clone)
    del layers[-1]
    clone.config.num_hidden_layers -= 1
    return clone


def load_exact(model: torch.nn.Module, state_dict: Mapping[str, torch.Tensor], what: str) -> None:
    """`load_state_dict` that names missing/unexpected weights in a clear error (ignores position_ids)."""
    result = model.load_state_dict(dict(state_dict), strict=False, assign=True)
    missing = [k for k in result.missing_keys if not k.endswith("position_ids")]
    if missing or result.unexpected_keys:
        details = []
        if missing:
            details.append(f"{len(missing)} missing weights, e.g. {', '.join(missing[:4])}")
        if result.unexpected_keys:
            details.append(
                f"{len(result.unexpected_keys)} unexpected weights, e.g. {', '.join(result.unexpected_keys[:4])}"
            )
        raise ValueError(f"{what}: the file does not match the expected architecture ({'; '.join(details)})")


def _clip_layers(model: torch.nn.Module) -> torch.nn.ModuleList:
    """The encoder layers of a transformers CLIP text model (with or without the text_model wrapper)."""
    return getattr(model, "text_model", model).encoder.layers


def _require(checkpoint: Mapping[str, torch.Tensor], key: str) -> torch.Tensor:
    if key not in checkpoint:
        raise KeyError(f"checkpoint lacks the text-encoder weight {key!r}")
    return checkpoint[key]


def _count_indices(keys: Mapping[str, Any], prefix: str) -> int:
    """Number of consecutive numbered children `prefix{i}.` present in `keys`."""
    indices = {int(k[len(prefix) :].split(".", 1)[0]) for k in keys if k.startswith(prefix)}
    return max(indices) + 1 if indices else 0


def ldm_checkpoint(
    family: str,
    unet: torch.nn.Module,
    vae: torch.nn.Module,
    text_models: Mapping[str, torch.nn.Module],
    v_prediction: bool = False,
) -> StateDict:
    """One original-layout state dict from diffusers UNet/VAE and transformers text models named by part."""
    out = unet_to_ldm(unet.state_dict(), unet.config) | vae_to_ldm(vae.state_dict(), vae.config)
    prefixes = CLIP_PREFIXES[family]
    if set(text_models) != set(prefixes):
        raise ValueError(f"{family} needs text models {sorted(prefixes)}, got {sorted(text_models)}")
    for part, model in text_models.items():
        weights = model.state_dict()
        if part in OPENCLIP_PARTS:
            out |= openclip_to_ldm(weights, prefixes[part])
        else:
            out |= clip_to_ldm(weights, prefixes[part])
    if v_prediction:
        out["v_pred"] = torch.zeros(0)  # the marker ComfyUI also reads
    return {k: v.detach().contiguous() for k, v in out.items()}
