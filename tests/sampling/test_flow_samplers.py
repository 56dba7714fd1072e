"""Every sampler on flow models, checked on an exact flow denoiser whose data is a Gaussian N(MU, TAU^2) per element.

The flow path is x = (1 - s) * x0 + s * noise, so E[x0 | x] has a closed form, and the probability-flow ODE from
pure noise z ends exactly at MU + TAU * z: deterministic samplers must land there, and stochastic ones must draw
from N(MU, TAU^2). A sampler that re-added noise as on k-diffusion's path x0 + s * noise lands far off the mean.
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from graphflow.sampling.conditioning import Conditioning
from graphflow.sampling.flow import FlowSampling
from graphflow.sampling.flow_samplers import sampler_for
from graphflow.sampling.latent import Latent
from graphflow.sampling.model import SD1_LATENT_FORMAT, DiffusionModel, ModelSampling
from graphflow.sampling.noise import BrownianTreeNoiseSampler, NoiseSampler, seeded_noise_sampler
from graphflow.sampling.sample import sample_sigmas
from graphflow.sampling.samplers import SAMPLERS, SamplerSpec, get_sampler_spec
from graphflow.sampling.schedules import get_sigmas
from graphflow.sampling.stepping import flow_ancestral_step

MU, TAU = 0.5, 1.0
SCHEDULERS = ("simple", "karras", "beta")
DETERMINISTIC = [name for name, spec in SAMPLERS.items() if spec.noise == "none"]
STOCHASTIC = [name for name, spec in SAMPLERS.items() if spec.noise != "none"]
FIRST_ORDER = {"euler", "ddim"}


def gaussian_flow_denoiser(x: Tensor, sigma: Tensor, **_: object) -> Tensor:
    """Exact E[x0 | (1 - sigma) * x0 + sigma * noise = x] for x0 ~ N(MU, TAU^2)."""
    sigma = sigma.reshape(-1, *([1] * (x.ndim - 1)))
    alpha = 1 - sigma
    return MU + alpha * TAU**2 / (alpha**2 * TAU**2 + sigma**2) * (x - alpha * MU)


def _pure_noise() -> Tensor:
    return torch.randn(1, 1, 64, 64, generator=torch.Generator().manual_seed(0))


def _noise_sampler(spec: SamplerSpec, x: Tensor, sigmas: Tensor) -> dict[str, NoiseSampler]:
    if spec.noise == "gaussian":
        return {"noise_sampler": seeded_noise_sampler(x, 1)}
    if spec.noise == "brownian":
        return {"noise_sampler": BrownianTreeNoiseSampler(x, float(sigmas[sigmas > 0].min()), 1.0, 1)}
    return {}


def _run(sampling: FlowSampling, name: str, scheduler: str, fitted: bool = True) -> Tensor:
    sigmas = get_sigmas(sampling, scheduler, 20, sampler_name=name)
    spec = get_sampler_spec(name)
    if fitted:
        spec = sampler_for(sampling, spec, sigmas)
    z = _pure_noise()
    return spec.function(gaussian_flow_denoiser, z.clone(), sigmas, **_noise_sampler(spec, z, sigmas))


@pytest.mark.parametrize("kind", ["sd3", "flux"])
@pytest.mark.parametrize("scheduler", SCHEDULERS)
@pytest.mark.parametrize("name", DETERMINISTIC)
def test_deterministic_samplers_follow_the_flow_to_the_exact_end(name: str, scheduler: str, kind: str) -> None:
    out = _run(FlowSampling(kind), name, scheduler)
    error = (out - (MU + TAU * _pure_noise())).abs().mean()
    assert error < (0.15 if name in FIRST_ORDER else 0.06)


@pytest.mark.parametrize("kind", ["sd3", "flux"])
@pytest.mark.parametrize("scheduler", SCHEDULERS)
@pytest.mark.parametrize("name", STOCHASTIC)
def test_stochastic_samplers_draw_from_the_data_distribution(name: str, scheduler: str, kind: str) -> None:
    out = _run(FlowSampling(kind), name, scheduler)
    assert abs(float(out.mean()) - MU) < 0.05
    if name != "lcm":  # LCM jumps to the x0 estimate each step: on a model that is no consistency model, too smooth
        assert 0.75 < float(out.std()) < 1.25


@pytest.mark.parametrize("name", STOCHASTIC)
def test_stochastic_samplers_run_as_on_a_k_diffusion_model_miss_the_mean(name: str) -> None:
    out = _run(FlowSampling("sd3"), name, "simple", fitted=False)
    assert abs(float(out.mean()) - MU) > 0.2


def test_flow_ancestral_step_keeps_the_paths_noise_level() -> None:
    sigma_down, sigma_up, scale = flow_ancestral_step(torch.tensor(0.8), torch.tensor(0.6))
    assert float(sigma_down) == pytest.approx(0.45)  # 0.6 * (1 + (0.6 / 0.8 - 1))
    assert float(scale) == pytest.approx(0.4 / 0.55)
    assert float((scale * sigma_down) ** 2 + sigma_up**2) == pytest.approx(0.36)


def test_flow_ancestral_step_without_eta_is_the_plain_step() -> None:
    sigma_down, sigma_up, scale = flow_ancestral_step(torch.tensor(0.8), torch.tensor(0.6), eta=0.0)
    assert (float(sigma_down), float(sigma_up), float(scale)) == pytest.approx((0.6, 0.0, 1.0))


def test_samplers_on_a_k_diffusion_model_are_left_as_they_are() -> None:
    sampling = ModelSampling.from_betas()
    sigmas = get_sigmas(sampling, "karras", 5)
    for spec in SAMPLERS.values():
        assert sampler_for(sampling, spec, sigmas) is spec


def test_callbacks_of_a_rewritten_sampler_see_the_flow_models_sigmas() -> None:
    sampling = FlowSampling("sd3")
    sigmas = get_sigmas(sampling, "simple", 4)
    seen: list[float] = []
    spec = sampler_for(sampling, get_sampler_spec("dpmpp_2m_sde"), sigmas)
    spec.function(
        gaussian_flow_denoiser, _pure_noise(), sigmas, callback=lambda info: seen.append(float(info["sigma"]))
    )
    assert seen == pytest.approx([0.9999, *sigmas[1:-1].tolist()], abs=1e-5)


def _flow_model() -> DiffusionModel:
    sampling = FlowSampling("sd3")
    return DiffusionModel(torch.nn.Identity(), sampling, "sd3", SD1_LATENT_FORMAT, torch.device("cpu"), torch.float32)


@pytest.mark.parametrize("sigmas", [[14.6, 3.0, 0.0], [1.0, 0.5, -0.1]])
def test_a_schedule_outside_zero_to_one_is_refused_before_the_first_step(sigmas: list[float]) -> None:
    conditioning: Conditioning = []
    with pytest.raises(ValueError, match=r"flow model's noise levels lie between 0 and 1.*Basic Scheduler"):
        sample_sigmas(
            _flow_model(),
            positive=conditioning,
            negative=conditioning,
            latent=Latent(torch.zeros(1, 4, 8, 8)),
            sigmas=torch.tensor(sigmas),
            sampler=get_sampler_spec("euler"),
            seed=0,
            cfg=1.0,
        )
