"""DPM-Solver++ family (Lu et al. 2022): 2S ancestral, SDE, 2M, 2M SDE and 3M SDE.

Exponential-integrator updates in lambda = -log(sigma), as in k-diffusion's sampling.py.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from graphflow.sampling.noise import BrownianTreeNoiseSampler, NoiseSampler, seeded_noise_sampler
from graphflow.sampling.stepping import (
    Denoiser,
    StepCallback,
    Stepper,
    ancestral_split,
    ancestral_step,
    lambda_of,
    log_midpoint,
    sigma_of,
    to_d,
)


def _brownian_default(noise_sampler: NoiseSampler | None, x: Tensor, sigmas: Tensor, seed: int | None) -> NoiseSampler:
    if noise_sampler is not None:
        return noise_sampler
    positive = sigmas[sigmas > 0]
    return BrownianTreeNoiseSampler(x, float(positive.min()), float(sigmas.max()), seed)


def _first_order(x: Tensor, sigma: Tensor, sigma_next: Tensor, denoised: Tensor) -> Tensor:
    """DPM-Solver++(1) step (= DDIM): exact for a constant x0 estimate; gives x0 at sigma_next 0."""
    h = lambda_of(sigma_next) - lambda_of(sigma)
    return (sigma_next / sigma) * x - (-h).expm1() * denoised


def sample_dpmpp_2s_ancestral(
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
    """Single-step second-order DPM-Solver++(2S) down to sigma_down, then ancestral noise (`flow`: on a flow
    model's path, whose first-order step is the same and whose midpoint is taken in its own log-SNR)."""
    noise_sampler = noise_sampler or seeded_noise_sampler(x, seed)
    step = Stepper(model, x, extra_args, callback)
    for i in range(len(sigmas) - 1):
        denoised = step(x, sigmas[i])
        step.report(i, x, sigmas[i], denoised)
        sigma_down, sigma_up, scale = ancestral_split(sigmas[i], sigmas[i + 1], eta, flow)
        if sigma_down == 0:
            x = x + to_d(x, sigmas[i], denoised) * (sigma_down - sigmas[i])
        else:
            sigma_mid = log_midpoint(sigmas[i], sigma_down, flow)
            x_mid = _first_order(x, sigmas[i], sigma_mid, denoised)
            x = _first_order(x, sigmas[i], sigma_down, step(x_mid, sigma_mid))
        if sigmas[i + 1] > 0:
            x = scale * x + noise_sampler(sigmas[i], sigmas[i + 1]) * s_noise * sigma_up
    return x


def sample_dpmpp_sde(
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
    r: float = 0.5,
) -> Tensor:
    """Stochastic DPM-Solver++ with an intermediate point at fraction r of the step (Brownian noise)."""
    noise_sampler = _brownian_default(noise_sampler, x, sigmas, seed)
    step = Stepper(model, x, extra_args, callback)
    for i in range(len(sigmas) - 1):
        denoised = step(x, sigmas[i])
        step.report(i, x, sigmas[i], denoised)
        if sigmas[i + 1] == 0:
            x = x + to_d(x, sigmas[i], denoised) * (sigmas[i + 1] - sigmas[i])
            continue
        lam, lam_next = lambda_of(sigmas[i]), lambda_of(sigmas[i + 1])
        sigma_mid = sigma_of(lam + r * (lam_next - lam))
        down, up = ancestral_step(sigmas[i], sigma_mid, eta)
        x_mid = _first_order(x, sigmas[i], down, denoised)
        x_mid = x_mid + noise_sampler(sigmas[i], sigma_mid) * s_noise * up
        denoised_mid = step(x_mid, sigma_mid)
        weight = 1 / (2 * r)
        down, up = ancestral_step(sigmas[i], sigmas[i + 1], eta)
        x = _first_order(x, sigmas[i], down, (1 - weight) * denoised + weight * denoised_mid)
        x = x + noise_sampler(sigmas[i], sigmas[i + 1]) * s_noise * up
    return x


def sample_dpmpp_2m(
    model: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    extra_args: dict[str, Any] | None = None,
    callback: StepCallback | None = None,
    disable: bool | None = None,
) -> Tensor:
    """Multistep second-order DPM-Solver++(2M): corrects the x0 estimate with the previous one."""
    step = Stepper(model, x, extra_args, callback)
    previous: Tensor | None = None
    for i in range(len(sigmas) - 1):
        denoised = step(x, sigmas[i])
        step.report(i, x, sigmas[i], denoised)
        estimate = denoised
        if previous is not None and sigmas[i + 1] != 0:
            h = lambda_of(sigmas[i + 1]) - lambda_of(sigmas[i])
            ratio = (lambda_of(sigmas[i]) - lambda_of(sigmas[i - 1])) / h
            estimate = (1 + 1 / (2 * ratio)) * denoised - (1 / (2 * ratio)) * previous
        x = _first_order(x, sigmas[i], sigmas[i + 1], estimate)
        previous = denoised
    return x


def sample_dpmpp_2m_sde(
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
    solver_type: str = "midpoint",
) -> Tensor:
    """Multistep second-order SDE solver; solver_type "midpoint" or "heun" for the correction term."""
    if solver_type not in ("midpoint", "heun"):
        raise ValueError(f"solver_type must be 'midpoint' or 'heun', got {solver_type!r}")
    noise_sampler = _brownian_default(noise_sampler, x, sigmas, seed)
    step = Stepper(model, x, extra_args, callback)
    previous: Tensor | None = None
    h_last: Tensor | None = None
    for i in range(len(sigmas) - 1):
        denoised = step(x, sigmas[i])
        step.report(i, x, sigmas[i], denoised)
        if sigmas[i + 1] == 0:
            x = denoised
        else:
            h = lambda_of(sigmas[i + 1]) - lambda_of(sigmas[i])
            eta_h = eta * h
            decay = (-h - eta_h).expm1().neg()
            x = sigmas[i + 1] / sigmas[i] * (-eta_h).exp() * x + decay * denoised
            if previous is not None and h_last is not None:
                slope = (denoised - previous) * (h / h_last)
                factor = 0.5 * decay if solver_type == "midpoint" else decay / (-h - eta_h) + 1
                x = x + factor * slope
            if eta:
                noise_scale = sigmas[i + 1] * (-2 * eta_h).expm1().neg().sqrt() * s_noise
                x = x + noise_sampler(sigmas[i], sigmas[i + 1]) * noise_scale
            h_last = h
        previous = denoised
    return x


def sample_dpmpp_3m_sde(
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
) -> Tensor:
    """Multistep third-order SDE solver using the last three x0 estimates."""
    noise_sampler = _brownian_default(noise_sampler, x, sigmas, seed)
    step = Stepper(model, x, extra_args, callback)
    history: list[tuple[Tensor, Tensor]] = []  # (x0 estimate, step size h that followed it), newest first
    for i in range(len(sigmas) - 1):
        denoised = step(x, sigmas[i])
        step.report(i, x, sigmas[i], denoised)
        if sigmas[i + 1] == 0:
            x = denoised
            continue
        h = lambda_of(sigmas[i + 1]) - lambda_of(sigmas[i])
        h_eta = h * (eta + 1)
        x = (-h_eta).exp() * x + (-h_eta).expm1().neg() * denoised
        phi_2 = (-h_eta).expm1() / h_eta + 1
        if len(history) >= 2:
            (d_1, h_1), (d_2, h_2) = history[0], history[1]
            r0, r1 = h_1 / h, h_2 / h
            slope_0 = (denoised - d_1) / r0
            slope_1 = (d_1 - d_2) / r1
            first = slope_0 + (slope_0 - slope_1) * r0 / (r0 + r1)
            second = (slope_0 - slope_1) / (r0 + r1)
            phi_3 = phi_2 / h_eta - 0.5
            x = x + phi_2 * first - phi_3 * second
        elif history:
            d_1, h_1 = history[0]
            x = x + phi_2 * (denoised - d_1) / (h_1 / h)
        if eta:
            noise_scale = sigmas[i + 1] * (-2 * h * eta).expm1().neg().sqrt() * s_noise
            x = x + noise_sampler(sigmas[i], sigmas[i + 1]) * noise_scale
        history = [(denoised, h), *history][:2]
    return x
