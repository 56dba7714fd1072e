"""Samplers built on the probability-flow ODE derivative: Euler, Heun, DPM-2 (+ ancestral), LMS.

Same update rules as k-diffusion's sampling.py (Karras et al. 2022); written for graphflow.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.polynomial import polynomial
from torch import Tensor

from graphflow.sampling.noise import NoiseSampler, seeded_noise_sampler
from graphflow.sampling.stepping import Denoiser, StepCallback, Stepper, ancestral_split, to_d


def sample_euler(
    model: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    extra_args: dict[str, Any] | None = None,
    callback: StepCallback | None = None,
    disable: bool | None = None,
) -> Tensor:
    """First-order Euler steps along the probability-flow ODE (also graphflow's "ddim")."""
    step = Stepper(model, x, extra_args, callback)
    for i in range(len(sigmas) - 1):
        denoised = step(x, sigmas[i])
        step.report(i, x, sigmas[i], denoised)
        x = x + to_d(x, sigmas[i], denoised) * (sigmas[i + 1] - sigmas[i])
    return x


def sample_euler_ancestral(
    model: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    extra_args: dict[str, Any] | None = None,
    callback: StepCallback | None = None,
    disable: bool | None = None,
    eta: float = 1.0,
    s_noise: float = 1.0,
    noise_sampler: NoiseSampler | None = None,
    seed: int | None = None,
    flow: bool = False,
) -> Tensor:
    """Euler step down to sigma_down, then fresh noise back up to the next sigma (`flow`: on a flow model's path)."""
    noise_sampler = noise_sampler or seeded_noise_sampler(x, seed)
    step = Stepper(model, x, extra_args, callback)
    for i in range(len(sigmas) - 1):
        denoised = step(x, sigmas[i])
        step.report(i, x, sigmas[i], denoised)
        sigma_down, sigma_up, scale = ancestral_split(sigmas[i], sigmas[i + 1], eta, flow)
        x = x + to_d(x, sigmas[i], denoised) * (sigma_down - sigmas[i])
        if sigmas[i + 1] > 0:
            x = scale * x + noise_sampler(sigmas[i], sigmas[i + 1]) * s_noise * sigma_up
    return x


def sample_heun(
    model: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    extra_args: dict[str, Any] | None = None,
    callback: StepCallback | None = None,
    disable: bool | None = None,
) -> Tensor:
    """Heun's second-order method (trapezoid rule); the last step to sigma 0 is plain Euler."""
    step = Stepper(model, x, extra_args, callback)
    for i in range(len(sigmas) - 1):
        denoised = step(x, sigmas[i])
        step.report(i, x, sigmas[i], denoised)
        d = to_d(x, sigmas[i], denoised)
        dt = sigmas[i + 1] - sigmas[i]
        if sigmas[i + 1] == 0:
            x = x + d * dt
            continue
        x_euler = x + d * dt
        d_next = to_d(x_euler, sigmas[i + 1], step(x_euler, sigmas[i + 1]))
        x = x + (d + d_next) / 2 * dt
    return x


def _dpm_2_step(step: Stepper, x: Tensor, sigma: Tensor, sigma_to: Tensor, d: Tensor) -> Tensor:
    """Midpoint step in log-sigma from sigma to sigma_to, given the derivative d at sigma."""
    sigma_mid = ((sigma.log() + sigma_to.log()) / 2).exp()
    x_mid = x + d * (sigma_mid - sigma)
    d_mid = to_d(x_mid, sigma_mid, step(x_mid, sigma_mid))
    return x + d_mid * (sigma_to - sigma)


def sample_dpm_2(
    model: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    extra_args: dict[str, Any] | None = None,
    callback: StepCallback | None = None,
    disable: bool | None = None,
) -> Tensor:
    """DPM-Solver-2 style midpoint steps (log-sigma midpoint); Euler for the step to sigma 0."""
    step = Stepper(model, x, extra_args, callback)
    for i in range(len(sigmas) - 1):
        denoised = step(x, sigmas[i])
        step.report(i, x, sigmas[i], denoised)
        d = to_d(x, sigmas[i], denoised)
        if sigmas[i + 1] == 0:
            x = x + d * (sigmas[i + 1] - sigmas[i])
        else:
            x = _dpm_2_step(step, x, sigmas[i], sigmas[i + 1], d)
    return x


def sample_dpm_2_ancestral(
    model: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    extra_args: dict[str, Any] | None = None,
    callback: StepCallback | None = None,
    disable: bool | None = None,
    eta: float = 1.0,
    s_noise: float = 1.0,
    noise_sampler: NoiseSampler | None = None,
    seed: int | None = None,
    flow: bool = False,
) -> Tensor:
    """DPM-2 midpoint step down to sigma_down, then fresh noise up to the next sigma (`flow`: on a flow path)."""
    noise_sampler = noise_sampler or seeded_noise_sampler(x, seed)
    step = Stepper(model, x, extra_args, callback)
    for i in range(len(sigmas) - 1):
        denoised = step(x, sigmas[i])
        step.report(i, x, sigmas[i], denoised)
        sigma_down, sigma_up, scale = ancestral_split(sigmas[i], sigmas[i + 1], eta, flow)
        d = to_d(x, sigmas[i], denoised)
        if sigma_down == 0:
            x = x + d * (sigma_down - sigmas[i])
        else:
            x = _dpm_2_step(step, x, sigmas[i], sigma_down, d)
            x = scale * x + noise_sampler(sigmas[i], sigmas[i + 1]) * s_noise * sigma_up
    return x


def lms_coefficients(sigmas: np.ndarray, i: int, order: int) -> list[float]:
    """Adams-Bashforth weights of the last `order` derivatives for the step sigmas[i] -> sigmas[i+1].

    Each weight integrates a Lagrange basis polynomial over the step exactly.
    """
    nodes = [sigmas[i - k] for k in range(order)]
    weights = []
    for j, node in enumerate(nodes):
        others = [other for k, other in enumerate(nodes) if k != j]
        basis = polynomial.polyfromroots(others) / np.prod([node - other for other in others])
        antiderivative = polynomial.polyint(basis)
        integral = polynomial.polyval(sigmas[i + 1], antiderivative) - polynomial.polyval(sigmas[i], antiderivative)
        weights.append(float(integral))
    return weights


def sample_lms(
    model: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    extra_args: dict[str, Any] | None = None,
    callback: StepCallback | None = None,
    disable: bool | None = None,
    order: int = 4,
) -> Tensor:
    """Linear multistep (Adams-Bashforth) on the ODE derivative, up to `order` past derivatives."""
    step = Stepper(model, x, extra_args, callback)
    sigma_values = sigmas.detach().cpu().double().numpy()
    derivatives: list[Tensor] = []
    for i in range(len(sigmas) - 1):
        denoised = step(x, sigmas[i])
        step.report(i, x, sigmas[i], denoised)
        derivatives = [to_d(x, sigmas[i], denoised), *derivatives][:order]
        weights = lms_coefficients(sigma_values, i, len(derivatives))
        x = x + sum(weight * d for weight, d in zip(weights, derivatives, strict=True))
    return x
