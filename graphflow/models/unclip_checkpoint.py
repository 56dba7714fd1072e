"""unCLIP checkpoints: a checkpoint that also holds its CLIP image encoder (ComfyUI's unCLIPCheckpointLoader).

An SD 2.1 unCLIP single file is an SD2 checkpoint whose UNet has an image-embedding input (`label_emb`, the
ComfyUI "adm") and whose image encoder lies under `embedder.model.visual.` (OpenCLIP layout); a diffusers
StableUnCLIP folder has the UNet with class embeddings of type "projection" and an `image_encoder/` folder.
Everything else is read as graphflow.models.loader reads any checkpoint.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from diffusers import UNet2DConditionModel
from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint

from graphflow.cache import ModelCache
from graphflow.sampling.model import DiffusionModel
from graphflow.text.encoder import TextEncoder

from . import loader
from .cache import cached, file_identity
from .clip_vision import ClipVision, clip_vision_from_state_dict, load_clip_vision
from .convert import UNET_PREFIX, load_exact
from .detect import UnknownModelLayoutError, detect_state_dict, family_config
from .embedded import embedded_tokenizer
from .files import load_metadata, load_state_dict
from .precision import part_precision
from .speed import Speed
from .vae import Vae

LoadedUnclip = tuple[DiffusionModel, TextEncoder, Vae, ClipVision]
ADM_PREFIX = UNET_PREFIX + "label_emb."
IMAGE_ENCODER = "image_encoder"


def load_unclip_checkpoint(
    path: str | os.PathLike[str],
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
    prediction: str | None = None,
    cache: ModelCache | None = None,
) -> LoadedUnclip:
    """(MODEL, CLIP, VAE, CLIP_VISION) from an unCLIP single file or diffusers folder; never downloads."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    device, dtype = loader.resolve_device(device, dtype)
    key = ("unclip_checkpoint", *file_identity(path), str(device), str(dtype), prediction)
    return cached(cache, key, lambda: _load(path, device, dtype, prediction))


def _load(path: Path, device: torch.device, dtype: torch.dtype, prediction: str | None) -> LoadedUnclip:
    if path.is_dir():
        encoder = path / IMAGE_ENCODER
        if not (encoder / "config.json").is_file():
            raise UnknownModelLayoutError(
                f"{path} has no {IMAGE_ENCODER}/ folder, so it is no unCLIP model: load it with Load Checkpoint"
            )
        model, clip, vae = loader.load_checkpoint(path, device, dtype, prediction)
        return model, clip, vae, load_clip_vision(encoder, device, dtype)
    return _load_single_file(path, device, dtype, prediction)


def _load_single_file(path: Path, device: torch.device, dtype: torch.dtype, prediction: str | None) -> LoadedUnclip:
    state, metadata = load_state_dict(path), load_metadata(path)
    if ADM_PREFIX + "0.0.weight" not in state:
        raise UnknownModelLayoutError(
            f"{path} has no image-embedding input ({ADM_PREFIX}*), so it is no unCLIP model: use Load Checkpoint"
        )
    vision = clip_vision_from_state_dict(state, f"{path} (its image encoder)", metadata, device, dtype)
    # the image-embedding input would make the UNet pass for SDXL's: read the rest without it, then add it
    found = detect_state_dict(
        {k: v for k, v in state.items() if not k.startswith(ADM_PREFIX)}, metadata, prediction, source=str(path)
    )
    if found.layout != "ldm" or found.vae_config is None:
        raise UnknownModelLayoutError(f"{path}: an unCLIP single file holds its UNet, VAE and text encoder")
    found.unet_config |= {
        "class_embed_type": "projection",
        "projection_class_embeddings_input_dim": int(state[ADM_PREFIX + "0.0.weight"].shape[1]),
    }
    unet = loader._build(lambda: UNet2DConditionModel(**found.unet_config))
    load_exact(unet, convert_ldm_unet_checkpoint(state, found.unet_config), f"{path}: UNet")
    vae = loader._build_vae(state, found.vae_config, path)
    parts = loader._PARTS[found.family]
    missing = [part for part in parts if part not in found.text_configs]
    if missing:
        raise UnknownModelLayoutError(f"{path} lacks its text encoder weights ({', '.join(missing)})")
    texts = {part: loader._text_model_from_ldm(state, found, part, path) for part in parts}
    own = embedded_tokenizer(metadata, str(path))
    tokenizers = {part: own or loader._default_tokenizer(part) for part in texts}
    scheduler = found.scheduler_config or family_config(found.family, "scheduler")
    precision = part_precision(device, dtype=dtype, vae_needs_fp32=bool(found.vae_config.get("force_upcast", True)))
    model, clip, vae_value = loader._assemble(
        found, unet.eval(), vae, texts, tokenizers, scheduler, device, precision, Speed()
    )
    return model, clip, vae_value, vision
