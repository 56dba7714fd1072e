"""Scores of the add-ons shipped for builtin:shapes-demo, measured through graphflow's executor and nodes.

Run: .venv/bin/python benchmarks/addon_scores.py [--count 50] [--singles 100] [--pairs 50]
     [--only lora,embedding,controlnet] [--json]

Every picture is one workflow run: Load Checkpoint -> (Load LoRA) -> Encode Prompt (positive, empty negative)
-> (Load Image + Load ControlNet -> Apply ControlNet (Advanced)) -> Empty Latent 64x64 -> Sample (euler,
normal, 20 steps, cfg 3, seed = prompt index) -> VAE Decode, all on one Executor (the checkpoint loads once).
The shapes-world checker (`graphflow.demo.checker`, with magenta added to its palette) reads the pictures.

Targets (issue 13): the LoRA's colour at strength 1 >= 0.9 and at strength 0 <= 0.1; the base prompts'
colour and position with the LoRA loaded at 0 within 0.02 of the base model's; the embedding drawn >= 0.9;
the ControlNet's shape overlapping the hint's silhouette >= 0.8 IoU, against the same prompts without it.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from graphflow.demo.checker import check, find_objects, iou, score, shape_mask, silhouette
from graphflow.demo.concepts import CHECK_COLOURS, SUN_MEANING, magenta_prompts, sun_meaning, sun_prompts
from graphflow.demo.evaluate import eval_prompts
from graphflow.demo.hints import silhouette_cases
from graphflow.demo.world import parse_prompt
from graphflow.executor import Executor
from graphflow.imaging.images import image_to_pils
from graphflow.plugins import build_plugins
from graphflow.settings import Settings
from graphflow.workflow import parse_workflow

CHECKPOINT = "builtin:shapes-demo"
LORA, CONTROLNET = "builtin:shapes-magenta", "builtin:shapes-silhouette"
STEPS, CFG = 20, 3.0
TARGETS = {
    "lora concept at 1": ">= 0.9",
    "lora concept at 0": "<= 0.1",
    "base colour/position change at lora 0": "<= 0.02",
    "embedding concept": ">= 0.9",
    "controlnet iou": ">= 0.8",
}


def _link(node: str, output: str) -> dict[str, str]:
    return {"node": node, "output": output}


def picture_graph(
    prompt: str,
    seed: int,
    *,
    lora_strength: float | None = None,
    hint: str | None = None,
) -> dict[str, Any]:
    """The workflow of one picture: txt2img, with the LoRA at a strength and/or the ControlNet on a hint file."""
    model, clip = _link("checkpoint", "model"), _link("checkpoint", "clip")
    nodes: dict[str, Any] = {
        "checkpoint": {"type": "graphflow.loaders.checkpoint", "inputs": {"checkpoint": CHECKPOINT}}
    }
    if lora_strength is not None:
        nodes["lora"] = {
            "type": "graphflow.loaders.lora",
            "inputs": {"lora_name": LORA, "strength_model": lora_strength, "strength_clip": lora_strength},
            "links": {"model": model, "clip": clip},
        }
        model, clip = _link("lora", "patched_model"), _link("lora", "patched_clip")
    nodes["prompt"] = {"type": "graphflow.conditioning.encode", "inputs": {"text": prompt}, "links": {"clip": clip}}
    nodes["negative"] = {"type": "graphflow.conditioning.encode", "inputs": {"text": ""}, "links": {"clip": clip}}
    positive, negative = _link("prompt", "conditioning"), _link("negative", "conditioning")
    if hint is not None:
        nodes["hint"] = {"type": "graphflow.image.load", "inputs": {"image": hint}}
        nodes["controlnet"] = {"type": "graphflow.loaders.controlnet", "inputs": {"control_net_name": CONTROLNET}}
        nodes["control"] = {
            "type": "graphflow.conditioning.controlnet_advanced",
            "inputs": {"strength": 1.0, "start_percent": 0.0, "end_percent": 1.0},
            "links": {
                "positive": positive,
                "negative": negative,
                "control_net": _link("controlnet", "control_net"),
                "image": _link("hint", "pixels"),
            },
        }
        positive, negative = _link("control", "positive_out"), _link("control", "negative_out")
    nodes["latent"] = {"type": "graphflow.latent.empty", "inputs": {"width": 64, "height": 64, "batch_size": 1}}
    nodes["sampler"] = {
        "type": "graphflow.sampling.sample",
        "inputs": {"seed": seed, "steps": STEPS, "cfg": CFG, "sampler_name": "euler", "scheduler": "normal"},
        "links": {"model": model, "positive": positive, "negative": negative, "latent": _link("latent", "latent")},
    }
    nodes["decode"] = {
        "type": "graphflow.vae.decode",
        "links": {"latent": _link("sampler", "result"), "vae": _link("checkpoint", "vae")},
    }
    return {"format": "graphflow.workflow", "version": 1, "nodes": nodes}


class Painter:
    """One executor (with its caches) over graphflow's built-in nodes, in a folder of its own."""

    def __init__(self, root: Path) -> None:
        self.inputs = root / "input"
        self.inputs.mkdir(parents=True, exist_ok=True)
        settings = Settings(
            models_dir=root / "models", input_dir=self.inputs, output_dir=root / "output", temp_dir=root / "temp",
            device="cpu",
        )  # fmt: skip
        plugins = build_plugins(entry_points=False)
        self.executor = Executor(plugins.registry, plugins.hooks, settings)

    def pictures(self, prompts: Sequence[str], **options: Any) -> list[Image.Image]:
        """One picture per prompt, prompt i seeded i; `hints` (file names in the input folder) go one per prompt."""
        hints = options.pop("hints", None) or [None] * len(prompts)
        out = []
        for seed, (prompt, hint) in enumerate(zip(prompts, hints, strict=True)):
            graph = parse_workflow(picture_graph(prompt, seed, hint=hint, **options))
            result = self.executor.run(graph, targets=["decode"])
            if result.error is not None:
                raise result.error
            out += image_to_pils(result.outputs["decode"]["image"])
        return out


def _rounded(scores: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 3) for k, v in scores.items()}


def lora_figures(painter: Painter, count: int = 50, singles: int = 100, pairs: int = 50) -> dict[str, Any]:
    """The LoRA's colour rate at strengths 1 and 0, and the base prompts' scores without it, at 0 and at 1."""
    concept, ordinary = magenta_prompts(count), eval_prompts(singles, pairs)
    figures: dict[str, Any] = {}
    for strength in (1.0, 0.0):
        images = painter.pictures(concept, lora_strength=strength)
        figures[f"concept_at_{strength:g}"] = round(score(images, concept, CHECK_COLOURS)["colour"], 3)
    figures["base"] = _rounded(score(painter.pictures(ordinary), ordinary, CHECK_COLOURS))
    for strength in (0.0, 1.0):
        images = painter.pictures(ordinary, lora_strength=strength)
        figures[f"base_at_{strength:g}"] = _rounded(score(images, ordinary, CHECK_COLOURS))
    figures["base_change_at_0"] = max(
        abs(figures["base_at_0"][k] - figures["base"][k]) for k in ("colour", "position", "two_colour", "two_position")
    )
    return figures


def _shows(image: Image.Image, meaning: str) -> bool:
    (spec,) = parse_prompt(meaning)
    return any(found.spec() == spec for found in find_objects(image))


def embedding_figures(painter: Painter, count: int = 50) -> dict[str, Any]:
    """How often prompts naming embedding:shapes-sun draw it, against the same prompts spelled out in words."""
    prompts = sun_prompts(count)
    spelled = [sun_meaning(p) for p in prompts]
    alone = [" and " not in p for p in prompts]
    figures: dict[str, Any] = {}
    for label, images in (("embedding", painter.pictures(prompts)), ("spelled_out", painter.pictures(spelled))):
        drawn = [_shows(im, SUN_MEANING) for im in images]
        figures[label] = _rounded(
            {
                "concept": float(np.mean(drawn)),
                "concept_alone": float(np.mean([d for d, a in zip(drawn, alone, strict=True) if a])),
                "concept_with_another_thing": float(np.mean([d for d, a in zip(drawn, alone, strict=True) if not a])),
                "all": float(np.mean([check(im, t)["all"] for im, t in zip(images, spelled, strict=True)])),
            }
        )
    return figures


def controlnet_figures(painter: Painter, count: int = 50) -> dict[str, Any]:
    """IoU of the drawn shape with the hint's silhouette, with the ControlNet and for the same prompts without."""
    cases = silhouette_cases(count)
    prompts, names = [p for p, _, _ in cases], []
    for i, (_, hint, _) in enumerate(cases):
        names.append(f"silhouette_{i:03d}.png")
        hint.save(painter.inputs / names[-1])
    figures: dict[str, Any] = {}
    for label, images in (
        ("controlnet", painter.pictures(prompts, hints=names)),
        ("without", painter.pictures(prompts)),
    ):
        overlaps = [iou(shape_mask(im), silhouette(h)) for im, (_, h, _) in zip(images, cases, strict=True)]
        figures[label] = _rounded(
            {
                "iou_mean": float(np.mean(overlaps)),
                "iou_median": float(np.median(overlaps)),
                "share_iou_0.8": float(np.mean([o >= 0.8 for o in overlaps])),
                **score(images, prompts),
            }
        )
    return figures


def addon_scores(
    count: int = 50, singles: int = 100, pairs: int = 50, only: Sequence[str] = ("lora", "embedding", "controlnet")
) -> dict[str, Any]:
    """Every add-on's figures (and seconds taken), as a dict keyed by add-on."""
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        painter = Painter(Path(folder))
        for name in only:
            began = time.perf_counter()
            if name == "lora":
                results[name] = lora_figures(painter, count, singles, pairs)
            elif name == "embedding":
                results[name] = embedding_figures(painter, count)
            elif name == "controlnet":
                results[name] = controlnet_figures(painter, count)
            else:
                raise ValueError(f"unknown add-on {name!r}: choose from lora, embedding, controlnet")
            results[name]["seconds"] = round(time.perf_counter() - began, 1)
    return results


def summary(results: dict[str, Any]) -> list[tuple[str, float, str]]:
    """(measure, value, target) rows for the figures the issue sets targets for, plus the ControlNet's baseline."""
    values: dict[str, float] = {}
    if "lora" in results:
        values["lora concept at 1"] = results["lora"]["concept_at_1"]
        values["lora concept at 0"] = results["lora"]["concept_at_0"]
        values["base colour/position change at lora 0"] = results["lora"]["base_change_at_0"]
    if "embedding" in results:
        values["embedding concept"] = results["embedding"]["embedding"]["concept"]
    if "controlnet" in results:
        values["controlnet iou"] = results["controlnet"]["controlnet"]["iou_mean"]
        values["  the same prompts without it"] = results["controlnet"]["without"]["iou_mean"]
    return [(name, value, TARGETS.get(name, "")) for name, value in values.items()]


def main() -> None:
    """Print the figures (a target table, then everything as JSON)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=50, help="prompts using each add-on")
    parser.add_argument("--singles", type=int, default=100, help="base single-shape prompts (LoRA check)")
    parser.add_argument("--pairs", type=int, default=50, help="base two-shape prompts (LoRA check)")
    parser.add_argument("--only", default="lora,embedding,controlnet")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print only the JSON")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(args.threads)
    results = addon_scores(args.count, args.singles, args.pairs, args.only.split(","))
    if not args.json:
        print(f"builtin add-ons of {CHECKPOINT}: euler/normal {STEPS} steps, cfg {CFG}, seed = prompt index")
        for name, value, target in summary(results):
            print(f"{name:40s} {value:8.3f}  {target}")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
