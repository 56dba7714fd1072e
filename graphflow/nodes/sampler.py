"""Sampler nodes: denoise a latent with a model, prompts, a sampler and a noise schedule."""

from typing import Any

import torch
from PIL import Image

from graphflow.api import (
    BOOLEAN,
    CONDITIONING,
    FLOAT,
    INT,
    LATENT,
    MODEL,
    Cancelled,
    Context,
    Input,
    Output,
    enum_type,
    hookimpl,
    node,
)
from graphflow.sampling.conditioning import Conditioning
from graphflow.sampling.latent import Latent
from graphflow.sampling.model import DiffusionModel
from graphflow.sampling.preview import preview_image
from graphflow.sampling.sample import SamplingCancelled, sample
from graphflow.sampling.samplers import SAMPLER_NAMES
from graphflow.sampling.schedules import SCHEDULER_NAMES

SAMPLER = enum_type("SAMPLER", SAMPLER_NAMES)
SCHEDULER = enum_type("SCHEDULER", SCHEDULER_NAMES)
SEED_MAX = 2**64 - 1
PREVIEW_MIN_SIDE = 128


def _run_sampler(ctx: Context, model: DiffusionModel, latent: Latent, **options: Any) -> Latent:
    """Sample with progress, step previews and cancellation wired to the context."""

    def on_step(info: dict[str, Any]) -> None:
        ctx.progress(info["i"] + 1, info["total"], _preview(info["denoised"], model))

    try:
        samples = sample(model, latent=latent, callback=on_step, cancelled=lambda: ctx.cancelled, **options)
    except SamplingCancelled as exc:
        raise Cancelled(f"cancelled in node {ctx.node_id!r}") from exc
    return Latent(samples, noise_mask=latent.noise_mask, batch_index=latent.batch_index)


def _preview(denoised: torch.Tensor, model: DiffusionModel) -> Image.Image | None:
    if model.latent_format.latent_rgb_factors is None:
        return None
    image = preview_image(denoised, model.latent_format)
    if max(image.size) < PREVIEW_MIN_SIDE:  # tiny latents: enlarge so the editor shows something
        scale = PREVIEW_MIN_SIDE // max(image.size)
        image = image.resize((image.width * scale, image.height * scale), Image.NEAREST)
    return image


@node("graphflow.sampling.sample", version="1.0.0", title="Sampler", category="sampling")
class Sampler:
    """Denoise a latent (ComfyUI's KSampler).

    `denoise` below 1 starts from the given latent with partial noise (image-to-image); 0 returns it unchanged.
    """

    model = Input(MODEL)
    positive = Input(CONDITIONING)
    negative = Input(CONDITIONING)
    latent = Input(LATENT)
    seed = Input(INT, default=0, min=0, max=SEED_MAX, widget="seed")
    steps = Input(INT, default=20, min=1, max=10000)
    cfg = Input(FLOAT, default=8.0, min=0.0, max=100.0, step=0.1)
    sampler_name = Input(SAMPLER, default="euler")
    scheduler = Input(SCHEDULER, default="normal")
    denoise = Input(FLOAT, default=1.0, min=0.0, max=1.0, step=0.01)
    result = Output(LATENT)

    def run(
        self,
        ctx: Context,
        model: DiffusionModel,
        positive: Conditioning,
        negative: Conditioning,
        latent: Latent,
        seed: int,
        steps: int,
        cfg: float,
        sampler_name: str,
        scheduler: str,
        denoise: float,
    ) -> Latent:
        return _run_sampler(
            ctx,
            model,
            latent,
            positive=positive,
            negative=negative,
            seed=seed,
            steps=steps,
            cfg=cfg,
            sampler_name=sampler_name,
            scheduler=scheduler,
            denoise=denoise,
        )


@node("graphflow.sampling.sample_advanced", version="1.0.0", title="Sampler (Advanced)", category="sampling")
class SamplerAdvanced:
    """Run only steps [start_at_step, end_at_step) of a schedule, optionally without adding noise or
    keeping the leftover noise, so that several samplers can be chained (ComfyUI's KSamplerAdvanced)."""

    model = Input(MODEL)
    positive = Input(CONDITIONING)
    negative = Input(CONDITIONING)
    latent = Input(LATENT)
    add_noise = Input(BOOLEAN, default=True)
    noise_seed = Input(INT, default=0, min=0, max=SEED_MAX, widget="seed")
    steps = Input(INT, default=20, min=1, max=10000)
    cfg = Input(FLOAT, default=8.0, min=0.0, max=100.0, step=0.1)
    sampler_name = Input(SAMPLER, default="euler")
    scheduler = Input(SCHEDULER, default="normal")
    start_at_step = Input(INT, default=0, min=0, max=10000)
    end_at_step = Input(INT, default=10000, min=0, max=10000)
    return_with_leftover_noise = Input(BOOLEAN, default=False)
    result = Output(LATENT)

    def run(
        self,
        ctx: Context,
        model: DiffusionModel,
        positive: Conditioning,
        negative: Conditioning,
        latent: Latent,
        add_noise: bool,
        noise_seed: int,
        steps: int,
        cfg: float,
        sampler_name: str,
        scheduler: str,
        start_at_step: int,
        end_at_step: int,
        return_with_leftover_noise: bool,
    ) -> Latent:
        return _run_sampler(
            ctx,
            model,
            latent,
            positive=positive,
            negative=negative,
            seed=noise_seed,
            steps=steps,
            cfg=cfg,
            sampler_name=sampler_name,
            scheduler=scheduler,
            start_step=start_at_step,
            end_step=end_at_step,
            add_noise=add_noise,
            return_with_leftover_noise=return_with_leftover_noise,
        )


@hookimpl
def register_nodes(register) -> None:
    """Provide the sampler nodes."""
    register(Sampler)
    register(SamplerAdvanced)
