"""DDIM inversion: run deterministic DDIM (eta 0) backwards from a clean latent to its noise.

In the sigma view DDIM with eta 0 is the Euler method (graphflow's sampler "ddim"): one step from
x_k at sigma_k is x_{k+1} = x_k + (sigma_{k+1} - sigma_k) * eps(x_k, sigma_k), where
eps = (x - denoised) / sigma. Inversion walks the same sigmas from the last (0) to the first,
solving each step for x_k. Classic DDIM inversion approximates eps(x_k, sigma_k) by the model's
prediction at (x_{k+1}, sigma_k); `refine` fixed-point iterations then make the step an exact
inverse of the sampling step, so sampling back reproduces the latent much more closely.
The model's prediction type (epsilon or v) is handled by the denoiser through ModelSampling.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from graphflow.sampling.conditioning import Conditioning
from graphflow.sampling.denoiser import Denoise, cfg_denoiser
from graphflow.sampling.latent import Latent
from graphflow.sampling.model import DiffusionModel
from graphflow.sampling.sample import sample
from graphflow.sampling.schedules import get_sigmas
from graphflow.sampling.stepping import cancellable

SAMPLER = "ddim"
StepCallback = Callable[[dict[str, Any]], None]
"""Receives {x, i, sigma, total} after each inversion step (sigma = the level x has reached)."""


def inversion_sigmas(model: DiffusionModel, scheduler: str, steps: int) -> Tensor:
    """The sigmas a full-denoise DDIM run with these settings visits (the inversion walks them backwards)."""
    return get_sigmas(model.sampling, scheduler, steps, 1.0, SAMPLER)


def invert_steps(
    denoise: Denoise, latent: Tensor, sigmas: Tensor, refine: int = 0, callback: StepCallback | None = None
) -> Tensor:
    """Undo Euler (DDIM eta 0) sampling over decreasing `sigmas`: from `latent` at sigmas[-1] to sigmas[0].

    Each step starts from classic DDIM inversion and applies `refine` fixed-point corrections
    x_k <- x_{k+1} + (sigma_k - sigma_{k+1}) * eps(x_k, sigma_k).
    """
    if refine < 0:
        raise ValueError(f"refine must be 0 or more, got {refine}")
    x = latent
    ones = x.new_ones(x.shape[0])
    total = len(sigmas) - 1
    for i, k in enumerate(reversed(range(total))):
        sigma_from, sigma_to = sigmas[k + 1], sigmas[k]
        estimate = x
        for _ in range(refine + 1):
            eps = (estimate - denoise(estimate, sigma_to * ones)) / sigma_to
            estimate = x + (sigma_to - sigma_from) * eps
        x = estimate
        if callback is not None:
            callback({"x": x, "i": i, "sigma": sigma_to, "total": total})
    return x


def invert(
    model: DiffusionModel,
    *,
    positive: Conditioning,
    negative: Conditioning,
    latent: Latent,
    steps: int,
    cfg: float = 1.0,
    scheduler: str = "normal",
    refine: int = 0,
    callback: StepCallback | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> Tensor:
    """The noisy latent (at the schedule's first sigma) that DDIM sampling would turn into `latent`.

    Sample it back with `reconstruct` (or a sampler with add_noise off, sampler "ddim", the same
    steps, scheduler, cfg and prompts). Returns float32 CPU samples; a noise mask is ignored.
    """
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    channels = model.latent_format.channels
    if latent.samples.shape[1] != channels:
        raise ValueError(
            f"the latent has {latent.samples.shape[1]} channels but this {model.family} model works on "
            f"{channels}: encode the image with this model's VAE"
        )
    denoiser = cfg_denoiser(model, positive, negative, cfg)
    if cancelled is not None:
        denoiser = cancellable(denoiser, cancelled)
    sigmas = inversion_sigmas(model, scheduler, steps).to(model.device, torch.float32)
    with torch.no_grad(), model.active_unet():
        noisy = invert_steps(denoiser, latent.samples.float().to(model.device), sigmas, refine, callback)
    return noisy.float().cpu()


def reconstruct(
    model: DiffusionModel,
    *,
    positive: Conditioning,
    negative: Conditioning,
    noisy: Tensor,
    steps: int,
    cfg: float = 1.0,
    scheduler: str = "normal",
    callback: Callable[[dict[str, Any]], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> Tensor:
    """Sample a noisy latent from `invert` back to a clean one with DDIM (no noise added)."""
    return sample(
        model,
        positive=positive,
        negative=negative,
        latent=Latent(noisy),
        seed=0,
        steps=steps,
        cfg=cfg,
        sampler_name=SAMPLER,
        scheduler=scheduler,
        add_noise=False,
        callback=callback,
        cancelled=cancelled,
    )
