"""Reading LoRA state dicts: group each file's keys into layers (LoRA, LoHa, LoKr, full diff) with their scale.

A layer is named by the component it targets ("unet", "te", "te1", "te2", a text part such as "clip_l",
or "any" for a bare PEFT key) and by its module path with every "." written as "_" (kohya's spelling, to
which dotted diffusers, PEFT and LDM paths are reduced), so one lookup table per model resolves them all.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from torch import Tensor

# suffix -> role of the tensor in its layer, longest suffixes first so ".lora.down.weight" beats ".down.weight"
_SUFFIXES: tuple[tuple[str, str], ...] = tuple(
    sorted(
        {
            ".lora_down.weight": "down",
            ".lora_up.weight": "up",
            ".lora_mid.weight": "mid",
            ".lora_A.weight": "down",
            ".lora_B.weight": "up",
            ".lora.down.weight": "down",
            ".lora.up.weight": "up",
            ".lora_linear_layer.down.weight": "down",
            ".lora_linear_layer.up.weight": "up",
            ".lora_layer.down.weight": "down",
            ".lora_layer.up.weight": "up",
            ".alpha": "alpha",
            ".diff": "diff",
            ".diff_b": "diff_b",
            ".dora_scale": "dora_scale",
            **{f".hada_{name}": f"hada_{name}" for name in ("w1_a", "w1_b", "w2_a", "w2_b", "t1", "t2")},
            **{f".lokr_{name}": f"lokr_{name}" for name in ("w1", "w1_a", "w1_b", "w2", "w2_a", "w2_b", "t2")},
        }.items(),
        key=lambda item: -len(item[0]),
    )
)
# diffusers' oldest form "...attn1.processor.to_q_lora.down.weight"; PEFT with an adapter name ".lora_A.default.weight"
_PROCESSOR = re.compile(r"^(?P<stem>.+_lora)\.(?P<role>down|up)\.weight$")
_PEFT_ADAPTER = re.compile(r"^(?P<stem>.+)\.lora_(?P<role>[AB])\.[A-Za-z0-9_-]+\.weight$")

_FLAT_PREFIXES = {"lora_unet_": "unet", "lora_te1_": "te1", "lora_te2_": "te2", "lora_te_": "te"}
_DOTTED_PREFIXES = {
    "unet.": "unet",
    "text_encoder.": "te",
    "text_encoder_2.": "te2",
    "model.diffusion_model.": "unet",
    "diffusion_model.": "unet",
    "text_encoders.clip_l.transformer.": "clip_l",
    "text_encoders.clip_h.transformer.": "clip_h",
    "text_encoders.clip_g.transformer.": "clip_g",
}
_PEFT_WRAPPER = "base_model.model."
_OLD_PROJECTIONS = {  # diffusers' processor names -> (UNet module, CLIP module)
    "to_q_lora": ("to_q", "q_proj"),
    "to_k_lora": ("to_k", "k_proj"),
    "to_v_lora": ("to_v", "v_proj"),
    "to_out_lora": ("to_out.0", "out_proj"),
}
LORA_METADATA_KEY = "lora_adapter_metadata"  # diffusers stores each component's LoraConfig here as JSON


class LoraFormatError(ValueError):
    """A file that holds no LoRA layers of any known format."""


@dataclass(frozen=True, eq=False)
class LoraLayer:
    """The tensors of one patched module, the component it belongs to and its scale (alpha / rank)."""

    component: str
    name: str
    """The module path with "_" for "." (kohya's spelling), looked up in the model's name table."""
    kind: str
    tensors: Mapping[str, Tensor]
    scale: float
    keys: tuple[str, ...]
    """The file's keys that make this layer, for reports."""

    @property
    def bias(self) -> Tensor | None:
        """A full change to the module's bias (LyCORIS "diff_b"), if the file has one."""
        return self.tensors.get("diff_b")

    @property
    def has_weight(self) -> bool:
        """Whether the layer changes the module's weight (a bias-only "diff_b" layer does not)."""
        return self.kind != "full" or "diff" in self.tensors


@dataclass(frozen=True, eq=False)
class LoraFile:
    """A parsed LoRA file: its layers, the keys that form no layer, and its string metadata."""

    source: str
    layers: tuple[LoraLayer, ...]
    unknown: tuple[str, ...] = ()
    metadata: Mapping[str, str] = field(default_factory=dict)

    def byte_size(self) -> int:
        """Bytes held by the layers' tensors (what the model cache counts)."""
        return sum(t.numel() * t.element_size() for layer in self.layers for t in layer.tensors.values())


def parse_lora(
    state_dict: Mapping[str, Tensor], metadata: Mapping[str, str] | None = None, source: str = ""
) -> LoraFile:
    """Group a LoRA state dict into layers; keys of no known form are kept in `unknown`."""
    metadata = dict(metadata or {})
    grouped: dict[str, dict[str, tuple[str, Tensor]]] = {}
    unknown: list[str] = []
    for key, tensor in state_dict.items():
        split = _split_key(key)
        if split is None:
            unknown.append(key)
        else:
            grouped.setdefault(split[0], {})[split[1]] = (key, tensor)
    peft_configs = _peft_configs(metadata)
    layers: list[LoraLayer] = []
    for stem, parts in grouped.items():
        layer = _layer(stem, parts, peft_configs)
        if layer is None:
            unknown.extend(key for key, _ in parts.values())
        else:
            layers.append(layer)
    if not layers:
        example = f", e.g. {', '.join(unknown[:3])}" if unknown else ""
        raise LoraFormatError(
            f"{source or 'the file'} holds no LoRA layers of a known format (kohya/A1111, diffusers/PEFT, "
            f"ComfyUI, LyCORIS LoHa/LoKr): {len(unknown)} keys{example}"
        )
    return LoraFile(source, tuple(layers), tuple(unknown), metadata)


def _split_key(key: str) -> tuple[str, str] | None:
    """(layer stem, role) of a key, or None when it is not a LoRA tensor of a known form."""
    for suffix, role in _SUFFIXES:
        if key.endswith(suffix) and len(key) > len(suffix):
            return key[: -len(suffix)], role
    for pattern, roles in ((_PROCESSOR, {"down": "down", "up": "up"}), (_PEFT_ADAPTER, {"A": "down", "B": "up"})):
        match = pattern.match(key)
        if match:
            return match["stem"], roles[match["role"]]
    return None


def _layer(stem: str, parts: Mapping[str, tuple[str, Tensor]], peft_configs: Mapping[str, dict]) -> LoraLayer | None:
    """The layer made of one stem's tensors, or None when they form no complete layer."""
    tensors = {role: tensor for role, (_, tensor) in parts.items()}
    kind = _kind(tensors)
    target = _target(stem)
    if kind is None or target is None:
        return None
    component, prefix, path = target
    keys = tuple(key for key, _ in parts.values())
    rank = _rank(kind, tensors)
    alpha_tensor = tensors.pop("alpha", None)
    scale = 1.0
    if rank is not None:
        if alpha_tensor is not None:
            scale = float(alpha_tensor.float().reshape(-1)[0]) / rank
        else:
            scale = _metadata_scale(peft_configs.get(prefix), path, rank)
    name = _resolve_processor(path, component).replace(".", "_")
    return LoraLayer(component, name, kind, tensors, scale, keys)


def _kind(tensors: Mapping[str, Tensor]) -> str | None:
    roles = set(tensors)
    if "dora_scale" in roles:
        return None  # DoRA renormalises the patched weight; applied as plain LoRA it would be wrong
    if {"down", "up"} <= roles:
        return "lora"
    if {"hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b"} <= roles:
        return "loha"
    has_w1 = "lokr_w1" in roles or {"lokr_w1_a", "lokr_w1_b"} <= roles
    has_w2 = "lokr_w2" in roles or {"lokr_w2_a", "lokr_w2_b"} <= roles
    if has_w1 and has_w2:
        return "lokr"
    if roles & {"diff", "diff_b"} and not roles - {"diff", "diff_b", "alpha"}:
        return "full"
    return None


def _rank(kind: str, tensors: Mapping[str, Tensor]) -> int | None:
    """The rank alpha is divided by; None where the format has no scale (full diffs, unfactored LoKr)."""
    if kind == "lora":
        return int(tensors["down"].shape[0])
    if kind == "loha":
        return int(tensors["hada_w1_b"].shape[0])
    if kind == "lokr":
        for full, factor in (("lokr_w2", "lokr_w2_b"), ("lokr_w1", "lokr_w1_b")):
            if full not in tensors and factor in tensors:
                return int(tensors[factor].shape[0])
    return None


def _target(stem: str) -> tuple[str, str, str] | None:
    """(component, file prefix, module path) of a layer stem, or None when no known prefix starts it."""
    for prefix, component in _FLAT_PREFIXES.items():
        if stem.startswith(prefix):
            return component, prefix.rstrip("_"), stem[len(prefix) :]
    for prefix, component in _DOTTED_PREFIXES.items():
        if stem.startswith(prefix):
            return component, prefix.rstrip("."), stem[len(prefix) :].removeprefix(_PEFT_WRAPPER)
    if stem.startswith(_PEFT_WRAPPER):
        return "any", "", stem[len(_PEFT_WRAPPER) :]
    return None


def _resolve_processor(path: str, component: str) -> str:
    """Rewrite diffusers' attention-processor names ("attn1.processor.to_q_lora") to module paths."""
    if "_lora" not in path and ".processor." not in path:
        return path
    path = path.replace(".processor.", ".")
    head, _, last = path.rpartition(".")
    if last in _OLD_PROJECTIONS:
        unet_name, clip_name = _OLD_PROJECTIONS[last]
        last = unet_name if component in ("unet", "any") else clip_name
        return f"{head}.{last}" if head else last
    return path


def _peft_configs(metadata: Mapping[str, str]) -> dict[str, dict]:
    """Per component prefix ("unet", "text_encoder", ...), the LoraConfig fields diffusers saved in the metadata."""
    raw = metadata.get(LORA_METADATA_KEY)
    if not raw:
        return {}
    try:
        packed = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise LoraFormatError(f"the {LORA_METADATA_KEY} metadata is not JSON: {exc}") from exc
    configs: dict[str, dict] = {}
    for key, value in packed.items() if isinstance(packed, dict) else ():
        prefix, _, name = str(key).rpartition(".")
        configs.setdefault(prefix, {})[name] = value
    return configs


def _metadata_scale(config: Mapping[str, object] | None, path: str, rank: int) -> float:
    """alpha / rank (or / sqrt(rank) with rsLoRA) from a PEFT config; 1 without one (alpha = rank)."""
    if not config:
        return 1.0
    alpha = config.get("lora_alpha", rank)
    patterns = config.get("alpha_pattern") or {}
    for pattern, value in patterns.items() if isinstance(patterns, dict) else ():
        if re.fullmatch(rf"(.*\.)?(?:{pattern})", path):
            alpha = value
            break
    if not isinstance(alpha, (int, float)):
        raise LoraFormatError(f"the {LORA_METADATA_KEY} metadata gives lora_alpha {alpha!r}, not a number")
    return float(alpha) / (math.sqrt(rank) if config.get("use_rslora") else rank)
