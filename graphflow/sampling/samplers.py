"""The sampler registry: names as ComfyUI spells them, each a function of one shape.

sample_x(model, x, sigmas, extra_args=None, callback=None, disable=None, **options) -> x, where
model(x, sigma[B], **extra_args) returns the x0 estimate. `disable` is accepted for k-diffusion
compatibility (graphflow reports progress through the callback only).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from graphflow.sampling.samplers_discrete import sample_ddpm, sample_lcm
from graphflow.sampling.samplers_dpmpp import (
    sample_dpmpp_2m,
    sample_dpmpp_2m_sde,
    sample_dpmpp_2s_ancestral,
    sample_dpmpp_3m_sde,
    sample_dpmpp_sde,
)
from graphflow.sampling.samplers_euler import (
    sample_dpm_2,
    sample_dpm_2_ancestral,
    sample_euler,
    sample_euler_ancestral,
    sample_heun,
    sample_lms,
)
from graphflow.sampling.stepping import SamplerFunction, SamplingCancelled, cancellable
from graphflow.sampling.unipc import sample_uni_pc, sample_uni_pc_bh2

NoiseKind = Literal["none", "gaussian", "brownian"]
FlowForm = Literal["ode", "rf", "ve_view"]

__all__ = ["SAMPLER_NAMES", "SamplerSpec", "SamplingCancelled", "cancellable", "get_sampler", "get_sampler_spec"]


@dataclass(frozen=True)
class SamplerSpec:
    """A sampler function, the noise it draws (none, per-step Gaussian, or a Brownian tree), and the form it takes
    on flow models (`flow_samplers.sampler_for`): as it is ("ode"), its RF step ("rf"), or in k-diffusion's view
    of the straight path ("ve_view")."""

    name: str
    function: SamplerFunction
    noise: NoiseKind
    on_flow: FlowForm


_SPECS = (
    SamplerSpec("euler", sample_euler, "none", "ode"),
    SamplerSpec("euler_ancestral", sample_euler_ancestral, "gaussian", "rf"),
    SamplerSpec("heun", sample_heun, "none", "ode"),
    SamplerSpec("dpm_2", sample_dpm_2, "none", "ode"),
    SamplerSpec("dpm_2_ancestral", sample_dpm_2_ancestral, "gaussian", "rf"),
    SamplerSpec("lms", sample_lms, "none", "ode"),
    SamplerSpec("dpmpp_2s_ancestral", sample_dpmpp_2s_ancestral, "gaussian", "rf"),
    SamplerSpec("dpmpp_sde", sample_dpmpp_sde, "brownian", "ve_view"),
    SamplerSpec("dpmpp_2m", sample_dpmpp_2m, "none", "ode"),
    SamplerSpec("dpmpp_2m_sde", sample_dpmpp_2m_sde, "brownian", "ve_view"),
    SamplerSpec("dpmpp_3m_sde", sample_dpmpp_3m_sde, "brownian", "ve_view"),
    SamplerSpec("ddpm", sample_ddpm, "gaussian", "ve_view"),
    SamplerSpec("lcm", sample_lcm, "gaussian", "ve_view"),
    # DDIM (eta 0) is the Euler method in the sigma view; ComfyUI maps it the same way.
    SamplerSpec("ddim", sample_euler, "none", "ode"),
    SamplerSpec("uni_pc", sample_uni_pc, "none", "ode"),
    SamplerSpec("uni_pc_bh2", sample_uni_pc_bh2, "none", "ode"),
)
SAMPLERS: dict[str, SamplerSpec] = {spec.name: spec for spec in _SPECS}
SAMPLER_NAMES: list[str] = list(SAMPLERS)


def get_sampler_spec(name: str) -> SamplerSpec:
    """The registry entry of a sampler; a clear error listing valid names for an unknown one."""
    try:
        return SAMPLERS[name]
    except KeyError:
        raise ValueError(f"unknown sampler {name!r}: choose one of {', '.join(SAMPLER_NAMES)}") from None


def get_sampler(name: str) -> SamplerFunction:
    """The sampler function called `name`."""
    return get_sampler_spec(name).function
