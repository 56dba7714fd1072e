"""UniPC (Zhao et al. 2023): multistep predictor (UniP) + corrector (UniC), B(h) variants bh1 and bh2.

Works in the k-diffusion sigma view with x0 estimates; step orders follow diffusers'
UniPCMultistepScheduler (order 3, lower order for warm-up and the final steps).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from torch import Tensor

from graphflow.sampling.stepping import Denoiser, StepCallback, Stepper

Variant = Literal["bh1", "bh2"]


def _lambda(sigma: float) -> float:
    return -math.log(sigma) if sigma > 0 else math.inf


def _uni_update(
    x: Tensor,
    sigma: float,
    sigma_next: float,
    estimate: Tensor,
    older: list[tuple[Tensor, float]],
    variant: Variant,
    estimate_next: Tensor | None = None,
) -> Tensor:
    """Step x from sigma to sigma_next with x0 `estimate` and `older` (x0, sigma) pairs, newest first.

    With `estimate_next` (the model's x0 at the predicted point) this is the corrector UniC,
    otherwise the predictor UniP.
    """
    h = _lambda(sigma_next) - _lambda(sigma)
    result = (sigma_next / sigma) * x - math.expm1(-h) * estimate
    order = len(older) + 1
    if order == 1 and estimate_next is None:
        return result
    ratios = [(_lambda(s) - _lambda(sigma)) / h for _, s in older] + [1.0]
    differences = [(m - estimate) / r for (m, _), r in zip(older, ratios[:-1], strict=True)]
    hh = -h
    b_h = hh if variant == "bh1" else math.expm1(hh)
    phi = math.expm1(hh) / hh - 1
    factorial = 1
    rows, rhs = [], []
    for k in range(1, order + 1):
        rows.append([r ** (k - 1) for r in ratios])
        rhs.append(phi * factorial / b_h)
        factorial *= k + 1
        phi = phi / hh - 1 / factorial
    matrix, vector = np.array(rows), np.array(rhs)
    if estimate_next is None:
        rhos = [0.5] if order == 2 else list(np.linalg.solve(matrix[:-1, :-1], vector[:-1]))
        residual = sum(float(rho) * d for rho, d in zip(rhos, differences, strict=True))
    else:
        rhos = [0.5] if order == 1 else list(np.linalg.solve(matrix, vector))
        residual = sum(float(rho) * d for rho, d in zip(rhos[:-1], differences, strict=True))
        residual = residual + float(rhos[-1]) * (estimate_next - estimate)
    return result - b_h * residual


def _sample_unipc(
    model: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    extra_args: dict[str, Any] | None,
    callback: StepCallback | None,
    variant: Variant,
    order: int,
) -> Tensor:
    step = Stepper(model, x, extra_args, callback)
    levels = [float(s) for s in sigmas]
    steps = len(levels) - 1
    history: list[tuple[Tensor, float]] = []  # (x0 estimate, sigma), newest first
    before_step: tuple[Tensor, int] | None = None  # x before the last predictor step, and its order
    for i in range(steps):
        denoised = step(x, sigmas[i])
        step.report(i, x, sigmas[i], denoised)
        if before_step is not None:
            x_last, last_order = before_step
            estimate, sigma = history[0]
            x = _uni_update(x_last, sigma, levels[i], estimate, history[1:last_order], variant, denoised)
        history = [(denoised, levels[i]), *history][:order]
        this_order = min(order, steps - i, len(history))
        before_step = (x, this_order)
        x = _uni_update(x, levels[i], levels[i + 1], denoised, history[1:this_order], variant)
    return x


def sample_uni_pc(
    model: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    extra_args: dict[str, Any] | None = None,
    callback: StepCallback | None = None,
    disable: bool | None = None,
    order: int = 3,
) -> Tensor:
    """UniPC with B(h) = h (bh1), as ComfyUI's "uni_pc"."""
    return _sample_unipc(model, x, sigmas, extra_args, callback, "bh1", order)


def sample_uni_pc_bh2(
    model: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    extra_args: dict[str, Any] | None = None,
    callback: StepCallback | None = None,
    disable: bool | None = None,
    order: int = 3,
) -> Tensor:
    """UniPC with B(h) = e^h - 1 (bh2), as ComfyUI's "uni_pc_bh2"."""
    return _sample_unipc(model, x, sigmas, extra_args, callback, "bh2", order)
