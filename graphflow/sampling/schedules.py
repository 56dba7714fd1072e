"""Sigma schedules: each returns a float32 tensor of n + 1 decreasing sigmas ending in 0.

Formulas follow ComfyUI's comfy/samplers.py and k-diffusion, so a schedule name means the same here.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from graphflow.sampling.model import ModelSampling

Schedule = Callable[[ModelSampling, int], Tensor]

# Samplers that take one extra step and drop the penultimate sigma (ComfyUI's KSampler).
DISCARD_PENULTIMATE_SIGMA_SAMPLERS = frozenset({"dpm_2", "dpm_2_ancestral", "uni_pc", "uni_pc_bh2"})


def _with_zero(sigmas: Tensor) -> Tensor:
    return torch.cat([sigmas.float(), sigmas.new_zeros(1, dtype=torch.float32)])


def karras_sigmas(n: int, sigma_min: float, sigma_max: float, rho: float = 7.0) -> Tensor:
    """Karras et al. (2022): sigmas evenly spaced in sigma^(1/rho)."""
    ramp = torch.linspace(0, 1, n)
    low, high = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    return _with_zero((high + ramp * (low - high)) ** rho)


def exponential_sigmas(n: int, sigma_min: float, sigma_max: float) -> Tensor:
    """Sigmas evenly spaced in log-sigma."""
    return _with_zero(torch.linspace(math.log(sigma_max), math.log(sigma_min), n).exp())


def kl_optimal_sigmas(n: int, sigma_min: float, sigma_max: float) -> Tensor:
    """Align Your Steps' KL-optimal schedule: evenly spaced in arctan(sigma)."""
    ramp = torch.arange(n, dtype=torch.float32) / max(n - 1, 1)
    angles = ramp * math.atan(sigma_min) + (1 - ramp) * math.atan(sigma_max)
    return _with_zero(angles.tan())


def normal_sigmas(sampling: ModelSampling, steps: int) -> Tensor:
    """Timesteps evenly spaced from the last to the first training timestep (both included)."""
    start, end = sampling.timestep(sampling.sigma_max), sampling.timestep(sampling.sigma_min)
    if math.isclose(float(sampling.sigma(end)), 0, abs_tol=1e-5):
        return sampling.sigma(torch.linspace(float(start), float(end), steps + 1)).float()
    return _with_zero(sampling.sigma(torch.linspace(float(start), float(end), steps)))


def sgm_uniform_sigmas(sampling: ModelSampling, steps: int) -> Tensor:
    """Timesteps evenly spaced from the last training timestep, the first one excluded (SGM)."""
    start, end = sampling.timestep(sampling.sigma_max), sampling.timestep(sampling.sigma_min)
    return _with_zero(sampling.sigma(torch.linspace(float(start), float(end), steps + 1)[:-1]))


def simple_sigmas(sampling: ModelSampling, steps: int) -> Tensor:
    """Every (len/steps)-th sigma of the table, counted down from the largest."""
    stride = len(sampling.sigmas) / steps
    indices = [len(sampling.sigmas) - 1 - int(k * stride) for k in range(steps)]
    return _with_zero(sampling.sigmas[indices])


def ddim_uniform_sigmas(sampling: ModelSampling, steps: int) -> Tensor:
    """DDIM's uniform timesteps 1, 1 + s, 1 + 2s, ... with s = len // steps, reversed.

    As in ComfyUI, this gives more than `steps` steps when steps does not divide the table length.
    """
    table = sampling.sigmas
    if math.isclose(float(table[1]), 0, abs_tol=1e-5):
        stride = max(len(table) // (steps + 1), 1)
        return table[1::stride].flip(0).float()
    stride = max(len(table) // steps, 1)
    return _with_zero(table[1::stride].flip(0))


def beta_sigmas(sampling: ModelSampling, steps: int, alpha: float = 0.6, beta: float = 0.6) -> Tensor:
    """Timesteps at Beta(alpha, beta) quantiles (Lee et al. 2024), rounded, repeats dropped."""
    from scipy.stats import beta as beta_distribution  # scipy is only needed for this schedule

    last = len(sampling.sigmas) - 1
    quantiles = 1 - np.linspace(0, 1, steps, endpoint=False)
    timesteps = np.rint(beta_distribution.ppf(quantiles, alpha, beta) * last).astype(int)
    keep = [int(t) for k, t in enumerate(timesteps) if k == 0 or t != timesteps[k - 1]]
    return _with_zero(sampling.sigmas[keep])


def linear_quadratic_sigmas(
    sampling: ModelSampling, steps: int, threshold_noise: float = 0.025, linear_steps: int | None = None
) -> Tensor:
    """Mochi's schedule: linear noise growth to a threshold, then quadratic, scaled by sigma_max."""
    if steps == 1:
        return torch.tensor([1.0, 0.0]) * sampling.sigma_max
    linear_steps = steps // 2 if linear_steps is None else linear_steps
    quadratic_steps = steps - linear_steps
    linear_part = [k * threshold_noise / linear_steps for k in range(linear_steps)]
    step_diff = linear_steps - threshold_noise * steps
    quadratic_coef = step_diff / (linear_steps * quadratic_steps**2)
    linear_coef = threshold_noise / linear_steps - 2 * step_diff / quadratic_steps**2
    constant = quadratic_coef * linear_steps**2
    quadratic_part = [quadratic_coef * k**2 + linear_coef * k + constant for k in range(linear_steps, steps)]
    levels = torch.tensor([1.0 - v for v in linear_part + quadratic_part + [1.0]], dtype=torch.float32)
    return levels * sampling.sigma_max


def _range_schedule(function: Callable[[int, float, float], Tensor]) -> Schedule:
    return lambda sampling, steps: function(steps, sampling.sigma_min, sampling.sigma_max)


SCHEDULES: dict[str, Schedule] = {
    "simple": simple_sigmas,
    "sgm_uniform": sgm_uniform_sigmas,
    "karras": _range_schedule(karras_sigmas),
    "exponential": _range_schedule(exponential_sigmas),
    "ddim_uniform": ddim_uniform_sigmas,
    "beta": beta_sigmas,
    "normal": normal_sigmas,
    "linear_quadratic": linear_quadratic_sigmas,
    "kl_optimal": _range_schedule(kl_optimal_sigmas),
}
SCHEDULER_NAMES: list[str] = list(SCHEDULES)


def calculate_sigmas(sampling: ModelSampling, scheduler: str, steps: int) -> Tensor:
    """The full schedule `scheduler` with `steps` steps for this model."""
    if scheduler not in SCHEDULES:
        raise ValueError(f"unknown scheduler {scheduler!r}: choose one of {', '.join(SCHEDULER_NAMES)}")
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    return SCHEDULES[scheduler](sampling, steps)


def _sampler_sigmas(sampling: ModelSampling, scheduler: str, steps: int, sampler_name: str | None) -> Tensor:
    if sampler_name not in DISCARD_PENULTIMATE_SIGMA_SAMPLERS:
        return calculate_sigmas(sampling, scheduler, steps)
    sigmas = calculate_sigmas(sampling, scheduler, steps + 1)
    return torch.cat([sigmas[:-2], sigmas[-1:]])


def get_sigmas(
    sampling: ModelSampling, scheduler: str, steps: int, denoise: float = 1.0, sampler_name: str | None = None
) -> Tensor:
    """Sigmas for a KSampler run: `steps` steps, the last `denoise` fraction of a longer schedule.

    denoise < 1 computes int(steps / denoise) steps and keeps the last steps + 1 sigmas;
    denoise <= 0 gives an empty tensor (nothing to do). `sampler_name` applies ComfyUI's
    penultimate-sigma discard for dpm_2, dpm_2_ancestral, uni_pc and uni_pc_bh2.
    """
    if denoise > 0.9999:
        return _sampler_sigmas(sampling, scheduler, steps, sampler_name)
    if denoise <= 0.0:
        return torch.zeros(0)
    total = int(steps / denoise)
    return _sampler_sigmas(sampling, scheduler, total, sampler_name)[-(steps + 1) :]


def turbo_sigmas(sampling: ModelSampling, steps: int, denoise: float = 1.0) -> Tensor:
    """SD/SDXL Turbo's schedule (ComfyUI's SDTurboScheduler): training timesteps 999, 899, ..., 99, the first
    10 - int(10 * denoise) of them skipped, the next `steps` kept, then 0."""
    start = 10 - int(10 * denoise)
    timesteps = (torch.arange(10, 0, -1) * 100 - 1)[start : start + steps]
    return _with_zero(sampling.sigma(timesteps))


def split_sigmas(sigmas: Tensor, step: int) -> tuple[Tensor, Tensor]:
    """The schedule cut at `step`: sigmas 0..step and step..end, sharing sigma number `step`."""
    return sigmas[: step + 1], sigmas[step:]


def flip_sigmas(sigmas: Tensor) -> Tensor:
    """The schedule reversed (for inversion); a leading 0 becomes 0.0001 so the first step is defined."""
    flipped = sigmas.flip(0)
    if len(flipped) and flipped[0] == 0:
        flipped[0] = 0.0001
    return flipped
