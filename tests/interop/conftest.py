"""ComfyUI interop fixtures: the example files' models (tiny ones under ComfyUI's names) and input images."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

# fixtures shared with the node tests (models_dir is overridden below)
from tests.nodes.conftest import (
    executor,
    folder_settings,
    graphflow_cli,
    models_root,
    plugins,
    settings,
    shared_models,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "graphflow" / "workflows" / "comfyui"
DATA = Path(__file__).resolve().parent / "data"
CLASSIC_NAMES = ("txt2img", "img2img", "inpaint", "hires_fix", "upscale_model", "lora_controlnet")
FLOW_NAMES = ("flux_dev", "flux_schnell", "sd3")
NAMES = CLASSIC_NAMES + FLOW_NAMES
# Overrides (graphflow input names) that make each example fast on tiny models; ids are shared by both formats.
SMALL = {
    "txt2img": {"3.steps": 2, "5.width": 64, "5.height": 64},
    "img2img": {"3.steps": 2},
    "inpaint": {"3.steps": 2},
    "hires_fix": {"3.steps": 2, "5.width": 64, "5.height": 64, "11.steps": 2},
    "upscale_model": {"3.steps": 2, "5.width": 64, "5.height": 64},
    "lora_controlnet": {"3.steps": 2, "5.width": 64, "5.height": 64},
    "flux_dev": {"17.steps": 2, "27.width": 64, "27.height": 64, "30.width": 64, "30.height": 64},
    "flux_schnell": {"31.steps": 2, "27.width": 64, "27.height": 64},
    "sd3": {"3.steps": 2, "135.width": 64, "135.height": 64},
}
SMALL_UI = {"hires_fix": {"10.width": 96, "10.height": 96}, "upscale_model": {"13.width": 96, "13.height": 96}}


def example(name: str, fmt: str) -> Path:
    """An example file: fmt "api" or "workflow"."""
    return EXAMPLES / f"{name}_{fmt}.json"


def overrides(name: str, fmt: str) -> dict[str, Any]:
    """NODE.INPUT -> value settings that shrink an example."""
    return {**SMALL[name], **(SMALL_UI.get(name, {}) if fmt == "workflow" else {})}


def small_api_prompt(name: str) -> dict[str, Any]:
    """An API example with the shrinking overrides applied in ComfyUI's own input names."""
    prompt = json.loads(example(name, "api").read_text())
    for target, value in SMALL[name].items():
        node, field = target.split(".")
        prompt[node]["inputs"][field] = value
    return prompt


def tiny_kohya_lora(models: Any, rank: int = 4, seed: int = 5) -> dict[str, Any]:
    """A kohya-format LoRA for the tiny SD1 model: its UNet attention queries/keys and text queries/values."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    targets = [
        ("lora_unet_", name, module)
        for name, module in models.unet.named_modules()
        if name.endswith(("attn1.to_q", "attn2.to_k"))
    ]
    targets += [
        ("lora_te_text_model_", name, module)
        for name, module in models.text_models["clip_l"].named_modules()
        if name.endswith(("self_attn.q_proj", "self_attn.v_proj"))
    ]
    tensors = {}
    for prefix, name, module in targets:
        stem = prefix + name.removeprefix("text_model.").replace(".", "_")
        tensors[f"{stem}.lora_down.weight"] = torch.randn(rank, module.in_features, generator=generator) * 0.1
        tensors[f"{stem}.lora_up.weight"] = torch.randn(module.out_features, rank, generator=generator) * 0.1
        tensors[f"{stem}.alpha"] = torch.tensor(float(rank))
    return tensors


@pytest.fixture(scope="session")
def comfy_models(models_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder with the ComfyUI examples' models under ComfyUI's names: the tiny SD1 checkpoint, a tiny
    x2 upscaler, a LoRA and a ControlNet made for the tiny SD1 model, and tiny SD3/Flux files."""
    from safetensors.torch import save_file

    from tests.upscale.tiny import compact_spec, in_layout, tiny_network

    root = tmp_path_factory.mktemp("comfy_models")
    (root / "checkpoints").mkdir()
    os.link(
        models_root / "checkpoints" / "tiny-sd1.safetensors", root / "checkpoints" / "v1-5-pruned-emaonly.safetensors"
    )
    (root / "upscale_models").mkdir()
    spec = compact_spec(2)
    state = in_layout(tiny_network(spec), spec, spec.layout)
    save_file(
        {k: v.contiguous() for k, v in state.items()}, str(root / "upscale_models" / "RealESRGAN_x2plus.safetensors")
    )
    write_addon_stand_ins(root)
    return root


def write_addon_stand_ins(root: Path) -> None:
    """The model files the ComfyUI examples name beside the SD1 checkpoint: a LoRA and a ControlNet (original
    single-file layout) made for tiny SD1, and the SD3/Flux examples' files (`write_flow_stand_ins`)."""
    from safetensors.torch import save_file

    from graphflow.control.tiny import controlnet_from_unet, save_controlnet_file
    from graphflow.models.tiny import build_tiny

    tiny_sd1 = build_tiny("sd1", seed=0)  # the models of tiny-sd1.safetensors
    (root / "loras").mkdir()
    save_file(tiny_kohya_lora(tiny_sd1), str(root / "loras" / "detail_style_lora.safetensors"))
    save_controlnet_file(
        controlnet_from_unet(tiny_sd1.unet, seed=1), root / "controlnet" / "control_v11p_sd15_canny.safetensors"
    )
    write_flow_stand_ins(root)


def write_inputs(folder: Path) -> None:
    """The images the examples load: a 64x64 picture, a mask and a picture with a transparent hole."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(folder / "example.png")
    mask = np.zeros((64, 64), dtype=np.uint8)
    mask[16:48, 16:48] = 255
    Image.fromarray(np.stack([mask] * 3, axis=-1)).save(folder / "mask.png")
    rgba = np.concatenate([rng.integers(0, 255, (64, 64, 3), dtype=np.uint8), 255 - mask[..., None]], axis=-1)
    Image.fromarray(rgba, "RGBA").save(folder / "inpaint_source.png")


def write_flow_stand_ins(root: Path) -> None:
    """The SD3/Flux examples' files under ComfyUI's names, from the tiny flow models: Flux dev in pieces
    (transformer, T5 text encoder, ae.safetensors), Flux schnell as one fp8 file with its VAE and text encoders,
    SD3's all-in-one file, the same without text encoders (as SD3.5's files come) and its three text encoders.
    CLIP-L is SD3's and serves Flux too, as the real clip_l.safetensors does."""
    import torch

    from graphflow.models.tiny_flow import (
        build_tiny_flow,
        save_tiny_flow_checkpoint,
        save_tiny_flow_transformer,
        save_tiny_flow_vae,
        save_tiny_text_encoder,
    )

    flux_dev, flux_schnell, sd3 = (build_tiny_flow(variant) for variant in ("flux-dev", "flux-schnell", "sd3"))
    save_tiny_flow_transformer(flux_dev, root / "diffusion_models" / "flux1-dev.safetensors")
    save_tiny_flow_vae(flux_dev, root / "vae" / "ae.safetensors")
    encoders = root / "text_encoders"
    save_tiny_text_encoder(flux_dev, "t5xxl", encoders / "t5xxl_fp16.safetensors", dtype=torch.float16)
    save_tiny_text_encoder(sd3, "clip_l", encoders / "clip_l.safetensors")
    save_tiny_text_encoder(sd3, "clip_g", encoders / "clip_g.safetensors")
    save_tiny_text_encoder(sd3, "t5xxl", encoders / "t5xxl_fp8_e4m3fn.safetensors", dtype=torch.float8_e4m3fn)
    save_tiny_flow_checkpoint(sd3, root / "checkpoints" / "sd3_medium_incl_clips.safetensors")
    save_tiny_flow_checkpoint(sd3, root / "checkpoints" / "sd3.5_medium.safetensors", text_encoders=False)
    save_flux_checkpoint(flux_schnell, root / "checkpoints" / "flux1-schnell-fp8.safetensors")


def save_flux_checkpoint(models: Any, path: Path) -> None:
    """Flux's all-in-one file as ComfyUI's flux1-*-fp8.safetensors: the transformer in fp8 under
    model.diffusion_model., the VAE under first_stage_model., CLIP-L and T5 under text_encoders.*.transformer.
    (T5's tokenizer beside it)."""
    import torch
    from safetensors.torch import save_file

    from graphflow.models.tiny_flow import TEXT_ENCODER_PREFIX, text_encoder_state, transformer_state, vae_state
    from graphflow.models.tiny_t5 import save_t5_tokenizer

    state = transformer_state(models, dtype=torch.float8_e4m3fn) | vae_state(models)
    for part in ("clip_l", "t5xxl"):
        state |= text_encoder_state(models, part, TEXT_ENCODER_PREFIX.format(part=part))
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path))
    save_t5_tokenizer(path.parent)


@pytest.fixture
def models_dir(comfy_models: Path) -> Path:
    """Every interop test reads the ComfyUI-named models."""
    return comfy_models


@pytest.fixture(autouse=True)
def comfy_folders(folder_settings: Path) -> Path:
    """Every interop test sees the example input images."""
    write_inputs(folder_settings)
    return folder_settings
