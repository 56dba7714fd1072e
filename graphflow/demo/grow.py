"""Start a training run from an exported demo pipeline, also into a larger UNet than the pipeline's.

The pipeline's VAE counts as stage 1, finished; its UNet and text encoder seed the denoiser. Cross-attention
blocks the pipeline lacks (a lower `unet.attention_from`) start with a zero output projection: such a block
adds nothing to its input, so the grown model begins by drawing exactly what the pipeline draws.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from transformers import CLIPTextModel, CLIPTokenizer

from graphflow.demo.config import DemoConfig
from graphflow.demo.export import TOKENIZER_DIR
from graphflow.demo.models import build_vae
from graphflow.demo.runlog import save_atomic
from graphflow.demo.train_denoiser import CHECKPOINT, Denoiser, build_denoiser
from graphflow.demo.train_vae import CHECKPOINT as VAE_CHECKPOINT
from graphflow.demo.trainer import Trainer

NEW_BLOCK_OUTPUT = ("proj_out.weight", "proj_out.bias")


class PipelineMismatchError(ValueError):
    """The pipeline's weights do not fit the run's configuration."""


def start_from_pipeline(out: Path, config: DemoConfig, pipeline: Path) -> None:
    """Write stage 1's and stage 3's checkpoints into a new run folder, taken from `pipeline`."""
    if not (pipeline / "unet" / "config.json").exists():
        raise FileNotFoundError(f"{pipeline}: not a diffusers pipeline folder (no unet/config.json)")
    shutil.copytree(pipeline / TOKENIZER_DIR, out / TOKENIZER_DIR, dirs_exist_ok=True)
    tokenizer = CLIPTokenizer.from_pretrained(out / TOKENIZER_DIR, local_files_only=True)
    vae = build_vae(config)
    _load(vae, AutoencoderKL.from_pretrained(pipeline, subfolder="vae", local_files_only=True), pipeline, "vae")
    optimizer = torch.optim.AdamW(vae.parameters(), lr=config.vae.lr)
    save_atomic(
        {"model": vae.state_dict(), "optimizer": optimizer.state_dict(), "step": config.vae.steps}, out / VAE_CHECKPOINT
    )
    model = grown_denoiser(config, tokenizer, pipeline)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.train.lr, weight_decay=config.train.weight_decay)
    Trainer(model, optimizer, out / CHECKPOINT, config.train, "denoiser").save(0.0)


def grown_denoiser(config: DemoConfig, tokenizer: CLIPTokenizer, pipeline: Path) -> Denoiser:
    """The run's denoiser holding the pipeline's weights; blocks new to it start as the identity."""
    model = build_denoiser(config, tokenizer)
    text = CLIPTextModel.from_pretrained(pipeline, subfolder="text_encoder", local_files_only=True)
    _load(model.text_encoder, text, pipeline, "text_encoder")
    unet = UNet2DConditionModel.from_pretrained(pipeline, subfolder="unet", local_files_only=True)
    missing = _load(model.unet, unet, pipeline, "unet", allow_missing=".attentions.")
    parameters = dict(model.unet.named_parameters())
    with torch.no_grad():
        for key in missing:
            if key.endswith(NEW_BLOCK_OUTPUT):
                parameters[key].zero_()
    return model


def _load(
    target: torch.nn.Module, source: torch.nn.Module, pipeline: Path, part: str, allow_missing: str | None = None
) -> list[str]:
    """Copy source's weights into target; names the part when they do not fit. Returns the keys left new."""
    try:
        missing, unexpected = target.load_state_dict(source.state_dict(), strict=allow_missing is None)
    except RuntimeError as error:
        raise PipelineMismatchError(f"{pipeline / part}: does not fit the run's configuration ({error})") from None
    misfits = list(unexpected) + [k for k in missing if allow_missing is None or allow_missing not in k]
    if misfits:
        raise PipelineMismatchError(
            f"{pipeline / part}: does not fit the run's configuration (e.g. {', '.join(misfits[:3])})"
        )
    return list(missing)
