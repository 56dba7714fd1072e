"""CLIP_VISION values: a CLIP image encoder (transformers' CLIPVisionModelWithProjection) and its picture encodings.

Files are read offline from a single safetensors (or weights-only torch) file in transformers' or OpenCLIP's
layout (graphflow.models.clip_vision_keys). Which architecture they hold is told by the layer count, as ComfyUI
tells it (ViT-L/14 at 224 or 336 pixels, ViT-H/14, ViT-bigG/14), with the shipped weights-free configs; a file
of another shape must carry its config in its metadata (`graphflow.configs` -> `clip_vision`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from accelerate import init_empty_weights
from torch import Tensor
from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

from graphflow.cache import ModelCache

from .cache import cached, file_identity
from .clip_vision_keys import PROJECTION, VISION, canonical_vision_weights, layer_count
from .convert import load_exact
from .detect import CONFIG_ROOT
from .device import pick_device, place
from .embedded import embedded_configs
from .files import load_metadata, load_state_dict

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
CONFIG_KEY = "clip_vision"  # the key of a vision config in a file's `graphflow.configs` metadata


@dataclass(frozen=True, eq=False)
class ClipVisionOutput:
    """A picture batch encoded by a CLIP image encoder (ComfyUI's CLIP_VISION_OUTPUT), float32 on the CPU.

    `image_embeds` [B, P] are the projected embeddings unCLIP models read; `last_hidden_state` [B, T, D] is
    the last layer's output (before the final layer norm) and `penultimate_hidden_states` [B, T, D] the
    second-to-last layer's, as IP-Adapters and the like read them.
    """

    image_embeds: Tensor
    last_hidden_state: Tensor
    penultimate_hidden_states: Tensor


@dataclass(frozen=True, eq=False)
class ClipVision:
    """A loaded CLIP image encoder on its device, with the picture size and normalisation it was trained with."""

    model: CLIPVisionModelWithProjection
    device: torch.device
    dtype: torch.dtype
    source: str = "a CLIP vision model"
    image_mean: tuple[float, float, float] = CLIP_MEAN
    image_std: tuple[float, float, float] = CLIP_STD

    @property
    def image_size(self) -> int:
        """The side of the square pictures the encoder reads."""
        return int(self.model.config.image_size)

    @property
    def embedding_width(self) -> int:
        """Width of the image embeddings (the projection's output)."""
        return int(self.model.config.projection_dim)

    def preprocess(self, image: Tensor, crop: bool = True) -> Tensor:
        """An IMAGE [B, H, W, C] as the encoder's input [B, 3, S, S]: resized (shorter side to S and centre-cropped,
        or squashed to S x S without `crop`), rounded to 8 bits and normalised, as ComfyUI's clip_preprocess does."""
        if image.ndim != 4:
            raise ValueError(f"image: expected an IMAGE batch [B, H, W, C], got shape {tuple(image.shape)}")
        pixels = image[..., :3].movedim(-1, 1).float()
        size = self.image_size
        if pixels.shape[-2:] != (size, size):
            height, width = pixels.shape[-2:]
            scale = size / min(height, width)
            target = (round(scale * height), round(scale * width)) if crop else (size, size)
            pixels = F.interpolate(pixels, size=target, mode="bicubic", antialias=True)
            top, left = (pixels.shape[2] - size) // 2, (pixels.shape[3] - size) // 2
            pixels = pixels[:, :, top : top + size, left : left + size]
        pixels = torch.clip(255.0 * pixels, 0, 255).round() / 255.0
        mean = torch.tensor(self.image_mean).view(1, 3, 1, 1)
        std = torch.tensor(self.image_std).view(1, 3, 1, 1)
        return (pixels - mean) / std

    @torch.no_grad()
    def encode_image(self, image: Tensor, crop: bool = True) -> ClipVisionOutput:
        """Encode an IMAGE batch (ComfyUI's CLIPVisionEncode)."""
        pixels = self.preprocess(image, crop).to(self.device, self.dtype)
        out = self.model(pixel_values=pixels, output_hidden_states=True)
        keep = lambda t: t.float().cpu()
        return ClipVisionOutput(keep(out.image_embeds), keep(out.last_hidden_state), keep(out.hidden_states[-2]))


def _shipped(name: str) -> dict[str, Any]:
    return json.loads((CONFIG_ROOT / CONFIG_KEY / name / "config.json").read_text())


def vision_config(canonical: Mapping[str, Tensor], metadata: Mapping[str, str], source: str) -> dict[str, Any]:
    """The config of vision weights: the file's own, or the shipped one its layer count names (as ComfyUI picks)."""
    own = embedded_configs(metadata, source).get(CONFIG_KEY)
    if own:
        return dict(own)
    layers = layer_count(canonical)
    width = int(canonical[VISION + "embeddings.class_embedding"].shape[0])
    positions = int(canonical[VISION + "embeddings.position_embedding.weight"].shape[0])
    if layers > 47:
        name = "vit-bigg-14"
    elif layers > 30:
        name = "vit-h-14"
    elif layers > 22 and width != 1152:
        name = "vit-l-14-336" if positions == 577 else "vit-l-14"
    else:
        raise ValueError(
            f"{source}: a CLIP vision model of {layers} layers of width {width} is none of ViT-L/14, ViT-H/14 or "
            "ViT-bigG/14 (the ones ComfyUI loads); a file of another shape must carry its config in its metadata"
        )
    config = _shipped(name)
    found = {"hidden_size": width, "num_hidden_layers": layers}
    if PROJECTION in canonical:
        found["projection_dim"] = int(canonical[PROJECTION].shape[0])
    wrong = {k: v for k, v in found.items() if config[k] != v}
    if wrong:
        expected = {k: config[k] for k in wrong}
        raise ValueError(f"{source}: its weights ({wrong}) do not match {name}'s shape ({expected})")
    return config


def clip_vision_from_state_dict(
    state: Mapping[str, Tensor],
    source: str,
    metadata: Mapping[str, str] | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> ClipVision:
    """A CLIP_VISION from weights in either layout (other weights in `state`, e.g. a checkpoint's, are ignored)."""
    canonical = canonical_vision_weights(state, source)
    settings = vision_config(canonical, metadata or {}, source)
    mean, std = tuple(settings.pop("image_mean", CLIP_MEAN)), tuple(settings.pop("image_std", CLIP_STD))
    config = CLIPVisionConfig(**settings)
    with init_empty_weights():
        model = CLIPVisionModelWithProjection(config)
    if PROJECTION not in canonical:
        raise ValueError(f"{source}: the CLIP vision weights have no projection ({PROJECTION}), so no image embeddings")
    by_canonical = {_canonical(k): k for k in model.state_dict() if not k.endswith("position_ids")}
    load_exact(model, {by_canonical.get(k, k): v for k, v in canonical.items()}, f"{source}: CLIP vision")
    chosen, default_dtype = _device(device)
    chosen_dtype = dtype or default_dtype
    return ClipVision(place(model.eval(), chosen, chosen_dtype), chosen, chosen_dtype, source, mean, std)  # type: ignore[arg-type]


def _canonical(key: str) -> str:
    """A model key as the canonical (vision_model.-prefixed) name, whatever prefix style transformers uses."""
    if key.startswith(VISION) or key == PROJECTION:
        return key
    return VISION + key


def _device(device: torch.device | str | None) -> tuple[torch.device, torch.dtype]:
    if device is None or (isinstance(device, str) and device in ("auto", "cpu", "cuda", "mps")):
        return pick_device(device or "auto")
    chosen = torch.device(device)
    return chosen, torch.float32 if chosen.type == "cpu" else torch.float16


def load_clip_vision(
    path: str | os.PathLike[str],
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
    cache: ModelCache | None = None,
) -> ClipVision:
    """A CLIP_VISION from a file in models/clip_vision (or a diffusers image_encoder folder); never downloads."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"CLIP vision model not found: {path}")
    key = ("clip_vision", *file_identity(path), str(device), str(dtype))
    return cached(cache, key, lambda: _load(path, device, dtype))


def _load(path: Path, device: torch.device | str | None, dtype: torch.dtype | None) -> ClipVision:
    if path.is_dir():
        model = CLIPVisionModelWithProjection.from_pretrained(path, local_files_only=True)
        chosen, default_dtype = _device(device)
        chosen_dtype = dtype or default_dtype
        return ClipVision(place(model.eval(), chosen, chosen_dtype), chosen, chosen_dtype, str(path))
    return clip_vision_from_state_dict(load_state_dict(path), str(path), load_metadata(path), device, dtype)
