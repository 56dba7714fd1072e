"""Samplers that step like the discrete-time models' own schedulers: DDPM ancestral and LCM."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from graphflow.sampling.noise import NoiseSampler, seeded_noise_sampler
from graphflow.sampling.stepping import Denoiser, StepCallback, Stepper


def _ddpm_step(x: Tensor, sigma: Tensor, sigma_next: Tensor, denoised: Tensor, noise: Tensor) -> Tensor:
    """One DDPM posterior sample (Ho et al. 2020, variance "fixed_small") in the sigma view."""
    eps = (x - denoised) / sigma
    x_vp = x / (1 + sigma**2) ** 0.5
    alpha_bar, alpha_bar_next = 1 / (sigma**2 + 1), 1 / (sigma_next**2 + 1)
    alpha = alpha_bar / alpha_bar_next
    mean = (x_vp - (1 - alpha) * eps / (1 - alpha_bar) ** 0.5) / alpha**0.5
    if sigma_next == 0:
        return mean
    std = ((1 - alpha) * (1 - alpha_bar_next) / (1 - alpha_bar)) ** 0.5
    return (mean + std * noise) * (1 + sigma_next**2) ** 0.5


def sample_ddpm(
    model: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    extra_args: dict[str, Any] | None = None,
    callback: StepCallback | None = None,
    disable: bool | None = None,
    noise_sampler: NoiseSampler | None = None,
    seed: int | None = None,
) -> Tensor:
    """Ancestral DDPM sampling between the given sigmas (matches diffusers' DDPMScheduler)."""
    noise_sampler = noise_sampler or seeded_noise_sampler(x, seed)
    step = Stepper(model, x, extra_args, callback)
    for i in range(len(sigmas) - 1):
        denoised = step(x, sigmas[i])
        step.report(i, x, sigmas[i], denoised)
        noise = noise_sampler(sigmas[i], sigmas[i + 1]) if sigmas[i + 1] > 0 else x.new_zeros(())
        x = _ddpm_step(x, sigmas[i], sigmas[i + 1], denoised, noise)
    return x


def sample_lcm(
    model: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    extra_args: dict[str, Any] | None = None,
    callback: StepCallback | None = None,
    disable: bool | None = None,
    noise_sampler: NoiseSampler | None = None,
    seed: int | None = None,
) -> Tensor:
    """Latent-consistency sampling: jump to the x0 estimate, then re-noise to the next sigma."""
    noise_sampler = noise_sampler or seeded_noise_sampler(x, seed)
    step = Stepper(model, x, extra_args, callback)
    for i in range(len(sigmas) - 1):
        denoised = step(x, sigmas[i])
        step.report(i, x, sigmas[i], denoised)
        x = denoised
        if sigmas[i + 1] > 0:
            x = x + noise_sampler(sigmas[i], sigmas[i + 1]) * sigmas[i + 1]
    return x
