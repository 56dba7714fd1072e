"""Name tables that resolve a LoRA layer's name ("." written "_") to a module of the model at hand.

The tables are built from the actual modules, so every spelling people use resolves the same way:
UNet layers by their diffusers path or their original (LDM) path; CLIP layers with or without the
`text_model.` level (transformers >= 5.6 drops it from CLIPTextModel but not from the projection model).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch

from graphflow.models.convert import UNET_PREFIX, unet_to_ldm

_TEXT_LEVEL = "text_model."


def flat(path: str) -> str:
    """A module path in kohya's spelling: every "." as "_"."""
    return path.replace(".", "_")


def unet_names(unet: torch.nn.Module) -> dict[str, str]:
    """Flat diffusers and LDM module names -> the UNet module path, for every module with a weight or bias."""
    paths = _module_paths(unet)
    table = {flat(path): path for path in paths}
    for ldm, path in _ldm_paths(unet, paths).items():
        table.setdefault(flat(ldm), path)
    return table


def text_names(model: torch.nn.Module) -> dict[str, str]:
    """Flat CLIP module names, with and without `text_model.`, -> the model's own module path."""
    table: dict[str, str] = {}
    for path in _module_paths(model):
        bare = path.removeprefix(_TEXT_LEVEL)
        for spelling in (path, bare, _TEXT_LEVEL + bare):
            table.setdefault(flat(spelling), path)
    return table


def text_part_for(component: str, parts: Sequence[str]) -> str | None:
    """The CLIP part a text component targets: te/te1/text_encoder -> clip_l (or the only part), te2 -> clip_g."""
    if component in parts:
        return component
    if component == "te2":
        return "clip_g" if "clip_g" in parts else None
    if component in ("te", "te1"):
        if "clip_l" in parts:
            return "clip_l"
        return parts[0] if len(parts) == 1 else None
    return None


def _module_paths(model: torch.nn.Module) -> list[str]:
    """Paths of the modules that own a weight or a bias parameter."""
    owners = {name.rpartition(".")[0] for name, _ in model.named_parameters() if name.endswith((".weight", ".bias"))}
    return sorted(owners)


def _ldm_paths(unet: torch.nn.Module, paths: Iterable[str]) -> dict[str, str]:
    """Original-layout path -> diffusers path, for the modules that have one (none for a UNet without config)."""
    config: Mapping[str, Any] | None = getattr(unet, "config", None)
    if config is None or "block_out_channels" not in config:
        return {}
    params = dict(unet.named_parameters())
    found: dict[str, str] = {}
    for path in paths:
        key = f"{path}.weight" if f"{path}.weight" in params else f"{path}.bias"
        try:
            (renamed,) = unet_to_ldm({key: params[key]}, config)
        except KeyError:  # a module the original layout does not have
            continue
        found[renamed.removeprefix(UNET_PREFIX).rpartition(".")[0]] = path
    return found
