"""LoRA files as weight patches: read a file once, then match its layers to a UNet and CLIP parts.

`read_lora(path)` parses any supported format (see `lora_format`); `match_lora(lora, unet=..., text=...)`
gives the `WeightPatch`es for the modules it finds, each computing its change lazily from the file's
small factors, and the keys that matched nothing. Nothing here needs peft.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch

from graphflow.models.files import load_metadata, load_state_dict
from graphflow.patches import WeightPatch
from graphflow.patches.lora_deltas import bias_delta, delta_shape, fits, weight_delta
from graphflow.patches.lora_format import LoraFile, LoraFormatError, LoraLayer, parse_lora
from graphflow.patches.lora_keys import text_names, text_part_for, unet_names

__all__ = ["LoraFile", "LoraFormatError", "LoraMatch", "LoraMismatchError", "guess_family", "match_lora", "read_lora"]

TEXT_COMPONENTS = frozenset({"te", "te1", "te2", "clip_l", "clip_h", "clip_g"})
_EXAMPLES = 5
# cross-attention key width (UNet) or hidden width (text) -> the family a LoRA of that width was made for
_UNET_WIDTHS = {768: "SD1", 1024: "SD2", 2048: "SDXL"}
_TEXT_WIDTHS = {768: "SD1 (CLIP-L)", 1024: "SD2 (OpenCLIP-H)", 1280: "SDXL (OpenCLIP-G)"}


class LoraMismatchError(ValueError):
    """A LoRA file none of whose layers fit the model it is loaded onto."""


@dataclass(frozen=True)
class LoraMatch:
    """The patches a LoRA gives one model: UNet patches, text patches by part name, and unmatched file keys."""

    unet: tuple[WeightPatch, ...] = ()
    text: Mapping[str, tuple[WeightPatch, ...]] = field(default_factory=dict)
    unmatched: tuple[str, ...] = ()
    considered: int = 0
    """How many keys of the file were for the components asked for (UNet, text or both)."""

    def describe_unmatched(self, source: str) -> str:
        """'N of M keys in <file> match nothing ..., e.g. ...' for a warning."""
        examples = ", ".join(self.unmatched[:_EXAMPLES])
        return (
            f"{len(self.unmatched)} of {self.considered} keys in {source} match nothing in this model and were "
            f"not applied, e.g. {examples}"
        )


def read_lora(path: str | os.PathLike[str]) -> LoraFile:
    """Parse a LoRA file (.safetensors, or a weights-only torch file) named by its file name in errors."""
    path = Path(path)
    return parse_lora(load_state_dict(path), load_metadata(path), source=path.name)


def match_lora(
    lora: LoraFile,
    *,
    unet: torch.nn.Module | None = None,
    text: Mapping[str, torch.nn.Module] | None = None,
    strength_model: float = 1.0,
    strength_clip: float = 1.0,
    family: str = "",
) -> LoraMatch:
    """Patches for the layers that fit `unet` and the CLIP `text` parts (by name); layers of a component not
    given are skipped. A strength of 0 gives no patches. Raises LoraMismatchError when nothing fits."""
    tables = _Tables(unet, dict(text or {}))
    unet_patches: list[WeightPatch] = []
    text_patches: dict[str, list[WeightPatch]] = {}
    unmatched: list[str] = list(lora.unknown)
    considered = len(lora.unknown)
    matched = 0
    for layer in lora.layers:
        if not tables.wants(layer.component):
            continue
        considered += len(layer.keys)
        found = tables.find(layer)
        if found is None:
            unmatched.extend(layer.keys)
            continue
        matched += 1
        part, module_path = found
        strength = strength_model if part is None else strength_clip
        if strength != 0:
            patches = _patches(layer, module_path, strength, lora.source)
            (unet_patches if part is None else text_patches.setdefault(part, [])).extend(patches)
    if matched == 0:
        raise LoraMismatchError(_nothing_fits(lora, tables, family, considered, unmatched))
    text_tuple = {part: tuple(patches) for part, patches in text_patches.items()}
    return LoraMatch(tuple(unet_patches), text_tuple, tuple(unmatched), considered)


class _Tables:
    """The name tables of the modules a LoRA is matched against, built once per match."""

    def __init__(self, unet: torch.nn.Module | None, text: dict[str, torch.nn.Module]) -> None:
        self.unet = unet
        self.text = text
        self.unet_table = unet_names(unet) if unet is not None else {}
        self.text_tables = {part: text_names(model) for part, model in text.items()}

    def wants(self, component: str) -> bool:
        if component == "unet":
            return self.unet is not None
        if component in TEXT_COMPONENTS:
            return bool(self.text)
        return True  # "any": a bare PEFT key may be for either

    def find(self, layer: LoraLayer) -> tuple[str | None, str] | None:
        """(text part or None for the UNet, module path) of the module this layer fits, or None."""
        candidates: list[tuple[str | None, torch.nn.Module, dict[str, str]]] = []
        if layer.component in ("unet", "any") and self.unet is not None:
            candidates.append((None, self.unet, self.unet_table))
        if layer.component in TEXT_COMPONENTS:
            part = text_part_for(layer.component, tuple(self.text))
            if part is not None:
                candidates.append((part, self.text[part], self.text_tables[part]))
        elif layer.component == "any":
            candidates.extend((part, self.text[part], self.text_tables[part]) for part in self.text)
        for part, module, table in candidates:
            path = table.get(layer.name)
            if path is not None and _layer_fits(layer, module.get_submodule(path)):
                return part, path
        return None


def _layer_fits(layer: LoraLayer, module: torch.nn.Module) -> bool:
    weight = getattr(module, "weight", None)
    bias = getattr(module, "bias", None)
    if layer.has_weight and not (isinstance(weight, torch.Tensor) and fits(delta_shape(layer), tuple(weight.shape))):
        return False
    return layer.bias is None or (isinstance(bias, torch.Tensor) and layer.bias.numel() == bias.numel())


def _patches(layer: LoraLayer, module_path: str, strength: float, source: str) -> list[WeightPatch]:
    patches = []
    if layer.has_weight:
        delta = functools.partial(weight_delta, layer)
        patches.append(WeightPatch(f"{module_path}.weight", delta, strength * layer.scale, source))
    if layer.bias is not None:
        patches.append(WeightPatch(f"{module_path}.bias", functools.partial(bias_delta, layer), strength, source))
    return patches


def _nothing_fits(lora: LoraFile, tables: _Tables, family: str, considered: int, unmatched: list[str]) -> str:
    model = f"this {family} model" if family else "this model"
    made_for = guess_family(lora)
    seems = f"; it seems made for {made_for}" if made_for else ""
    if considered == 0:
        wanted = "UNet" if tables.unet is not None else "text encoder"
        return f"{lora.source} has no {wanted} layers to apply to {model}{seems}"
    examples = ", ".join(unmatched[:_EXAMPLES])
    return f"none of the {considered} keys in {lora.source} match {model}{seems} (e.g. {examples})"


def guess_family(lora: LoraFile) -> str | None:
    """The model family a LoRA seems made for, from its metadata or its layer widths; None if unclear."""
    meta = lora.metadata
    declared = f"{meta.get('ss_base_model_version', '')} {meta.get('modelspec.architecture', '')}".lower()
    for needle, name in (("xl", "SDXL"), ("v2", "SD2"), ("v1", "SD1"), ("sd3", "SD3"), ("flux", "Flux")):
        if needle in declared:
            return name
    components = {layer.component for layer in lora.layers}
    if components & {"te1", "te2", "clip_g"}:
        return "SDXL"
    for layer in lora.layers:
        down = layer.tensors.get("down")
        if down is None or down.ndim != 2:
            continue
        if layer.component == "unet" and layer.name.endswith(("attn2_to_k", "attn2_to_v")):
            return _UNET_WIDTHS.get(int(down.shape[1]))
        if layer.component in TEXT_COMPONENTS and layer.name.endswith(("q_proj", "k_proj", "v_proj")):
            return _TEXT_WIDTHS.get(int(down.shape[1]))
    if any(key.startswith(("transformer.", "lora_transformer_", "double_blocks")) for key in lora.unknown):
        return "a transformer model (SD3 or Flux style)"
    return None
