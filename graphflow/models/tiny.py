"""Tiny random-weight SD1/SD2/SDXL-shaped models for tests and benchmarks, savable in both layouts."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from safetensors.torch import save_file
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

from .convert import append_identity_layer, drop_last_layer, ldm_checkpoint
from .detect import CONFIG_ROOT, FAMILY_PREDICTION, family_config

TEXT_WIDTH = 32
_TEXT_PARTS: dict[str, tuple[tuple[str, str, str], ...]] = {
    # family -> (part name, diffusers subfolder, hidden_act)
    "sd1": (("clip_l", "text_encoder", "quick_gelu"),),
    "sd2": (("clip_h", "text_encoder", "gelu"),),
    "sdxl": (("clip_l", "text_encoder", "quick_gelu"), ("clip_g", "text_encoder_2", "gelu")),
}
_UNET: dict[str, dict[str, object]] = {
    "sd1": {
        "block_out_channels": [32, 64],
        "attention_head_dim": 8,
        "cross_attention_dim": TEXT_WIDTH,
        "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
        "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"],
    },
    "sd2": {
        "block_out_channels": [64, 128],
        "attention_head_dim": [1, 2],
        "cross_attention_dim": TEXT_WIDTH,
        "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
        "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"],
    },
    "sdxl": {
        "block_out_channels": [64, 128],
        "attention_head_dim": [1, 2],
        "cross_attention_dim": 2 * TEXT_WIDTH,
        "transformer_layers_per_block": [1, 2],
        "addition_time_embed_dim": 8,
        "projection_class_embeddings_input_dim": TEXT_WIDTH + 6 * 8,
        "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D"],
        "up_block_types": ["CrossAttnUpBlock2D", "UpBlock2D"],
    },
}
TINY_VAE_CHANNELS = [32, 32, 64, 64]


@dataclass
class TinyModels:
    """The components of one tiny model: diffusers UNet and VAE, transformers text models by part."""

    family: str
    unet: UNet2DConditionModel
    vae: AutoencoderKL
    text_models: dict[str, CLIPTextModel | CLIPTextModelWithProjection]
    prediction: str


def _tiny_text_model(part: str, act: str) -> CLIPTextModel | CLIPTextModelWithProjection:
    base = json.loads((CONFIG_ROOT / "sd1" / "text_encoder" / "config.json").read_text())
    config = CLIPTextConfig(
        **{
            **base,
            "hidden_size": TEXT_WIDTH,
            "intermediate_size": 2 * TEXT_WIDTH,
            "num_attention_heads": 1,
            "num_hidden_layers": 2,
            "hidden_act": act,
            "projection_dim": TEXT_WIDTH,
        }
    )
    cls = CLIPTextModelWithProjection if part == "clip_g" else CLIPTextModel
    return cls(config).eval()


def build_tiny(family: str, seed: int = 0) -> TinyModels:
    """Seeded tiny random-weight models shaped like `family` ("sd1", "sd2" v-prediction, "sdxl")."""
    if family not in _UNET:
        raise ValueError(f"no tiny model for family {family!r}; choose one of {', '.join(_UNET)}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(**{**family_config(family, "unet"), **_UNET[family], "layers_per_block": 1})
        vae = AutoencoderKL(
            **{**family_config(family, "vae"), "block_out_channels": TINY_VAE_CHANNELS, "layers_per_block": 1}
        )
        texts = {part: _tiny_text_model(part, act) for part, _, act in _TEXT_PARTS[family]}
    if family == "sd2":
        append_identity_layer(texts["clip_h"])  # OpenCLIP's full depth, as loaders give it
    return TinyModels(family, unet.eval(), vae.eval(), texts, FAMILY_PREDICTION[family])


def save_tiny_diffusers(models: TinyModels, folder: str | Path) -> Path:
    """Write `models` as a diffusers folder (no tokenizer: loaders fall back to CLIP's BPE)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    index = json.loads((CONFIG_ROOT / models.family / "model_index.json").read_text())
    index = {k: v for k, v in index.items() if not k.startswith("tokenizer")}
    (folder / "model_index.json").write_text(json.dumps(index, indent=2))
    models.unet.save_pretrained(folder / "unet")
    models.vae.save_pretrained(folder / "vae")
    for part, subfolder, _ in _TEXT_PARTS[models.family]:
        model = models.text_models[part]
        # diffusers keeps SD2's text encoder without the last OpenCLIP layer, which SD2 never reads
        (drop_last_layer(model) if models.family == "sd2" else model).save_pretrained(folder / subfolder)
    (folder / "scheduler").mkdir(exist_ok=True)
    shutil.copy(CONFIG_ROOT / models.family / "scheduler" / "scheduler_config.json", folder / "scheduler")
    return folder


def save_tiny_checkpoint(models: TinyModels, path: str | Path) -> Path:
    """Write `models` as one original-layout .safetensors file (with its prediction type in the metadata)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = ldm_checkpoint(
        models.family, models.unet, models.vae, models.text_models, v_prediction=models.prediction == "v_prediction"
    )
    save_file(
        state,
        str(path),
        metadata={"modelspec.prediction_type": "v" if models.prediction == "v_prediction" else "epsilon"},
    )
    return path
