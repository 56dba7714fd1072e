"""Score the demo add-ons with the shapes-world checker, sampling with diffusers (not graphflow's runtime).

    python -m graphflow.demo.addon_eval lora graphflow/demo/weights/loras/shapes-magenta.safetensors
    python -m graphflow.demo.addon_eval embedding graphflow/demo/weights/embeddings/shapes-sun.safetensors
    python -m graphflow.demo.addon_eval controlnet graphflow/demo/weights/controlnet/shapes-silhouette

Every picture: Euler (the pipeline's scheduler, trailing spacing), 20 steps, guidance 3, prompt i seeded i.
`benchmarks/addon_scores.py` measures the same through graphflow's nodes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from diffusers import ControlNetModel, StableDiffusionControlNetPipeline, StableDiffusionPipeline
from PIL import Image
from safetensors.torch import load_file

from graphflow.demo import DEMO_MODEL_DIR
from graphflow.demo.addon_base import load_base
from graphflow.demo.checker import check, find_objects, iou, score, shape_mask, silhouette
from graphflow.demo.concepts import CHECK_COLOURS, SUN, SUN_MEANING, magenta_prompts, sun_meaning, sun_prompts
from graphflow.demo.evaluate import eval_prompts, grid
from graphflow.demo.hints import silhouette_cases
from graphflow.demo.inversion_text import encode
from graphflow.demo.lora import TEXT_PREFIX, UNET_PREFIX, merged
from graphflow.demo.world import parse_prompt

STEPS, GUIDANCE = 20, 3.0
Sampler = Callable[[int, int, list[torch.Generator]], list[Image.Image]]


def generate(count: int, sampler: Sampler, batch: int = 25, seed: int = 0) -> list[Image.Image]:
    """`count` pictures from sampler(begin, end, generators); picture i is seeded seed + i, whatever the batching."""
    images: list[Image.Image] = []
    for begin in range(0, count, batch):
        end = min(begin + batch, count)
        images += sampler(begin, end, [torch.Generator().manual_seed(seed + i) for i in range(begin, end)])
    return images


def text_sampler(pipe: StableDiffusionPipeline, prompts: Sequence[str]) -> Sampler:
    """Pictures of plain prompts."""

    def run(begin: int, end: int, generators: list[torch.Generator]) -> list[Image.Image]:
        return pipe(
            list(prompts[begin:end]), num_inference_steps=STEPS, guidance_scale=GUIDANCE, generator=generators
        ).images

    return run


def rounded(scores: dict[str, float]) -> dict[str, float]:
    """Scores to three decimals."""
    return {k: round(v, 3) for k, v in scores.items()}


@torch.no_grad()
def lora_scores(
    lora_file: Path,
    base: Path = DEMO_MODEL_DIR,
    concept: int = 50,
    singles: int = 100,
    pairs: int = 50,
    pictures: dict[str, list[Image.Image]] | None = None,
) -> dict[str, object]:
    """The LoRA's concept rate at strengths 1 and 0, and the base prompts' scores without it, at 0 and at 1.

    The checker reads every picture with the world's colours plus magenta.
    """
    pipe = load_base(base)
    state = load_file(lora_file)
    models = {UNET_PREFIX: pipe.unet, TEXT_PREFIX: pipe.text_encoder}
    prompts, ordinary = magenta_prompts(concept), eval_prompts(singles, pairs)
    result: dict[str, object] = {}
    result["base"] = rounded(score(generate(len(ordinary), text_sampler(pipe, ordinary)), ordinary, CHECK_COLOURS))
    for strength in (1.0, 0.0):
        with merged(models, state, strength):
            images = generate(len(prompts), text_sampler(pipe, prompts))
            _keep(pictures, f"concept_at_{strength:g}", images)
            result[f"concept_at_{strength:g}"] = round(score(images, prompts, CHECK_COLOURS)["colour"], 3)
            base_images = generate(len(ordinary), text_sampler(pipe, ordinary))
            result[f"base_at_{strength:g}"] = rounded(score(base_images, ordinary, CHECK_COLOURS))
    return result


def _shows(image: Image.Image, meaning: str) -> bool:
    """Whether some object in the picture has every attribute of a one-thing prompt."""
    (spec,) = parse_prompt(meaning)
    return any(o.spec() == spec for o in find_objects(image))


@torch.no_grad()
def embedding_scores(
    embedding_file: Path,
    base: Path = DEMO_MODEL_DIR,
    count: int = 50,
    pictures: dict[str, list[Image.Image]] | None = None,
) -> dict[str, object]:
    """How often prompts naming the embedding show its meaning, against the base model without it.

    "concept": a large yellow circle at the top is drawn; "all": every thing of the prompt is as stated.
    """
    pipe = load_base(base)
    vectors = {SUN: load_file(embedding_file)["emb_params"].float()}
    prompts = sun_prompts(count)
    negative = encode(pipe.text_encoder, pipe.tokenizer, [""], {})

    def run(begin: int, end: int, generators: list[torch.Generator]) -> list[Image.Image]:
        embeds = encode(pipe.text_encoder, pipe.tokenizer, prompts[begin:end], vectors)
        return pipe(
            prompt_embeds=embeds,
            negative_prompt_embeds=negative.expand(end - begin, -1, -1),
            num_inference_steps=STEPS,
            guidance_scale=GUIDANCE,
            generator=generators,
        ).images

    spelled = [sun_meaning(p) for p in prompts]
    result: dict[str, object] = {}
    for label, images in (
        ("embedding", generate(count, run)),
        ("spelled_out", generate(count, text_sampler(pipe, spelled))),
    ):
        _keep(pictures, label, images)
        result[label] = _sun_rates(images, prompts, spelled)
    return result


def _sun_rates(images: list[Image.Image], prompts: list[str], spelled: list[str]) -> dict[str, float]:
    alone = [i for i, p in enumerate(prompts) if " and " not in p]
    pair = [i for i in range(len(prompts)) if i not in alone]
    concept = [_shows(im, SUN_MEANING) for im in images]
    every = [check(im, text)["all"] for im, text in zip(images, spelled, strict=True)]
    return rounded(
        {
            "concept": float(np.mean(concept)),
            "concept_alone": float(np.mean([concept[i] for i in alone])),
            "concept_with_another_thing": float(np.mean([concept[i] for i in pair])) if pair else float("nan"),
            "all": float(np.mean(every)),
        }
    )


@torch.no_grad()
def controlnet_scores(
    folder: Path,
    base: Path = DEMO_MODEL_DIR,
    count: int = 50,
    pictures: dict[str, list[Image.Image]] | None = None,
) -> dict[str, object]:
    """Overlap (IoU) of the drawn shape with the hint's silhouette, with the ControlNet and without it."""
    pipe = load_base(base)
    controlnet = ControlNetModel.from_pretrained(folder, torch_dtype=torch.float32).eval()
    control = StableDiffusionControlNetPipeline(**pipe.components, controlnet=controlnet)
    control.set_progress_bar_config(disable=True)
    cases = silhouette_cases(count)
    prompts = [p for p, _, _ in cases]

    def run(begin: int, end: int, generators: list[torch.Generator]) -> list[Image.Image]:
        return control(
            prompts[begin:end],
            image=[h for _, h, _ in cases[begin:end]],
            num_inference_steps=STEPS,
            guidance_scale=GUIDANCE,
            generator=generators,
        ).images

    result: dict[str, object] = {}
    plain = text_sampler(pipe, prompts)
    for label, images in (("controlnet", generate(count, run)), ("without", generate(count, plain))):
        _keep(pictures, label, images)
        overlaps = [iou(shape_mask(im), silhouette(h)) for im, (_, h, _) in zip(images, cases, strict=True)]
        result[label] = rounded(
            {
                "iou_mean": float(np.mean(overlaps)),
                "iou_median": float(np.median(overlaps)),
                "share_iou_0.8": float(np.mean([o >= 0.8 for o in overlaps])),
                **score(images, prompts),
            }
        )
    return result


def _keep(pictures: dict[str, list[Image.Image]] | None, label: str, images: list[Image.Image]) -> None:
    if pictures is not None:
        pictures[label] = images


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: prints the scores as JSON."""
    parser = argparse.ArgumentParser(description="Score a demo add-on with the shapes-world checker.")
    parser.add_argument("kind", choices=("lora", "embedding", "controlnet"))
    parser.add_argument("path", type=Path, help="the add-on's file (LoRA, embedding) or folder (ControlNet)")
    parser.add_argument("--base", type=Path, default=DEMO_MODEL_DIR)
    parser.add_argument("--count", type=int, default=50, help="prompts using the add-on")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--grid", type=Path, help="also save every picture as one PNG, a row block per condition")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(args.threads)
    began = time.monotonic()
    pictures: dict[str, list[Image.Image]] = {}
    if args.kind == "lora":
        result = lora_scores(args.path, args.base, concept=args.count, pictures=pictures)
    elif args.kind == "embedding":
        result = embedding_scores(args.path, args.base, args.count, pictures)
    else:
        result = controlnet_scores(args.path, args.base, args.count, pictures)
    if args.grid:
        grid([im for images in pictures.values() for im in images]).save(args.grid)
    result["seconds"] = round(time.monotonic() - began, 1)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
