"""The custom sampler path (ComfyUI's SamplerCustom and its helpers): sampler and schedule chosen by separate nodes.

SDXL Turbo runs on it: Select Sampler (euler_ancestral) + Turbo Scheduler (1 step) + Custom Sampler at cfg 1.
With a sampler and a schedule that KSampler would make, the result is KSampler's, bit for bit.
"""

from collections.abc import Callable
from typing import Any, NamedTuple

import torch

from graphflow.api import (
    BOOLEAN,
    CONDITIONING,
    FLOAT,
    INT,
    LATENT,
    MODEL,
    SAMPLER,
    SIGMAS,
    Cancelled,
    Context,
    Input,
    Output,
    hookimpl,
    node,
)
from graphflow.nodes.sampler import SAMPLER_NAME, SCHEDULER, SEED_MAX
from graphflow.sampling.conditioning import Conditioning
from graphflow.sampling.latent import Latent
from graphflow.sampling.model import DiffusionModel
from graphflow.sampling.preview import step_preview
from graphflow.sampling.sample import SamplingCancelled, sample_sigmas
from graphflow.sampling.samplers import SamplerSpec, get_sampler_spec
from graphflow.sampling.schedules import flip_sigmas, get_sigmas, split_sigmas, turbo_sigmas


class CustomSampled(NamedTuple):
    """What Custom Sampler gives."""

    output: Latent
    denoised_output: Latent


@node("graphflow.sampling.custom", version="1.0.0", title="Custom Sampler", category="sampling/custom")
class CustomSampler:
    """Denoise a latent with a sampler and a schedule given as inputs (ComfyUI's SamplerCustom).

    `denoised_output` is the sampler's last x0 estimate: with leftover noise in `output` (a schedule cut
    short), it is the picture the model expects at the end. `add_noise` off starts from the latent as it is.
    """

    model = Input(MODEL)
    add_noise = Input(BOOLEAN, default=True)
    noise_seed = Input(INT, default=0, min=0, max=SEED_MAX, widget="seed")
    cfg = Input(FLOAT, default=8.0, min=0.0, max=100.0, step=0.1)
    positive = Input(CONDITIONING)
    negative = Input(CONDITIONING)
    sampler = Input(SAMPLER)
    sigmas = Input(SIGMAS)
    latent = Input(LATENT)
    output = Output(LATENT, "the denoised latent")
    denoised_output = Output(LATENT, "the last x0 estimate (the output itself when no step ran)")

    def run(
        self,
        ctx: Context,
        model: DiffusionModel,
        add_noise: bool,
        noise_seed: int,
        cfg: float,
        positive: Conditioning,
        negative: Conditioning,
        sampler: SamplerSpec,
        sigmas: torch.Tensor,
        latent: Latent,
    ) -> CustomSampled:
        if sigmas.ndim != 1:
            raise ValueError(f"sigmas must be one schedule [steps + 1], got shape {tuple(sigmas.shape)}")
        try:
            result = sample_sigmas(
                model,
                positive=positive,
                negative=negative,
                latent=latent,
                sigmas=sigmas,
                sampler=sampler,
                seed=noise_seed,
                cfg=cfg,
                add_noise=add_noise,
                callback=_progress(ctx, model),
                cancelled=lambda: ctx.cancelled,
            )
        except SamplingCancelled as exc:
            raise Cancelled(f"cancelled in node {ctx.node_id!r}") from exc
        output = Latent(result.samples, noise_mask=latent.noise_mask, batch_index=latent.batch_index)
        if result.denoised is None:
            return CustomSampled(output, output)
        return CustomSampled(
            output, Latent(result.denoised, noise_mask=latent.noise_mask, batch_index=latent.batch_index)
        )


def _progress(ctx: Context, model: DiffusionModel) -> Callable[[dict[str, Any]], None]:
    def on_step(info: dict[str, Any]) -> None:
        ctx.progress(info["i"] + 1, info["total"], step_preview(info["denoised"], model.latent_format))

    return on_step


@node("graphflow.sampling.select_sampler", version="1.0.0", title="Select Sampler", category="sampling/custom")
class SelectSampler:
    """A sampling method by name, for the Custom Sampler (ComfyUI's KSamplerSelect)."""

    sampler_name = Input(SAMPLER_NAME, default="euler")
    sampler = Output(SAMPLER)

    def run(self, ctx: Context, sampler_name: str) -> SamplerSpec:
        return get_sampler_spec(sampler_name)


@node("graphflow.sampling.basic_scheduler", version="1.0.0", title="Basic Scheduler", category="sampling/custom")
class BasicScheduler:
    """The sigmas of a named schedule for this model (ComfyUI's BasicScheduler): what KSampler would use.

    `denoise` below 1 keeps the last `steps` of a longer schedule (image-to-image); 0 gives no steps.
    """

    model = Input(MODEL)
    scheduler = Input(SCHEDULER, default="simple")
    steps = Input(INT, default=20, min=1, max=10000, budget="steps")
    denoise = Input(FLOAT, default=1.0, min=0.0, max=1.0, step=0.01)
    sigmas = Output(SIGMAS)

    def run(self, ctx: Context, model: DiffusionModel, scheduler: str, steps: int, denoise: float) -> torch.Tensor:
        return get_sigmas(model.sampling, scheduler, steps, denoise)


@node("graphflow.sampling.turbo_scheduler", version="1.0.0", title="Turbo Scheduler", category="sampling/custom")
class TurboScheduler:
    """SD/SDXL Turbo's few-step schedule (ComfyUI's SDTurboScheduler): timesteps 999, 899, ... down in 100s.

    `denoise` below 1 skips the first 10 - int(10 * denoise) of them (image-to-image).
    """

    model = Input(MODEL)
    steps = Input(INT, default=1, min=1, max=10, budget="steps")
    denoise = Input(FLOAT, default=1.0, min=0.0, max=1.0, step=0.01)
    sigmas = Output(SIGMAS)

    def run(self, ctx: Context, model: DiffusionModel, steps: int, denoise: float) -> torch.Tensor:
        return turbo_sigmas(model.sampling, steps, denoise)


class SplitSchedule(NamedTuple):
    """What Split Sigmas gives."""

    high_sigmas: torch.Tensor
    low_sigmas: torch.Tensor


@node("graphflow.sampling.split_sigmas", version="1.0.0", title="Split Sigmas", category="sampling/sigmas")
class SplitSigmas:
    """Cut a schedule at `step`: the first part for one sampler, the rest for another (both share that sigma)."""

    sigmas = Input(SIGMAS)
    step = Input(INT, default=0, min=0, max=10000)
    high_sigmas = Output(SIGMAS, "sigmas 0..step")
    low_sigmas = Output(SIGMAS, "sigmas step..end")

    def run(self, ctx: Context, sigmas: torch.Tensor, step: int) -> SplitSchedule:
        return SplitSchedule(*split_sigmas(sigmas, step))


@node("graphflow.sampling.flip_sigmas", version="1.0.0", title="Flip Sigmas", category="sampling/sigmas")
class FlipSigmas:
    """Reverse a schedule, from low noise to high (for inverting a picture to noise); a first 0 becomes 0.0001."""

    sigmas = Input(SIGMAS)
    result = Output(SIGMAS)

    def run(self, ctx: Context, sigmas: torch.Tensor) -> torch.Tensor:
        return flip_sigmas(sigmas)


@hookimpl
def register_nodes(register: Callable[[type], None]) -> None:
    """Provide the custom sampler nodes."""
    for cls in (CustomSampler, SelectSampler, BasicScheduler, TurboScheduler, SplitSigmas, FlipSigmas):
        register(cls)
