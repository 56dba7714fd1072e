"""The picture size a checkpoint was trained at, read from its configs or file header without loading weights."""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .embedded import CONFIGS_KEY

FAMILY_SIZES = {"sd1": 512, "sd2": 512, "sd2-v": 768, "sdxl": 1024, "flow": 1024}  # flow: SD3/SD3.5 and Flux
_MAX_HEADER = 100 * 1024 * 1024  # safetensors' own limit on the JSON header
_SDXL_PREFIXES = ("conditioner.embedders.1.", "model.diffusion_model.label_emb.")
_SD2_PREFIX = "cond_stage_model.model."
_FLOW_MARKS = ("joint_blocks.", "double_blocks.", "context_embedder.")  # SD3/Flux transformers, either layout


def native_size(path: Path) -> int | None:
    """The side in pixels a checkpoint (diffusers folder or .safetensors file) makes best, or None when unknown."""
    try:
        if path.is_dir():
            denoiser = path / "unet" / "config.json"
            if not denoiser.is_file():
                denoiser = path / "transformer" / "config.json"  # SD3, Flux and the flow demo
            return _from_configs(_read(denoiser), _read(path / "vae" / "config.json"))
        if path.suffix.lower() in (".safetensors", ".sft"):
            return _from_header(_safetensors_header(path))
    except (OSError, ValueError, KeyError, TypeError, struct.error):
        return None
    return None


def _read(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a JSON object")
    return data


def _from_configs(denoiser: Mapping[str, Any], vae: Mapping[str, Any]) -> int:
    """The denoiser's latent side times the VAE's downscale (2 per level after the first)."""
    if "sample_size" not in denoiser:  # Flux's transformer config names no size
        return FAMILY_SIZES["flow"]
    return int(denoiser["sample_size"]) * 2 ** (len(vae["block_out_channels"]) - 1)


def _safetensors_header(path: Path) -> dict[str, Any]:
    with path.open("rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        if length > _MAX_HEADER:
            raise ValueError(f"{path}: header of {length} bytes")
        header = json.loads(handle.read(length))
    if not isinstance(header, dict):
        raise ValueError(f"{path}: header is not a JSON object")
    return header


def _from_header(header: Mapping[str, Any]) -> int:
    metadata = header.get("__metadata__") or {}
    if CONFIGS_KEY in metadata:
        configs = json.loads(metadata[CONFIGS_KEY])
        return _from_configs(configs["unet"], configs["vae"])
    if any(mark in key for key in header for mark in _FLOW_MARKS):
        return FAMILY_SIZES["flow"]
    if any(key.startswith(_SDXL_PREFIXES) for key in header):
        return FAMILY_SIZES["sdxl"]
    if any(key.startswith(_SD2_PREFIX) for key in header):
        v_prediction = metadata.get("modelspec.prediction_type", "").lower() in ("v", "v_prediction")
        return FAMILY_SIZES["sd2-v" if v_prediction else "sd2"]
    return FAMILY_SIZES["sd1"]
