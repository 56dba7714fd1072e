"""Stage 1: train the autoencoder on rendered scenes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from graphflow.demo.config import DemoConfig
from graphflow.demo.models import build_vae
from graphflow.demo.runlog import Budget, Progress, lr_factor, save_atomic
from graphflow.demo.world import dataset, to_array

CHECKPOINT = "vae.pt"


def image_batch(config: DemoConfig, indices: np.ndarray) -> torch.Tensor:
    """Rendered scenes as a [B, 3, H, W] tensor in [-1, 1]."""
    data = dataset(config.images, config.seed, config.image_size)
    pixels = torch.from_numpy(to_array([data[int(i)][1] for i in indices]))
    return pixels.permute(0, 3, 1, 2) * 2 - 1


def train_vae(out: Path, config: DemoConfig, budget: Budget, device: torch.device | str = "cpu") -> bool:
    """Train (or continue) the VAE; True when finished, False when the budget ran out first."""
    torch.manual_seed(config.seed)
    vae = build_vae(config).to(device)
    optimizer = torch.optim.AdamW(vae.parameters(), lr=config.vae.lr, weight_decay=0.0)
    step = 0
    path = out / CHECKPOINT
    if path.exists():
        state = torch.load(path, weights_only=True, map_location=device)
        vae.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step = int(state["step"])
    total = config.vae.steps
    warmup = max(1, total // 30)
    progress = Progress("vae", total, step, config.vae.batch)
    vae.train()
    while step < total and not budget.expired():
        for group in optimizer.param_groups:
            group["lr"] = config.vae.lr * lr_factor(step, warmup, total, 0.05)
        rng = np.random.default_rng([config.seed, 1, step])
        images = image_batch(config, rng.integers(config.images, size=config.vae.batch)).to(device)
        posterior = vae.encode(images).latent_dist
        generator = torch.Generator().manual_seed(config.seed * 1_000_003 + step)
        noise = torch.randn(posterior.mean.shape, generator=generator).to(device)
        recon = vae.decode(posterior.mean + posterior.std * noise).sample
        mse = F.mse_loss(recon, images)
        loss = F.l1_loss(recon, images) + mse + config.vae.kl_weight * posterior.kl().mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        optimizer.step()
        step += 1
        psnr = 10 * torch.log10(4 / mse.detach()).item()  # images span 2 units
        progress.update(step, loss.item(), f"  psnr {psnr:.1f} dB")
        if budget.checkpoint_due():
            save_atomic({"model": vae.state_dict(), "optimizer": optimizer.state_dict(), "step": step}, path)
    save_atomic({"model": vae.state_dict(), "optimizer": optimizer.state_dict(), "step": step}, path)
    return step >= total
