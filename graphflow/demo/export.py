"""Stage 4: write the EMA weights as a standard diffusers StableDiffusionPipeline folder or as one file."""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from diffusers import StableDiffusionPipeline
from safetensors.torch import save_file
from transformers import CLIPTokenizer

from graphflow.demo.config import DemoConfig
from graphflow.demo.latents import trained_vae
from graphflow.demo.models import build_scheduler
from graphflow.demo.train_denoiser import build_denoiser, load_checkpoint
from graphflow.models.convert import ldm_checkpoint
from graphflow.models.embedded import embed

TOKENIZER_DIR = "tokenizer"
TRAINING_NOTES = "TRAINING.md"
CONFIG_FILE = "demo_config.json"


def export_pipeline(out: Path, dest: Path, config: DemoConfig, spacing: str = "trailing") -> StableDiffusionPipeline:
    """Assemble VAE, EMA UNet/text encoder, tokenizer and Euler scheduler from a run folder and save them to
    dest: a diffusers folder, or one self-describing single-file checkpoint when dest ends in .safetensors."""
    state = load_checkpoint(out)
    if state is None:
        raise FileNotFoundError(f"{out}: no denoiser checkpoint yet; train first (python -m graphflow.demo.train)")
    cache = torch.load(out / "latents.pt", weights_only=True)
    tokenizer = CLIPTokenizer.from_pretrained(out / TOKENIZER_DIR, local_files_only=True)
    model = build_denoiser(config, tokenizer)
    model.load_state_dict(state["ema"])
    pipe = StableDiffusionPipeline(
        vae=trained_vae(out, config, float(cache["scaling_factor"])),
        text_encoder=model.text_encoder.eval(),
        tokenizer=tokenizer,
        unet=model.unet.eval(),
        scheduler=build_scheduler(spacing),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    if dest.suffix == ".safetensors":
        save_single_file(pipe, dest)
        return pipe
    if dest.exists():
        shutil.rmtree(dest)
    pipe.save_pretrained(dest)
    (dest / CONFIG_FILE).write_text(config.to_json())
    write_notes(dest, config, int(state["step"]), float(state["seconds"]))
    return pipe


def save_single_file(pipe: StableDiffusionPipeline, dest: Path) -> None:
    """One original-layout .safetensors file (as SD 1.x files are) carrying its configs and tokenizer."""
    weights = ldm_checkpoint("sd1", pipe.unet, pipe.vae, {"clip_l": pipe.text_encoder}, v_prediction=True)
    configs = {
        "unet": _public(pipe.unet.config),
        "vae": _public(pipe.vae.config),
        "text": {"clip_l": json.loads(pipe.text_encoder.config.to_json_string())},
        "scheduler": _public(pipe.scheduler.config),
    }
    dest.parent.mkdir(parents=True, exist_ok=True)
    save_file(weights, str(dest), metadata={"modelspec.prediction_type": "v", **embed(configs, pipe.tokenizer)})


def _public(config: Mapping[str, Any]) -> dict[str, Any]:
    """A diffusers config without its bookkeeping keys (_class_name, _diffusers_version, ...)."""
    return {k: v for k, v in config.items() if not k.startswith("_")}


def write_notes(dest: Path, config: DemoConfig, steps: int, seconds: float) -> None:
    """TRAINING.md: how these weights were made (scores are appended by the evaluation)."""
    (dest / TRAINING_NOTES).write_text(
        "# graphflow demo model\n\n"
        "A small text-to-image latent diffusion model trained on the procedural shapes world\n"
        "(`graphflow/demo/world.py`): 64x64 images, one or two shapes, captions such as\n"
        '"a small red circle on the left and a large blue square on the right".\n\n'
        "Reproduce (training runs on a CUDA GPU when one is present):\n\n"
        "```\n"
        "python -m graphflow.demo.train --out .demo-train          # resumable: add --resume [--minutes N]\n"
        "python -m graphflow.demo.train --out .demo-train --export graphflow/demo/weights/shapes-demo\n"
        "python -m graphflow.demo.evaluate --model graphflow/demo/weights/shapes-demo\n"
        "```\n\n"
        f"Seed {config.seed}; denoiser steps trained: {steps} of {config.train.steps}; "
        f"denoiser training time: {seconds / 60:.0f} min.\n"
        f"Full configuration: `{CONFIG_FILE}`. Prediction type: v_prediction; weights: EMA.\n"
    )


def read_config(out: Path) -> DemoConfig:
    """The config a run folder was started with."""
    path = out / CONFIG_FILE
    if not path.exists():
        raise FileNotFoundError(f"{out}: no {CONFIG_FILE}; is this a demo training folder?")
    return DemoConfig.load(path)
