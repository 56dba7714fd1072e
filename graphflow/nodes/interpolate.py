"""Interpolation in diffused space: DDIM-invert images to noise, slerp between noises and prompts, sample back.

A typical graph: VAE Encode each image -> DDIM Invert (with its prompt) -> Interpolate Frames
(the two noises and prompts) -> VAE Decode -> Save Animation.
"""

from collections.abc import Callable
from typing import Any

import torch

from graphflow.api import (
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
from graphflow.nodes.sampler import SCHEDULER
from graphflow.sampling.conditioning import Conditioning
from graphflow.sampling.inversion import invert, reconstruct
from graphflow.sampling.latent import Latent
from graphflow.sampling.model import DiffusionModel
from graphflow.sampling.slerp import METHODS, frame_positions, interpolate, interpolate_conditioning
from graphflow.sampling.stepping import SamplingCancelled

METHOD = enum_type("INTERPOLATION", METHODS)
LATENT_DIMS = (1, 2, 3)  # slerp treats each latent of a batch as one vector


def _cancellable(ctx: Context, work: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """work(*args, **kwargs) with the run's cancellation and a Cancelled error if it stops."""
    try:
        return work(*args, cancelled=lambda: ctx.cancelled, **kwargs)
    except SamplingCancelled as exc:
        raise Cancelled(f"cancelled in node {ctx.node_id!r}") from exc


def _check_pair(a: Latent, b: Latent) -> None:
    if a.samples.shape != b.samples.shape:
        raise ValueError(
            f"cannot interpolate latents of shapes {tuple(a.samples.shape)} and {tuple(b.samples.shape)}: "
            "give both the same size and batch"
        )


@node("graphflow.interpolate.invert", version="1.0.0", title="DDIM Invert", category="interpolate")
class DdimInvert:
    """Find the noise that DDIM sampling (same prompt, steps, scheduler and cfg) turns into this latent.

    The result is a noisy latent at the schedule's first sigma: feed it to Interpolate Frames, or to
    Sampler (Advanced) with add_noise off and sampler ddim. `refine` extra model calls per step make
    each step an exact inverse (0 = classic DDIM inversion). Keep cfg at 1 unless you need guidance:
    inversion with guidance drifts.
    """

    model = Input(MODEL)
    positive = Input(CONDITIONING)
    negative = Input(CONDITIONING, optional=True)
    latent = Input(LATENT)
    steps = Input(INT, default=50, min=1, max=1000, budget="steps")
    cfg = Input(FLOAT, default=1.0, min=0.0, max=100.0, step=0.1)
    scheduler = Input(SCHEDULER, default="normal")
    refine = Input(INT, default=2, min=0, max=20)
    noise = Output(LATENT)

    def run(
        self,
        ctx: Context,
        model: DiffusionModel,
        positive: Conditioning,
        latent: Latent,
        steps: int,
        cfg: float,
        scheduler: str,
        refine: int,
        negative: Conditioning | None = None,
    ) -> Latent:
        def on_step(info: dict[str, Any]) -> None:
            ctx.progress(info["i"] + 1, info["total"])

        noisy = _cancellable(
            ctx,
            invert,
            model,
            positive=positive,
            negative=negative or (),
            latent=latent,
            steps=steps,
            cfg=cfg,
            scheduler=scheduler,
            refine=refine,
            callback=on_step,
        )
        return Latent(noisy)


@node("graphflow.interpolate.latents", version="1.0.0", title="Interpolate Latents", category="interpolate")
class InterpolateLatents:
    """A batch of `frames` latents from `a` to `b`, both ends included (slerp or lerp; frame-major for batches)."""

    a = Input(LATENT)
    b = Input(LATENT)
    frames = Input(INT, default=8, min=2, max=1024, budget="batch")
    method = Input(METHOD, default="slerp")
    result = Output(LATENT)

    def run(self, ctx: Context, a: Latent, b: Latent, frames: int, method: str) -> Latent:
        _check_pair(a, b)
        steps = [interpolate(a.samples, b.samples, t, method, LATENT_DIMS) for t in frame_positions(frames)]
        return Latent(torch.cat(steps))


@node("graphflow.interpolate.conditioning", version="1.0.0", title="Interpolate Conditioning", category="interpolate")
class InterpolateConditioning:
    """The conditioning `ratio` of the way from `a` to `b` (0 = a, 1 = b): contexts per token and pooled."""

    a = Input(CONDITIONING)
    b = Input(CONDITIONING)
    ratio = Input(FLOAT, default=0.5, min=0.0, max=1.0, step=0.01, widget="slider")
    method = Input(METHOD, default="lerp")
    conditioning = Output(CONDITIONING)

    def run(self, ctx: Context, a: Conditioning, b: Conditioning, ratio: float, method: str) -> Conditioning:
        return interpolate_conditioning(a, b, ratio, method)


@node("graphflow.interpolate.frames", version="1.0.0", title="Interpolate Frames (DDIM)", category="interpolate")
class InterpolateFrames:
    """Sample `frames` in-between images from two inverted noises and their prompts, ends included.

    Frame k interpolates the noises (`method`) and the prompts (`conditioning_method`) at
    k / (frames - 1) and samples back with DDIM. Use the steps, scheduler and cfg the noises were
    inverted with: the first and last frames then reconstruct the two inputs.
    """

    model = Input(MODEL)
    noise_a = Input(LATENT)
    noise_b = Input(LATENT)
    positive_a = Input(CONDITIONING)
    positive_b = Input(CONDITIONING)
    negative = Input(CONDITIONING, optional=True)
    frames = Input(INT, default=8, min=2, max=1024, budget="batch")
    steps = Input(INT, default=50, min=1, max=1000, budget="steps")
    cfg = Input(FLOAT, default=1.0, min=0.0, max=100.0, step=0.1)
    scheduler = Input(SCHEDULER, default="normal")
    method = Input(METHOD, default="slerp")
    conditioning_method = Input(METHOD, default="lerp")
    result = Output(LATENT)

    def run(
        self,
        ctx: Context,
        model: DiffusionModel,
        noise_a: Latent,
        noise_b: Latent,
        positive_a: Conditioning,
        positive_b: Conditioning,
        frames: int,
        steps: int,
        cfg: float,
        scheduler: str,
        method: str,
        conditioning_method: str,
        negative: Conditioning | None = None,
    ) -> Latent:
        _check_pair(noise_a, noise_b)
        positions = frame_positions(frames)
        outputs = []
        for frame, t in enumerate(positions):
            noisy = interpolate(noise_a.samples, noise_b.samples, t, method, LATENT_DIMS)
            positive = interpolate_conditioning(positive_a, positive_b, t, conditioning_method)

            def on_step(info: dict[str, Any], frame: int = frame) -> None:
                ctx.progress(frame * info["total"] + info["i"] + 1, len(positions) * info["total"])

            outputs.append(
                _cancellable(
                    ctx,
                    reconstruct,
                    model,
                    positive=positive,
                    negative=negative or (),
                    noisy=noisy,
                    steps=steps,
                    cfg=cfg,
                    scheduler=scheduler,
                    callback=on_step,
                )
            )
        return Latent(torch.cat(outputs))


@hookimpl
def register_nodes(register) -> None:
    """Provide the interpolation nodes."""
    for cls in (DdimInvert, InterpolateLatents, InterpolateConditioning, InterpolateFrames):
        register(cls)
