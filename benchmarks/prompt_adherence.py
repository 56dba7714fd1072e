"""Prompt adherence of the built-in demo model per sampler x schedule x steps, scored by the shapes-world checker.

Run: .venv/bin/python benchmarks/prompt_adherence.py [--samplers euler,dpmpp_2m|all] [--schedulers normal,karras|all]
     [--steps 10,20,50] [--singles 100] [--pairs 50] [--no-header] [--device cpu|cuda]

Images come from graphflow's own loader, prompt encoder, sampler and VAE (one prompt per latent of a
batch); prompt i always uses noise from one fixed seed. Targets: colour, position, size >= 95 %;
shape >= 90 %; two-shape colours >= 90 %.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch

from graphflow.demo.checker import score
from graphflow.demo.evaluate import eval_prompts
from graphflow.imaging.images import image_to_pils
from graphflow.models.builtin import resolve_checkpoint
from graphflow.models.loader import load_checkpoint
from graphflow.sampling.conditioning import CondEntry
from graphflow.sampling.latent import Latent
from graphflow.sampling.sample import sample
from graphflow.sampling.samplers import SAMPLER_NAMES
from graphflow.sampling.schedules import SCHEDULER_NAMES

COLUMNS = ("colour", "position", "shape", "size", "all", "two_colour")
TARGETS = {"colour": 0.95, "position": 0.95, "size": 0.95, "shape": 0.90, "two_colour": 0.90}


def checkpoint_path(choice: str) -> Path:
    """An existing path as given, else a checkpoint choice (builtin:..., or a name in ./models/checkpoints)."""
    return Path(choice) if Path(choice).exists() else resolve_checkpoint(Path("models"), choice)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default="builtin:shapes-demo", help="a checkpoint choice or a folder path")
    parser.add_argument("--samplers", default="euler,euler_ancestral,dpmpp_2m,uni_pc")
    parser.add_argument("--schedulers", default="normal,karras")
    parser.add_argument("--steps", default="10,20,50")
    parser.add_argument("--cfg", type=float, default=3.0)
    parser.add_argument("--singles", type=int, default=100)
    parser.add_argument("--pairs", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=64, help="image side in pixels (the demo model draws 64)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (the model runs in fp32 either way)")
    parser.add_argument("--no-header", action="store_true", help="print only table rows (to join parallel runs)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(args.threads)

    model, clip, vae = load_checkpoint(checkpoint_path(args.checkpoint), device=args.device, dtype=torch.float32)
    prompts = eval_prompts(args.singles, args.pairs)
    positive = (CondEntry(torch.cat([clip.encode(p)[0].context for p in prompts])),)
    negative = clip.encode("")
    side = args.size // vae.downscale
    latent = Latent(torch.zeros(len(prompts), model.latent_format.channels, side, side))
    if not args.no_header:
        print(
            f"{args.checkpoint}: {args.singles} single-shape + {args.pairs} two-shape prompts, cfg {args.cfg}, "
            f"seed {args.seed}"
        )
        print(f"{'sampler':18s} {'schedule':16s} {'steps':>5s} " + " ".join(f"{c:>10s}" for c in COLUMNS) + "  seconds")
    samplers = SAMPLER_NAMES if args.samplers == "all" else args.samplers.split(",")
    schedulers = SCHEDULER_NAMES if args.schedulers == "all" else args.schedulers.split(",")
    for sampler_name in samplers:
        for scheduler in schedulers:
            for steps in (int(s) for s in args.steps.split(",")):
                began = time.perf_counter()
                samples = sample(
                    model,
                    positive=positive,
                    negative=negative,
                    latent=latent,
                    seed=args.seed,
                    steps=steps,
                    cfg=args.cfg,
                    sampler_name=sampler_name,
                    scheduler=scheduler,
                )
                scores = score(image_to_pils(vae.decode(samples)), prompts)
                cells = " ".join(f"{scores.get(c, float('nan')):10.2f}" for c in COLUMNS)
                missed = [c for c, t in TARGETS.items() if scores.get(c, 0.0) < t]
                print(
                    f"{sampler_name:18s} {scheduler:16s} {steps:5d} {cells}  {time.perf_counter() - began:7.1f}"
                    + (f"  below target: {', '.join(missed)}" if missed else ""),
                    flush=True,
                )


if __name__ == "__main__":
    main()
