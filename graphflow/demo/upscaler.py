"""A tiny x2 super-resolution model for the shapes world: Real-ESRGAN's compact net trained on
bicubic-downscaled pairs (32 -> 64 and 64 -> 128 pixels), shipped as a built-in upscale model.

Train, evaluate and export (about five minutes on one busy CPU thread):

    nice -n 10 python -m graphflow.demo.upscaler --steps 6000 --seed 0
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import save_file
from torch import Tensor, nn

from graphflow.demo import WEIGHTS_DIR
from graphflow.demo.world import dataset
from graphflow.upscale import UpscaleSpec, build

SPEC = UpscaleSpec(
    arch="compact", layout="real-esrgan-compact", scale=2, in_channels=3, out_channels=3, features=12, blocks=3
)
DEFAULT_FILE = WEIGHTS_DIR / "upscale" / "shapes-x2.safetensors"
HIGH_SIZES = (64, 128)  # high-resolution sides; the inputs are half as large
TRAIN_SEED, HELD_OUT_SEED = 11, 12  # scene seeds: training scenes and the evaluation's unseen ones
PATCH = 48  # high-resolution training crop side


def pairs(count: int, seed: int, size: int) -> tuple[Tensor, Tensor]:
    """`count` shapes-world scenes as (low, high) [N, 3, H, W] tensors in [0, 1]: each high image drawn at
    `size` pixels, its low one the same image bicubic-downscaled to half that."""
    high, low = [], []
    for _, picture in dataset(count, seed, size):
        high.append(np.asarray(picture, dtype=np.float32) / 255.0)
        small = picture.resize((size // 2, size // 2), Image.Resampling.BICUBIC)
        low.append(np.asarray(small, dtype=np.float32) / 255.0)
    return _stack(low), _stack(high)


def _stack(pictures: list[np.ndarray]) -> Tensor:
    return torch.from_numpy(np.stack(pictures)).permute(0, 3, 1, 2).contiguous()


def bicubic(low: Tensor, scale: int = 2) -> Tensor:
    """The baseline: bicubic interpolation of [N, 3, H, W] images, clamped to [0, 1]."""
    return F.interpolate(low, scale_factor=scale, mode="bicubic", align_corners=False).clamp(0.0, 1.0)


def psnr(estimate: Tensor, target: Tensor) -> float:
    """Peak signal-to-noise ratio in dB over a whole batch of [0, 1] images."""
    mse = F.mse_loss(estimate.clamp(0.0, 1.0), target).item()
    return 10.0 * math.log10(1.0 / max(mse, 1e-12))


def _crops(low: Tensor, high: Tensor, batch: int, rng: torch.Generator) -> tuple[Tensor, Tensor]:
    """A batch of aligned random crops: PATCH-pixel high crops (or whole images when smaller)."""
    index = torch.randint(len(high), (batch,), generator=rng)
    side = min(PATCH, high.shape[-1])
    top, left = (torch.randint((high.shape[-1] - side) // 2 + 1, (2,), generator=rng) * 2).tolist()
    h = high[index, :, top : top + side, left : left + side]
    lo = low[index, :, top // 2 : (top + side) // 2, left // 2 : (left + side) // 2]
    return lo, h


def train(steps: int, seed: int, scenes: int = 1500, batch: int = 16, rate: float = 3e-3) -> nn.Module:
    """A compact x2 network trained for `steps` Adam steps (L1 loss, cosine-decayed rate) on shapes scenes."""
    torch.manual_seed(seed)
    network = build(SPEC)
    with torch.no_grad():  # start as the nearest-neighbour upscale the network adds its output to
        network.body[-1].weight.mul_(0.1)
        network.body[-1].bias.zero_()
    data = [pairs(scenes, TRAIN_SEED, size) for size in HIGH_SIZES]
    optimiser = torch.optim.Adam(network.parameters(), lr=rate)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, steps)
    rng = torch.Generator().manual_seed(seed)
    for step in range(steps):
        low, high = _crops(*data[step % len(data)], batch, rng)
        loss = F.l1_loss(network(low), high)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        if step % 500 == 0 or step == steps - 1:
            print(f"step {step:5d}  l1 {loss.item():.4f}", file=sys.stderr)
    return network.eval()


def evaluate(network: nn.Module, count: int = 100) -> dict[str, dict[str, float]]:
    """PSNR (dB) of the network and of bicubic on `count` held-out scenes per size, e.g. {"32->64": {...}}."""
    scores = {}
    for size in HIGH_SIZES:
        low, high = pairs(count, HELD_OUT_SEED, size)
        with torch.inference_mode():
            upscaled = network(low)
        scores[f"{size // 2}->{size}"] = {
            "model": round(psnr(upscaled, high), 2),
            "bicubic": round(psnr(bicubic(low), high), 2),
        }
    return scores


def export(network: nn.Module, path: Path, notes: dict[str, str]) -> Path:
    """Write the network's weights as .safetensors (string `notes` kept as file metadata)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {key: value.detach().contiguous() for key, value in network.state_dict().items()}
    save_file(state, str(path), metadata=notes)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """Train, evaluate against bicubic on held-out scenes, and export the built-in x2 upscaler."""
    parser = argparse.ArgumentParser(prog="python -m graphflow.demo.upscaler", description=main.__doc__)
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DEFAULT_FILE)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    started = time.monotonic()
    network = train(args.steps, args.seed)
    scores = evaluate(network)
    parameters = sum(p.numel() for p in network.parameters())
    command = f"nice -n 10 python -m graphflow.demo.upscaler --steps {args.steps} --seed {args.seed}"
    notes = {
        "command": command,
        "seed": str(args.seed),
        "parameters": str(parameters),
        "psnr_held_out": json.dumps(scores),
        "training_seconds": f"{time.monotonic() - started:.0f}",
    }
    export(network, args.out, notes)
    print(json.dumps({"file": str(args.out), **notes}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
