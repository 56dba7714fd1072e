"""Score the demo flow model with the checker, sampling with graphflow's own samplers over the bare transformer.

`python -m graphflow.demo.flow_eval --model DIR [--steps 4 8 20] [--samplers euler heun] [--shift S]`: the
transformer is called as SD3's (timestep sigma * 1000), guided by classifier-free guidance against the
empty prompt; sigmas come from graphflow's FlowSampling("sd3", shift) and its schedules.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from diffusers import AutoencoderKL, SD3Transformer2DModel

from graphflow.demo.checker import score
from graphflow.demo.evaluate import eval_prompts
from graphflow.demo.train_flow import TIMESTEP_MULTIPLIER, TextConditioner
from graphflow.sampling.flow import FlowSampling
from graphflow.sampling.samplers import get_sampler_spec
from graphflow.sampling.schedules import calculate_sigmas

ATTRIBUTES = ("colour", "position", "shape", "size", "all", "two_colour")


class FlowDemo:
    """An exported demo flow folder: transformer, VAE, frozen CLIP and the scheduler's shift."""

    def __init__(self, folder: Path, shift: float | None = None) -> None:
        if not (folder / "transformer" / "config.json").is_file():
            raise FileNotFoundError(f"{folder}: not a demo flow model folder (no transformer/config.json)")
        self.transformer: Any = SD3Transformer2DModel.from_pretrained(folder / "transformer").eval()
        self.vae: Any = AutoencoderKL.from_pretrained(folder / "vae").eval()
        self.text = TextConditioner(folder)
        saved = json.loads((folder / "scheduler" / "scheduler_config.json").read_text()).get("shift", 1.0)
        self.sampling = FlowSampling("sd3", saved if shift is None else shift, TIMESTEP_MULTIPLIER)

    @torch.no_grad()
    def latents(
        self, prompts: list[str], steps: int, guidance: float, sampler: str = "euler", seed: int = 0
    ) -> torch.Tensor:
        """Sampled latents (VAE scale undone), one per prompt; prompt i starts from noise seeded seed + i."""
        spec = get_sampler_spec(sampler)
        if spec.on_flow != "ode":
            raise ValueError(f"sampler {sampler!r} draws noise; this loop runs the deterministic ones only")
        context, pooled = self.text(prompts)
        empty_context, empty_pooled = self.text([""] * len(prompts))
        both_context, both_pooled = torch.cat([context, empty_context]), torch.cat([pooled, empty_pooled])
        channels, size = self.transformer.config.in_channels, self.transformer.config.sample_size
        noise = torch.stack(
            [
                torch.randn(channels, size, size, generator=torch.Generator().manual_seed(seed + i))
                for i in range(len(prompts))
            ]
        )

        def denoise(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
            sigmas = torch.cat([sigma, sigma])
            timestep = self.sampling.timestep(sigmas)
            v = self.transformer(torch.cat([x, x]), both_context, both_pooled, timestep).sample
            cond, uncond = self.sampling.calculate_denoised(sigmas, v, torch.cat([x, x])).chunk(2)
            return uncond + guidance * (cond - uncond)

        sigmas = calculate_sigmas(self.sampling, "simple", steps)
        x = self.sampling.noise_scaling(sigmas[0], noise, torch.zeros_like(noise))
        return spec.function(denoise, x, sigmas) / self.vae.config.scaling_factor

    @torch.no_grad()
    def images(self, prompts: list[str], steps: int, guidance: float, sampler: str = "euler", batch: int = 50) -> list:
        """Decoded pictures as [H, W, 3] arrays in [0, 1]; prompt i always uses seed i, whatever the batching."""
        out: list[np.ndarray] = []
        for start in range(0, len(prompts), batch):
            latents = self.latents(prompts[start : start + batch], steps, guidance, sampler, seed=start)
            pixels = (self.vae.decode(latents).sample.clamp(-1, 1) + 1) / 2
            out += list(pixels.permute(0, 2, 3, 1).numpy())
        return out


def score_table(
    model: FlowDemo, prompts: list[str], steps: list[int], samplers: list[str], guidance: float
) -> list[dict[str, Any]]:
    """One row per sampler x steps: the checker's accuracies and the seconds taken."""
    rows = []
    for sampler in samplers:
        for n in steps:
            began = time.monotonic()
            scores = score(model.images(prompts, n, guidance, sampler), prompts)
            rows.append(
                {"sampler": sampler, "steps": n, "seconds": round(time.monotonic() - began, 1)}
                | {k: round(v, 3) for k, v in scores.items()}
            )
            print(json.dumps(rows[-1]), flush=True)
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    """The rows as a markdown table: single-thing accuracies, and two-thing colours where scored."""
    lines = ["| sampler | steps | " + " | ".join(ATTRIBUTES) + " |", "|---|---|" + "---|" * len(ATTRIBUTES)]
    for row in rows:
        lines.append(
            f"| {row['sampler']} | {row['steps']} | "
            + " | ".join(f"{row[a]:.2f}" if a in row else "-" for a in ATTRIBUTES)
            + " |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: prints one JSON line per cell, then a markdown table."""
    parser = argparse.ArgumentParser(description="Score the demo flow model with the shapes-world checker.")
    parser.add_argument("--model", type=Path, required=True, help="exported demo flow folder")
    parser.add_argument("--steps", type=int, nargs="+", default=[4, 8, 20])
    parser.add_argument("--samplers", nargs="+", default=["euler", "heun"])
    parser.add_argument("--guidance", type=float, default=3.0)
    parser.add_argument("--shift", type=float, help="override the scheduler's shift")
    parser.add_argument("--singles", type=int, default=100)
    parser.add_argument("--pairs", type=int, default=0, help="two-thing prompts as well (scored as two_*)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(args.threads)
    model = FlowDemo(args.model, args.shift)
    rows = score_table(model, eval_prompts(args.singles, args.pairs), args.steps, args.samplers, args.guidance)
    print(f"shift {model.sampling.shift}, guidance {args.guidance}, {args.singles} + {args.pairs} prompts")
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
