"""Score a demo pipeline with the checker: `python -m graphflow.demo.evaluate --model DIR`."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from diffusers import StableDiffusionPipeline
from PIL import Image

from graphflow.demo.checker import score
from graphflow.demo.world import COLOURS, PAIRS, POSITIONS, SHAPES, SIZES, ThingSpec, caption, dataset, describe


def eval_prompts(singles: int = 100, pairs: int = 50, seed: int = 1234) -> list[str]:
    """Fixed prompts: fully specified single things, then pairs (half with positions, half colour+shape)."""
    rng = np.random.default_rng(seed)

    def pick(options: list[str] | tuple[str, ...]) -> str:
        return options[rng.integers(len(options))]

    prompts = [
        describe(ThingSpec(pick(SHAPES), pick(list(COLOURS)), pick(list(POSITIONS)), pick(list(SIZES))))
        for _ in range(singles)
    ]
    for i in range(pairs):
        first, second = rng.choice(list(COLOURS), size=2, replace=False)
        places = PAIRS[rng.integers(len(PAIRS))] if i % 2 == 0 else (None, None)
        prompts.append(
            " and ".join(
                describe(ThingSpec(pick(SHAPES), str(colour), place))
                for colour, place in zip((first, second), places, strict=True)
            )
        )
    return prompts


@torch.no_grad()
def generate(
    pipe: StableDiffusionPipeline,
    prompts: list[str],
    steps: int = 20,
    guidance: float = 3.0,
    seed: int = 0,
    batch: int = 25,
) -> list[Image.Image]:
    """One image per prompt; prompt i always uses seed + i, whatever the batching."""
    images: list[Image.Image] = []
    for start in range(0, len(prompts), batch):
        chunk = prompts[start : start + batch]
        generators = [torch.Generator().manual_seed(seed + start + i) for i in range(len(chunk))]
        images += pipe(
            chunk, num_inference_steps=steps, guidance_scale=guidance, generator=generators, output_type="pil"
        ).images
    return images


@torch.no_grad()
def reconstruction_ceiling(pipe: StableDiffusionPipeline, n: int = 200, seed: int = 999) -> dict[str, float]:
    """Checker scores on VAE round trips of fresh dataset images (the best a perfect UNet could get)."""
    data = dataset(n, seed, pipe.vae.config.sample_size)
    scenes, originals = zip(*data, strict=True)
    pixels = torch.from_numpy(np.stack([np.asarray(im, dtype=np.float32) / 255 for im in originals]))
    latents = pipe.vae.encode(pixels.permute(0, 3, 1, 2) * 2 - 1).latent_dist.mean
    decoded = ((pipe.vae.decode(latents).sample.clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 1).numpy()
    return score(list(decoded), [caption(s) for s in scenes])


def grid(images: list[Image.Image], columns: int = 10) -> Image.Image:
    """Tile images into one picture for a quick look."""
    w, h = images[0].size
    rows = (len(images) + columns - 1) // columns
    sheet = Image.new("RGB", (columns * w, rows * h), "white")
    for i, image in enumerate(images):
        sheet.paste(image, ((i % columns) * w, (i // columns) * h))
    return sheet


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: prints the scores as JSON."""
    parser = argparse.ArgumentParser(description="Score a demo pipeline folder with the shapes-world checker.")
    parser.add_argument("--model", type=Path, required=True, help="StableDiffusionPipeline folder")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--guidance", type=float, default=3.0)
    parser.add_argument("--singles", type=int, default=100)
    parser.add_argument("--pairs", type=int, default=50)
    parser.add_argument("--spacing", help="override the scheduler's timestep spacing")
    parser.add_argument("--ceiling", action="store_true", help="also score VAE reconstructions")
    parser.add_argument("--grid", type=Path, help="save the generated images as one PNG")
    parser.add_argument("--notes", action="store_true", help="append the scores to the model's TRAINING.md")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(args.threads)
    if not (args.model / "model_index.json").exists():
        raise SystemExit(f"{args.model}: not a diffusers pipeline folder (no model_index.json)")
    pipe = StableDiffusionPipeline.from_pretrained(args.model, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    if args.spacing:
        pipe.scheduler = pipe.scheduler.from_config(pipe.scheduler.config, timestep_spacing=args.spacing)
    prompts = eval_prompts(args.singles, args.pairs)
    began = time.monotonic()
    images = generate(pipe, prompts, args.steps, args.guidance)
    result: dict[str, object] = {
        "sampler": f"Euler {args.steps} steps, guidance {args.guidance}, "
        f"spacing {pipe.scheduler.config.timestep_spacing}, seeds 0..{len(prompts) - 1}",
        "prompts": f"{args.singles} single, {args.pairs} pairs (eval_prompts seed 1234)",
        "seconds": round(time.monotonic() - began, 1),
        "scores": {k: round(v, 3) for k, v in score(images, prompts).items()},
    }
    if args.ceiling:
        result["vae_ceiling"] = {k: round(v, 3) for k, v in reconstruction_ceiling(pipe).items()}
    if args.grid:
        grid(images).save(args.grid)
    text = json.dumps(result, indent=2)
    print(text)
    if args.notes:
        with open(args.model / "TRAINING.md", "a") as notes:
            notes.write(f"\n## Measured with the checker (`graphflow.demo.evaluate`)\n\n```\n{text}\n```\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
