"""The frozen demo pipeline the add-ons train against: loading it, and latents of rendered pictures."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from diffusers import AutoencoderKL, StableDiffusionPipeline
from PIL import Image

from graphflow.demo.world import to_array


def load_base(folder: Path | str) -> StableDiffusionPipeline:
    """A demo pipeline folder, every part frozen and in eval mode, progress bars off."""
    folder = Path(folder)
    if not (folder / "model_index.json").is_file():
        raise FileNotFoundError(f"{folder}: not a diffusers pipeline folder (no model_index.json)")
    pipe = StableDiffusionPipeline.from_pretrained(folder, local_files_only=True)
    for part in (pipe.unet, pipe.vae, pipe.text_encoder):
        part.eval().requires_grad_(False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@torch.no_grad()
def encode_pictures(vae: AutoencoderKL, pictures: Sequence[Image.Image], chunk: int = 128) -> torch.Tensor:
    """Scaled posterior means [N, C, h, w] (float32) of RGB pictures, as the UNet sees clean latents."""
    latents = []
    for begin in range(0, len(pictures), chunk):
        pixels = torch.from_numpy(to_array(pictures[begin : begin + chunk])).permute(0, 3, 1, 2) * 2 - 1
        latents.append(vae.encode(pixels).latent_dist.mean * vae.config.scaling_factor)
    return torch.cat(latents)


def batch_rng(seed: int, stage: int, step: int) -> tuple[np.random.Generator, torch.Generator]:
    """The numpy and torch generators of one training step: a resumed run draws the same batches."""
    return np.random.default_rng([seed, stage, step]), torch.Generator().manual_seed(seed * 1_000_003 + step)


def trained_state(out: Path, checkpoint: str, prog: str) -> dict:
    """The saved state of a run in `out` (EMA weights, step, seconds); a run not saved yet says how to start one."""
    if not (out / checkpoint).exists():
        raise SystemExit(f"{out}: no {checkpoint} yet; train first (python -m {prog} --out {out})")
    return torch.load(out / checkpoint, weights_only=True)
