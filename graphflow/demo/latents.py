"""Stage 2: encode every dataset image once and keep the posterior (mean, std) in fp16."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from diffusers import AutoencoderKL

from graphflow.demo.config import DemoConfig
from graphflow.demo.models import build_vae
from graphflow.demo.runlog import save_atomic
from graphflow.demo.train_vae import CHECKPOINT, image_batch

CACHE = "latents.pt"


def trained_vae(out: Path, config: DemoConfig, scaling_factor: float = 1.0) -> AutoencoderKL:
    """The VAE from stage 1's checkpoint, in eval mode."""
    vae = build_vae(config, scaling_factor)
    vae.load_state_dict(torch.load(out / CHECKPOINT, weights_only=True, map_location="cpu")["model"])
    return vae.eval()


@torch.no_grad()
def cache_latents(
    out: Path, config: DemoConfig, device: torch.device | str = "cpu", chunk: int = 256
) -> dict[str, torch.Tensor]:
    """Encode all images (or load the cache); also measures the scaling factor (1 / latent std)."""
    path = out / CACHE
    if path.exists():
        return torch.load(path, weights_only=True)
    vae = trained_vae(out, config).to(device)
    means, stds = [], []
    for start in range(0, config.images, chunk):
        pixels = image_batch(config, np.arange(start, min(start + chunk, config.images))).to(device)
        posterior = vae.encode(pixels).latent_dist
        means.append(posterior.mean.half().cpu())
        stds.append(posterior.std.half().cpu())
        if start // chunk % 20 == 0:
            print(f"[latents] {min(start + chunk, config.images)}/{config.images}", flush=True)
    mean, std = torch.cat(means).float(), torch.cat(stds).float()
    spread = torch.sqrt((mean**2 + std**2).mean() - mean.mean() ** 2)
    cache = {"mean": mean.half(), "std": std.half(), "scaling_factor": (1.0 / spread).reshape(())}
    save_atomic(cache, path)
    print(f"[latents] done: latent std {spread:.3f} -> scaling factor {1 / spread:.4f}", flush=True)
    return cache
