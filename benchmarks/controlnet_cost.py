"""Sampling time of a ControlNet run through graphflow against diffusers' StableDiffusionControlNetPipeline.

Run: .venv/bin/python benchmarks/controlnet_cost.py [--steps 4] [--size 256] [--repeats 3] [--threads 1]

One SD1.5-size UNet (graphflow/models/configs/sd1) and one SD1.5-size ControlNet (graphflow's shipped
graphflow/control/configs/sd1 config), random weights, are shared by both sides in one process. Each
side samples the same noise with Euler ("normal" = diffusers' "linspace" timesteps), guidance on, the
ControlNet applied to both halves of the guidance batch over the whole schedule, from precomputed text
embeddings and a hint picture; diffusers stops at the latents (no VAE decode), as graphflow's sampler
does. Runs alternate (graphflow, diffusers, diffusers, graphflow, ...) after one warm-up each; the
ratio is of the medians of wall time (process CPU time too, which other work on the machine disturbs
less). Target: graphflow / diffusers <= 1.05. Run it alone on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

TARGET = 1.05
CFG, SEED = 7.5, 42
TOKENS, CONTEXT_WIDTH = 77, 768


def _models() -> tuple[Any, Any, Any]:
    """(UNet, ControlNet, small VAE): SD1.5's UNet and ControlNet shapes, random weights, float32, eval."""
    from diffusers import AutoencoderKL, ControlNetModel, UNet2DConditionModel

    from graphflow.control.detect import shipped_config
    from graphflow.models.detect import family_config

    torch.manual_seed(0)
    unet = UNet2DConditionModel(**family_config("sd1", "unet")).eval()
    controlnet = ControlNetModel(**shipped_config("sd1", "controlnet")).eval()
    # the pipeline needs a VAE only for its scale factor (8) and image processors: keep it small
    vae = AutoencoderKL(**{**family_config("sd1", "vae"), "block_out_channels": [32, 32, 64, 64]}).eval()
    return unet, controlnet, vae


def _graphflow_sampler(unet: Any, controlnet: Any, inputs: dict[str, Any], steps: int) -> Callable[[], torch.Tensor]:
    from graphflow.control.control import apply_control
    from graphflow.control.model import ControlModel
    from graphflow.models.detect import family_config
    from graphflow.sampling.conditioning import CondEntry
    from graphflow.sampling.latent import Latent
    from graphflow.sampling.model import SD1_LATENT_FORMAT, DiffusionModel, ModelSampling
    from graphflow.sampling.sample import sample

    cpu = torch.device("cpu")
    model = DiffusionModel(
        unet=unet,
        sampling=ModelSampling.from_scheduler_config(family_config("sd1", "scheduler")),
        family="sd1",
        latent_format=SD1_LATENT_FORMAT,
        device=cpu,
        dtype=torch.float32,
    )
    control = ControlModel("controlnet", controlnet, "sd1", "benchmark", cpu, torch.float32)
    positive, negative = apply_control(
        [(CondEntry(context=inputs["positive"]),), (CondEntry(context=inputs["negative"]),)],
        control,
        inputs["hint"],
        1.0,
    )
    latent = Latent(torch.zeros_like(inputs["noise"]))

    def run() -> torch.Tensor:
        return sample(
            model,
            positive=positive,
            negative=negative,
            latent=latent,
            seed=SEED,
            steps=steps,
            cfg=CFG,
            sampler_name="euler",
            scheduler="normal",
            noise=inputs["noise"],
        )

    return run


def _diffusers_sampler(
    unet: Any, controlnet: Any, vae: Any, inputs: dict[str, Any], steps: int
) -> Callable[[], torch.Tensor]:
    from diffusers import EulerDiscreteScheduler, StableDiffusionControlNetPipeline

    from graphflow.models.detect import family_config

    config = {**family_config("sd1", "scheduler"), "timestep_spacing": "linspace"}
    scheduler = EulerDiscreteScheduler.from_config(config)
    pipe = StableDiffusionControlNetPipeline(
        vae=vae,
        text_encoder=None,
        tokenizer=None,
        unet=unet,
        controlnet=controlnet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    size = inputs["hint"].shape[1]
    hint = inputs["hint"].movedim(-1, 1)  # [B, 3, H, W] in 0..1, as the pipeline takes tensors

    def run() -> torch.Tensor:
        return pipe(
            prompt_embeds=inputs["positive"],
            negative_prompt_embeds=inputs["negative"],
            image=hint,
            latents=inputs["noise"].clone(),
            num_inference_steps=steps,
            guidance_scale=CFG,
            height=size,
            width=size,
            output_type="latent",
        ).images

    return run


def _timed(run: Callable[[], torch.Tensor]) -> tuple[float, float, torch.Tensor]:
    """Wall seconds, this process's CPU seconds (less disturbed by other work on a shared machine), result."""
    wall, cpu = time.perf_counter(), time.process_time()
    with torch.no_grad():
        result = run()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def controlnet_cost(steps: int = 4, size: int = 256, repeats: int = 3, threads: int = 1) -> dict[str, Any]:
    """Sampling seconds of each side per run, their medians' ratio (graphflow / diffusers) and the target."""
    torch.set_num_threads(threads)
    started = time.perf_counter()
    unet, controlnet, vae = _models()
    build_seconds = time.perf_counter() - started
    generator = torch.Generator().manual_seed(SEED)
    inputs = {
        "positive": torch.randn(1, TOKENS, CONTEXT_WIDTH, generator=generator),
        "negative": torch.randn(1, TOKENS, CONTEXT_WIDTH, generator=generator),
        "hint": torch.rand(1, size, size, 3, generator=generator),
        "noise": torch.randn(1, 4, size // 8, size // 8, generator=generator),
    }
    sides = {
        "graphflow": _graphflow_sampler(unet, controlnet, inputs, steps),
        "diffusers": _diffusers_sampler(unet, controlnet, vae, inputs, steps),
    }
    latents = {name: _timed(run)[2] for name, run in sides.items()}  # warm-up, and the outputs to compare
    seconds: dict[str, list[float]] = {name: [] for name in sides}
    cpu_seconds: dict[str, list[float]] = {name: [] for name in sides}
    for repeat in range(repeats):
        order = list(sides) if repeat % 2 == 0 else list(reversed(sides))
        for name in order:
            wall, cpu, _ = _timed(sides[name])
            seconds[name].append(wall)
            cpu_seconds[name].append(cpu)
    medians = {name: statistics.median(times) for name, times in seconds.items()}
    cpu_medians = {name: statistics.median(times) for name, times in cpu_seconds.items()}
    return {
        "steps": steps,
        "size": size,
        "repeats": repeats,
        "threads": threads,
        "build_seconds": round(build_seconds, 1),
        "graphflow_seconds": [round(s, 3) for s in seconds["graphflow"]],
        "diffusers_seconds": [round(s, 3) for s in seconds["diffusers"]],
        "graphflow_median": round(medians["graphflow"], 3),
        "diffusers_median": round(medians["diffusers"], 3),
        "ratio": round(medians["graphflow"] / medians["diffusers"], 4),
        "ratio_best": round(min(seconds["graphflow"]) / min(seconds["diffusers"]), 4),
        "cpu_ratio": round(cpu_medians["graphflow"] / cpu_medians["diffusers"], 4),
        # a random SD-size UNet predicts large values; float32 round-off shows relative to them
        "latent_relative_difference": float(
            (latents["graphflow"] - latents["diffusers"]).abs().max() / latents["diffusers"].abs().max()
        ),
        "target": TARGET,
    }


def main(argv: list[str] | None = None) -> int:
    """Measure and print the figures; exit status 1 when the ratio misses the target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--size", type=int, default=256, help="image side in pixels (a multiple of 8)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per side, after one warm-up each")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    figures = controlnet_cost(args.steps, args.size, args.repeats, args.threads)
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(f"ControlNet sampling, SD1.5-size UNet + ControlNet, {args.size}px, {args.steps} Euler steps, cfg {CFG}")
        print(f"  graphflow  median {figures['graphflow_median']:8.3f} s   runs {figures['graphflow_seconds']}")
        print(f"  diffusers  median {figures['diffusers_median']:8.3f} s   runs {figures['diffusers_seconds']}")
        print(f"  ratio {figures['ratio']:.4f} (best-of {figures['ratio_best']:.4f}), target <= {TARGET}")
        print(f"  ratio of process CPU time {figures['cpu_ratio']:.4f}")
        print(f"  same latents: max difference {figures['latent_relative_difference']:.1e} of the largest value")
    return 0 if figures["ratio"] <= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
