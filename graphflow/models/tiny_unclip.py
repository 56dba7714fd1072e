"""Tiny random CLIP image encoders and SD2-shaped unCLIP checkpoints for tests, in the layouts ComfyUI reads."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
from diffusers import UNet2DConditionModel
from safetensors.torch import save_file
from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

from .clip_vision import CONFIG_KEY
from .clip_vision_keys import to_openclip
from .convert import UNET_PREFIX, ldm_checkpoint
from .embedded import CONFIGS_KEY
from .tiny import TinyModels, build_tiny, save_tiny_diffusers

TINY_VISION: dict[str, Any] = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 3,
    "num_attention_heads": 2,
    "image_size": 32,
    "patch_size": 8,
    "projection_dim": 16,
    "hidden_act": "gelu",
    "layer_norm_eps": 1e-5,
}
UNCLIP_PREFIX = "embedder.model.visual."
_CLASS_TO_LDM = {"class_embedding.linear_1.": "label_emb.0.0.", "class_embedding.linear_2.": "label_emb.0.2."}


def tiny_clip_vision(seed: int = 0, **overrides: Any) -> CLIPVisionModelWithProjection:
    """A seeded random CLIP image encoder of TINY_VISION's shape (with `overrides`)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = CLIPVisionModelWithProjection(CLIPVisionConfig(**{**TINY_VISION, **overrides}))
    return model.eval()


def vision_metadata(model: CLIPVisionModelWithProjection) -> dict[str, str]:
    """File metadata carrying the encoder's config (a tiny shape cannot be told from the weights)."""
    config = {key: getattr(model.config, key) for key in TINY_VISION}
    return {CONFIGS_KEY: json.dumps({CONFIG_KEY: config})}


def save_clip_vision_file(model: CLIPVisionModelWithProjection, path: str | Path, layout: str = "transformers") -> Path:
    """Write the encoder as one .safetensors file, in transformers' layout or OpenCLIP's (under `visual.`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    weights = {k: v for k, v in model.state_dict().items() if not k.endswith("position_ids")}
    if layout == "openclip":
        weights = to_openclip(weights, "visual.")
    elif layout != "transformers":
        raise ValueError(f"unknown layout {layout!r}: 'transformers' or 'openclip'")
    save_file({k: v.contiguous() for k, v in weights.items()}, str(path), metadata=vision_metadata(model))
    return path


def build_tiny_unclip(seed: int = 0) -> tuple[TinyModels, CLIPVisionModelWithProjection]:
    """A tiny SD2 model whose UNet takes image embeddings (class embeddings of type "projection"), and its encoder."""
    models = build_tiny("sd2", seed)
    vision = tiny_clip_vision(seed + 1)
    width = 2 * int(vision.config.projection_dim)  # the embedding and its noise-level embedding
    config = {**models.unet.config, "class_embed_type": "projection", "projection_class_embeddings_input_dim": width}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + 2)
        models.unet = UNet2DConditionModel(**{k: v for k, v in config.items() if not k.startswith("_")}).eval()
    return models, vision


def save_tiny_unclip_checkpoint(models: TinyModels, vision: CLIPVisionModelWithProjection, path: str | Path) -> Path:
    """Write an unCLIP single file: SD2's original layout, `label_emb` for the image input, the encoder under
    `embedder.model.visual.`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    unet_state = models.unet.state_dict()
    adm = {}
    for diffusers_prefix, ldm_prefix in _CLASS_TO_LDM.items():
        for key in [k for k in unet_state if k.startswith(diffusers_prefix)]:
            adm[UNET_PREFIX + ldm_prefix + key[len(diffusers_prefix) :]] = unet_state.pop(key)
    unet = SimpleNamespace(state_dict=lambda: unet_state, config=models.unet.config)
    state = ldm_checkpoint("sd2", unet, models.vae, models.text_models, v_prediction=True)  # type: ignore[arg-type]
    weights = {k: v for k, v in vision.state_dict().items() if not k.endswith("position_ids")}
    state |= adm | to_openclip(weights, UNCLIP_PREFIX)
    save_file({k: v.contiguous() for k, v in state.items()}, str(path), metadata=vision_metadata(vision))
    return path


def save_tiny_unclip_diffusers(models: TinyModels, vision: CLIPVisionModelWithProjection, folder: str | Path) -> Path:
    """Write a diffusers folder with an `image_encoder/`, as StableUnCLIP pipelines have."""
    folder = save_tiny_diffusers(models, folder)
    vision.save_pretrained(folder / "image_encoder")
    return folder
