"""Tiny random-weight flow models (SD3/SD3.5, Flux dev/schnell, the flow demo) for tests, in every file layout.

`build_tiny_flow(variant)` gives diffusers/transformers modules; the `save_*` functions write them as people
store them: a diffusers pipeline folder, SD3's all-in-one single file (original layout, with or without its
text encoders), a transformer file alone (Flux's `flux1-dev.safetensors` layout, optionally under
`model.diffusion_model.` and in fp8/fp16/bf16), the 16-channel VAE alone (`ae.safetensors`), and each text
encoder alone (ComfyUI's `models/text_encoders` files, T5 with its tokenizer beside it).

Widths: CLIP-L 16, CLIP-G 24, T5 48 (SD3) or 32 (Flux), so SD3's joined CLIP features (40) are padded to
T5's width as in the real model. CLIP parts use CLIP's own BPE vocabulary (loaders fall back to it).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from diffusers import AutoencoderKL, FluxTransformer2DModel, SD3Transformer2DModel
from safetensors.torch import save_file
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, T5EncoderModel

from .convert import VAE_PREFIX, canonical_clip_keys, vae_to_ldm
from .detect import CONFIG_ROOT
from .flow_convert import DIFFUSION_PREFIX, to_original
from .tiny_t5 import save_t5_tokenizer, tiny_t5

VARIANTS = ("sd3", "sd35", "flux-dev", "flux-schnell", "flow-demo")
CLIP_L_WIDTH, CLIP_G_WIDTH = 16, 24
SD3_T5_WIDTH, FLUX_T5_WIDTH = 48, 32
TINY_VAE_CHANNELS = [32, 32, 64, 64]
_DEMO_TOKENIZER = Path(__file__).resolve().parent.parent / "demo" / "weights" / "shapes-demo" / "tokenizer"
TEXT_ENCODER_PREFIX = "text_encoders.{part}.transformer."
T5_TIED_EMBEDDINGS = "encoder.embed_tokens.weight"
# part -> diffusers subfolder, per family
_SUBFOLDERS = {
    "sd3": {"clip_l": "text_encoder", "clip_g": "text_encoder_2", "t5xxl": "text_encoder_3"},
    "flux": {"clip_l": "text_encoder", "t5xxl": "text_encoder_2"},
    "flow-demo": {"clip_l": "text_encoder"},
}
_T5_TOKENIZER_FOLDER = {"sd3": "tokenizer_3", "flux": "tokenizer_2"}
_FAMILY = {"sd3": "sd3", "sd35": "sd3", "flux-dev": "flux", "flux-schnell": "flux", "flow-demo": "flow-demo"}
_CONFIGS = {"sd3": "sd3", "sd35": "sd35", "flux-dev": "flux-dev", "flux-schnell": "flux-schnell", "flow-demo": "sd3"}
FLOW_DEMO_CLASS = "GraphflowFlowDemo"
FLOW_DEMO_SHIFT = 2.0


@dataclass
class TinyFlow:
    """One tiny flow model: transformer, VAE and text models by part ("clip_l", "clip_g", "t5xxl")."""

    variant: str
    transformer: SD3Transformer2DModel | FluxTransformer2DModel
    vae: AutoencoderKL
    text_models: dict[str, Any]
    scheduler: dict[str, Any] = field(default_factory=dict)

    @property
    def family(self) -> str:
        """The model family: "sd3", "flux" or "flow-demo"."""
        return _FAMILY[self.variant]


def _config(variant: str, component: str) -> dict[str, Any]:
    name = "scheduler_config.json" if component == "scheduler" else "config.json"
    path = CONFIG_ROOT / _CONFIGS[variant] / component / name
    return {k: v for k, v in json.loads(path.read_text()).items() if not k.startswith("_")}


def _clip(width: int, projection: bool, act: str = "quick_gelu", demo: bool = False) -> CLIPTextModel:
    # the demo's tokenizer numbers its specials bos 0, eos 1 (the pooled vector is read at the first eos)
    vocab = {"vocab_size": _demo_vocab(), "bos_token_id": 0, "eos_token_id": 1, "pad_token_id": 1} if demo else {}
    config = CLIPTextConfig(
        **{
            **_config("sd3", "text_encoder"),
            **vocab,
            "hidden_size": width,
            "intermediate_size": 2 * width,
            "num_attention_heads": 1,  # as loaders infer for widths under 64
            "num_hidden_layers": 2,
            "hidden_act": act,
            "projection_dim": width,
        }
    )
    return (CLIPTextModelWithProjection if projection else CLIPTextModel)(config).eval()


def _demo_vocab() -> int:
    return len(json.loads((_DEMO_TOKENIZER / "tokenizer.json").read_text())["model"]["vocab"])


def build_tiny_flow(variant: str = "sd3", seed: int = 0) -> TinyFlow:
    """Seeded tiny random models of `variant`: "sd3", "sd35" (qk norm, dual attention), "flux-dev",
    "flux-schnell" or "flow-demo" (SD3 layout on a 4-channel VAE and one CLIP)."""
    if variant not in VARIANTS:
        raise ValueError(f"no tiny flow model {variant!r}; choose one of {', '.join(VARIANTS)}")
    family = _FAMILY[variant]
    latent_channels = 4 if family == "flow-demo" else 16
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if family == "flux":
            transformer: Any = FluxTransformer2DModel(
                **{
                    **_config(variant, "transformer"),
                    "in_channels": 4 * latent_channels,
                    "num_layers": 1,
                    "num_single_layers": 1,
                    "attention_head_dim": 8,
                    "num_attention_heads": 2,
                    "joint_attention_dim": FLUX_T5_WIDTH,
                    "pooled_projection_dim": CLIP_L_WIDTH,
                    "axes_dims_rope": (4, 2, 2),
                }
            )
            texts: dict[str, Any] = {
                "clip_l": _clip(CLIP_L_WIDTH, False),
                "t5xxl": tiny_t5(width=FLUX_T5_WIDTH, seed=seed),
            }
        else:
            demo = family == "flow-demo"
            texts = (
                {"clip_l": _clip(CLIP_L_WIDTH, False, demo=True)}
                if demo
                else {
                    "clip_l": _clip(CLIP_L_WIDTH, True),
                    "clip_g": _clip(CLIP_G_WIDTH, True, act="gelu"),
                    "t5xxl": tiny_t5(width=SD3_T5_WIDTH, seed=seed),
                }
            )
            torch.manual_seed(seed + 1)
            transformer = SD3Transformer2DModel(
                **{
                    **_config(variant, "transformer"),
                    "sample_size": 16,
                    "in_channels": latent_channels,
                    "out_channels": latent_channels,
                    "num_layers": 2,
                    "attention_head_dim": 8,
                    "num_attention_heads": 2,
                    "caption_projection_dim": 16,
                    "joint_attention_dim": CLIP_L_WIDTH if demo else SD3_T5_WIDTH,
                    "pooled_projection_dim": CLIP_L_WIDTH if demo else CLIP_L_WIDTH + CLIP_G_WIDTH,
                    "pos_embed_max_size": 16,
                    "dual_attention_layers": (0,) if variant == "sd35" else (),
                }
            )
        vae_config = _config(variant, "vae") if family != "flow-demo" else _demo_vae_config()
        vae = AutoencoderKL(**{**vae_config, "block_out_channels": TINY_VAE_CHANNELS, "layers_per_block": 1})
    scheduler = _config(variant, "scheduler")
    if family == "flow-demo":
        scheduler["shift"] = FLOW_DEMO_SHIFT
    return TinyFlow(variant, transformer.eval(), vae.eval(), texts, scheduler)


def _demo_vae_config() -> dict[str, Any]:
    config = {k: v for k, v in json.loads((CONFIG_ROOT / "sd1" / "vae" / "config.json").read_text()).items()}
    return {k: v for k, v in config.items() if not k.startswith("_")} | {"scaling_factor": 0.5}


def save_tiny_flow_folder(models: TinyFlow, folder: str | Path) -> Path:
    """Write `models` as a diffusers pipeline folder (transformer/, vae/, text_encoder*/, T5 tokenizer, scheduler/)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    family = models.family
    if family == "flow-demo":
        index: dict[str, Any] = {
            "_class_name": FLOW_DEMO_CLASS,
            "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
            "text_encoder": ["transformers", "CLIPTextModel"],
            "tokenizer": ["transformers", "CLIPTokenizer"],
            "transformer": ["diffusers", "SD3Transformer2DModel"],
            "vae": ["diffusers", "AutoencoderKL"],
        }
        shutil.copytree(_DEMO_TOKENIZER, folder / "tokenizer", dirs_exist_ok=True)
    else:
        index = json.loads((CONFIG_ROOT / _CONFIGS[models.variant] / "model_index.json").read_text())
        index = {k: v for k, v in index.items() if not k.startswith("tokenizer") or k == _T5_TOKENIZER_FOLDER[family]}
        save_t5_tokenizer(folder / _T5_TOKENIZER_FOLDER[family])
    (folder / "model_index.json").write_text(json.dumps(index, indent=2))
    models.transformer.save_pretrained(folder / "transformer")
    models.vae.save_pretrained(folder / "vae")
    for part, subfolder in _SUBFOLDERS[family].items():
        models.text_models[part].save_pretrained(folder / subfolder)
    (folder / "scheduler").mkdir(exist_ok=True)
    scheduler = {"_class_name": "FlowMatchEulerDiscreteScheduler", **models.scheduler}
    (folder / "scheduler" / "scheduler_config.json").write_text(json.dumps(scheduler, indent=2))
    return folder


def transformer_state(models: TinyFlow, prefix: str = DIFFUSION_PREFIX, dtype: torch.dtype | None = None) -> dict:
    """The transformer's weights in the original layout, under `prefix`, optionally cast to `dtype`."""
    family = "flux" if models.family == "flux" else "sd3"
    state = to_original(family, models.transformer.state_dict(), prefix)
    return {k: (v.to(dtype) if dtype is not None else v).detach().contiguous() for k, v in state.items()}


def vae_state(models: TinyFlow, prefix: str = VAE_PREFIX) -> dict[str, torch.Tensor]:
    """The VAE's weights in the original layout under `prefix` ("" for Flux's ae.safetensors)."""
    state = vae_to_ldm(models.vae.state_dict(), models.vae.config)
    return {prefix + k.removeprefix(VAE_PREFIX): v.detach().contiguous() for k, v in state.items()}


def text_encoder_state(models: TinyFlow, part: str, prefix: str = "") -> dict[str, torch.Tensor]:
    """One text encoder's weights as ComfyUI stores them (transformers names) under `prefix`."""
    model = models.text_models[part]
    if isinstance(model, T5EncoderModel):  # the token embeddings once, as `shared` (ComfyUI's t5xxl files)
        weights = {k: v for k, v in model.state_dict().items() if k != T5_TIED_EMBEDDINGS}
    else:
        weights = canonical_clip_keys(model.state_dict())
    return {prefix + k: v.detach().contiguous() for k, v in weights.items()}


def save_tiny_flow_checkpoint(
    models: TinyFlow, path: str | Path, text_encoders: bool = True, tokenizer: bool = True
) -> Path:
    """SD3's all-in-one single file: model.diffusion_model.*, first_stage_model.* and (optionally)
    text_encoders.{clip_l,clip_g,t5xxl}.transformer.*, with T5's tokenizer beside it (`tokenizer`)."""
    if models.family != "sd3":
        raise ValueError(f"only SD3 ships as one file with its VAE and text encoders, not {models.variant}")
    state = transformer_state(models) | vae_state(models)
    if text_encoders:
        for part in models.text_models:
            state |= text_encoder_state(models, part, TEXT_ENCODER_PREFIX.format(part=part))
    path = _save(state, path)
    if text_encoders and tokenizer:
        save_t5_tokenizer(path.parent)
    return path


def save_tiny_flow_transformer(
    models: TinyFlow, path: str | Path, dtype: torch.dtype | None = None, prefix: str = ""
) -> Path:
    """The transformer alone in the original layout (flux1-dev.safetensors style), in `dtype` if given."""
    return _save(transformer_state(models, prefix, dtype), path)


def save_tiny_flow_vae(models: TinyFlow, path: str | Path, prefix: str = "") -> Path:
    """The VAE alone in the original layout (Flux's ae.safetensors has no prefix)."""
    return _save(vae_state(models, prefix), path)


def save_tiny_text_encoder(
    models: TinyFlow, part: str, path: str | Path, dtype: torch.dtype | None = None, tokenizer: bool = True
) -> Path:
    """One text encoder file as in ComfyUI's models/text_encoders; T5's tokenizer is written beside it."""
    state = {k: v.to(dtype) if dtype is not None else v for k, v in text_encoder_state(models, part).items()}
    path = _save(state, path)
    if part == "t5xxl" and tokenizer:
        save_t5_tokenizer(path.parent)
    return path


def _save(state: dict[str, torch.Tensor], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path))
    return path
