"""Samplers on flow models: the form each sampler takes there, and the check that a schedule fits the model.

A flow model's noisy latent is x = (1 - sigma) * x0 + sigma * noise. Its probability-flow ODE,
dx/dsigma = (x - x0) / sigma, is the very equation k-diffusion's samplers step, so the deterministic samplers
run as they are (as in ComfyUI). Samplers that add fresh noise must add it as the straight path wants:

- "rf": the ancestral samplers take ComfyUI's RF step (their `flow` option).
- "ve_view": the SDE samplers, DDPM and LCM run on the same path written as k-diffusion's: y = x / (1 - sigma)
  is x0 + s * noise with s = sigma / (1 - sigma), so the sampler steps y along the levels s with a model that
  maps back, and the result is mapped back too (what ComfyUI's CONST branches of its SDE samplers compute).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

from torch import Tensor

from graphflow.sampling.flow import FlowSampling
from graphflow.sampling.model import ModelSampling, per_sample
from graphflow.sampling.samplers import SamplerSpec
from graphflow.sampling.stepping import FLOW_SIGMA_BELOW_ONE, Denoiser, SamplerFunction, StepCallback

__all__ = ["in_ve_view", "sampler_for"]


def _flow_sigma(level: Tensor) -> Tensor:
    return level / (1 + level)


def in_ve_view(function: SamplerFunction) -> SamplerFunction:
    """`function` run on a flow model through y = x / (1 - sigma), s = sigma / (1 - sigma) (k-diffusion's path).

    Sigma 1 (pure noise, s infinite) is taken as 0.9999. The noise sampler is asked, and the callback told,
    in the flow model's own sigmas and latents.
    """

    @functools.wraps(function)
    def sample(
        model: Denoiser,
        x: Tensor,
        sigmas: Tensor,
        extra_args: dict[str, Any] | None = None,
        callback: StepCallback | None = None,
        disable: bool | None = None,
        **options: Any,
    ) -> Tensor:
        flow_sigmas = sigmas.clamp(max=FLOW_SIGMA_BELOW_ONE)
        levels = flow_sigmas / (1 - flow_sigmas)

        def ve_model(y: Tensor, level: Tensor, **extra: Any) -> Tensor:
            return model(y / (1 + per_sample(level, y)), _flow_sigma(level), **extra)

        noise_sampler = options.get("noise_sampler")
        if noise_sampler is not None:
            options["noise_sampler"] = lambda level, level_next: noise_sampler(
                _flow_sigma(level), _flow_sigma(level_next)
            )

        def ve_callback(info: dict[str, Any]) -> None:
            assert callback is not None
            flow_x = info["x"] / (1 + info["sigma"])
            callback(
                {**info, "x": flow_x, "sigma": _flow_sigma(info["sigma"]), "sigma_hat": _flow_sigma(info["sigma_hat"])}
            )

        y = x * (1 + levels[0])
        y = function(ve_model, y, levels, extra_args, ve_callback if callback else None, disable, **options)
        return y / (1 + levels[-1])

    return sample


def _check_sigmas_fit(sigmas: Tensor) -> None:
    lowest, highest = float(sigmas.min()), float(sigmas.max())
    if highest > 1 + 1e-5 or lowest < 0:
        raise ValueError(
            f"the sigmas run from {lowest:.4g} to {highest:.4g}, but a flow model's noise levels lie between 0 and 1 "
            "(1 is pure noise): make the schedule from this model (e.g. with Basic Scheduler)"
        )


def sampler_for(sampling: ModelSampling | FlowSampling, sampler: SamplerSpec, sigmas: Tensor) -> SamplerSpec:
    """The sampler in the form it runs on this model sampling; refuses sigmas a flow model has no meaning for."""
    if sampling.prediction_type != "flow":
        return sampler
    _check_sigmas_fit(sigmas)
    if sampler.on_flow == "rf":
        return dataclasses.replace(sampler, function=functools.partial(sampler.function, flow=True))
    if sampler.on_flow == "ve_view":
        return dataclasses.replace(sampler, function=in_ve_view(sampler.function))
    return sampler
