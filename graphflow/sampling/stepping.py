"""Pieces shared by the samplers: the sampler and denoiser shapes, step helpers, cancellation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import torch
from torch import Tensor

Denoiser = Callable[..., Tensor]
"""model(x, sigma[B], **extra_args) -> denoised x0 estimate, like k-diffusion's wrapped models."""

# The largest sigma at which a flow model's half-log-SNR log((1 - sigma) / sigma) is finite enough to step with.
FLOW_SIGMA_BELOW_ONE = 0.9999

StepCallback = Callable[[dict[str, Any]], None]
"""Receives {x, i, sigma, sigma_hat, denoised} once per step."""


class SamplerFunction(Protocol):
    """sample_x(model, x, sigmas, extra_args=None, callback=None, disable=None, **options) -> x."""

    def __call__(
        self,
        model: Denoiser,
        x: Tensor,
        sigmas: Tensor,
        extra_args: dict[str, Any] | None = None,
        callback: StepCallback | None = None,
        disable: bool | None = None,
        **options: Any,
    ) -> Tensor: ...


class SamplingCancelled(Exception):
    """Raised between model evaluations when the run's cancel check says stop."""


def cancellable(model: Denoiser, cancelled: Callable[[], bool]) -> Denoiser:
    """Wrap a denoiser so each evaluation first asks `cancelled()` and raises SamplingCancelled if true."""

    def checked(x: Tensor, sigma: Tensor, **extra_args: Any) -> Tensor:
        if cancelled():
            raise SamplingCancelled("sampling was cancelled")
        return model(x, sigma, **extra_args)

    return checked


class Stepper:
    """Evaluates the model at one sigma for the whole batch and reports steps to the callback."""

    def __init__(self, model: Denoiser, x: Tensor, extra_args: dict[str, Any] | None, callback: StepCallback | None):
        self._model = model
        self._ones = x.new_ones([x.shape[0]])
        self._extra_args = extra_args or {}
        self._callback = callback

    def __call__(self, x: Tensor, sigma: Tensor) -> Tensor:
        """The model's x0 estimate at noise level sigma."""
        return self._model(x, sigma * self._ones, **self._extra_args)

    def report(self, i: int, x: Tensor, sigma: Tensor, denoised: Tensor, sigma_hat: Tensor | None = None) -> None:
        """Send one step's state to the callback, if any."""
        if self._callback is not None:
            hat = sigma if sigma_hat is None else sigma_hat
            self._callback({"x": x, "i": i, "sigma": sigma, "sigma_hat": hat, "denoised": denoised})


def to_d(x: Tensor, sigma: Tensor, denoised: Tensor) -> Tensor:
    """Probability-flow ODE derivative dx/dsigma from the x0 estimate."""
    return (x - denoised) / sigma


def ancestral_step(sigma_from: Tensor, sigma_to: Tensor, eta: float = 1.0) -> tuple[Tensor, Tensor]:
    """Split a step into a deterministic step down to sigma_down and fresh noise of size sigma_up."""
    if not eta:
        return sigma_to, torch.zeros_like(sigma_to)
    sigma_up = torch.minimum(sigma_to, eta * (sigma_to**2 * (sigma_from**2 - sigma_to**2) / sigma_from**2) ** 0.5)
    sigma_down = (sigma_to**2 - sigma_up**2) ** 0.5
    return sigma_down, sigma_up


def flow_ancestral_step(sigma_from: Tensor, sigma_to: Tensor, eta: float = 1.0) -> tuple[Tensor, Tensor, Tensor]:
    """The ancestral split on a flow model's straight path x = (1 - sigma) * x0 + sigma * noise (ComfyUI's RF
    samplers): step down to sigma_down, scale by (1 - sigma_to) / (1 - sigma_down), add noise of size sigma_up."""
    sigma_down = sigma_to * (1 + (sigma_to / sigma_from - 1) * eta)
    scale = (1 - sigma_to) / (1 - sigma_down)
    sigma_up = (sigma_to**2 - (sigma_down * scale) ** 2).clamp_min(0) ** 0.5
    return sigma_down, sigma_up, scale


def ancestral_split(sigma_from: Tensor, sigma_to: Tensor, eta: float, flow: bool) -> tuple[Tensor, Tensor, Tensor]:
    """(sigma_down, sigma_up, scale) of an ancestral step: x_next = scale * x(sigma_down) + sigma_up * noise."""
    if flow:
        return flow_ancestral_step(sigma_from, sigma_to, eta)
    sigma_down, sigma_up = ancestral_step(sigma_from, sigma_to, eta)
    return sigma_down, sigma_up, torch.ones_like(sigma_to)


def lambda_of(sigma: Tensor) -> Tensor:
    """Log signal-to-noise half-ratio used by DPM-Solver: -log(sigma) (inf at sigma 0)."""
    return -sigma.log()


def sigma_of(lam: Tensor) -> Tensor:
    """Inverse of lambda_of."""
    return (-lam).exp()


def log_midpoint(sigma: Tensor, sigma_to: Tensor, flow: bool) -> Tensor:
    """The sigma halfway from sigma to sigma_to in half-log-SNR: log(1/sigma), or log((1 - sigma)/sigma) on a flow
    model's path (from sigma 1, where that is -inf, the midpoint is 0.9999 as in ComfyUI's RF sampler)."""
    if not flow:
        return sigma_of((lambda_of(sigma) + lambda_of(sigma_to)) / 2)
    if sigma >= 1:
        return torch.full_like(sigma, FLOW_SIGMA_BELOW_ONE)
    return torch.sigmoid((torch.logit(sigma) + torch.logit(sigma_to)) / 2)
