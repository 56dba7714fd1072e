"""Sampler nodes: denoise a latent with a model, prompts, a sampler and a noise schedule."""

from typing import Any

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
from graphflow.sampling.preview import step_preview
from graphflow.sampling.sample import SamplingCancelled, sample
from graphflow.sampling.samplers import SAMPLER_NAMES
from graphflow.sampling.schedules import SCHEDULER_NAMES

SAMPLER_NAME = enum_type("SAMPLER_NAME", SAMPLER_NAMES)
SCHEDULER = enum_type("SCHEDULER", SCHEDULER_NAMES)
SEED_MAX = 2**64 - 1


def _run_sampler(ctx: Context, model: DiffusionModel, latent: Latent, **options: Any) -> Latent:
    """Sample with progress, step previews and cancellation wired to the context."""

    def on_step(info: dict[str, Any]) -> None:
        ctx.progress(info["i"] + 1, info["total"], step_preview(info["denoised"], model.latent_format))

    try:
        samples = sample(model, latent=latent, callback=on_step, cancelled=lambda: ctx.cancelled, **options)
    except SamplingCancelled as exc:
        raise Cancelled(f"cancelled in node {ctx.node_id!r}") from exc
    return Latent(samples, noise_mask=latent.noise_mask, batch_index=latent.batch_index)


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
    steps = Input(INT, default=20, min=1, max=10000, budget="steps")
    cfg = Input(FLOAT, default=8.0, min=0.0, max=100.0, step=0.1)
    sampler_name = Input(SAMPLER_NAME, default="euler")
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
    steps = Input(INT, default=20, min=1, max=10000, budget="steps")
    cfg = Input(FLOAT, default=8.0, min=0.0, max=100.0, step=0.1)
    sampler_name = Input(SAMPLER_NAME, default="euler")
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
