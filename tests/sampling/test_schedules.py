"""Sigma schedules against k-diffusion, diffusers and the published formulas."""

from __future__ import annotations

import types

import numpy as np
import pytest
import torch

from graphflow.sampling.model import ModelSampling
from graphflow.sampling.schedules import (
    SCHEDULER_NAMES,
    calculate_sigmas,
    exponential_sigmas,
    get_sigmas,
    karras_sigmas,
    kl_optimal_sigmas,
)

SD_BETAS = {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012}


def test_scheduler_names_follow_comfyui_order() -> None:
    assert SCHEDULER_NAMES == [
        "simple",
        "sgm_uniform",
        "karras",
        "exponential",
        "ddim_uniform",
        "beta",
        "normal",
        "linear_quadratic",
        "kl_optimal",
    ]


@pytest.mark.parametrize("name", SCHEDULER_NAMES)
@pytest.mark.parametrize("steps", [1, 2, 7, 30])
def test_every_schedule_has_steps_plus_one_decreasing_sigmas_ending_in_zero(
    sd_sampling: ModelSampling, name: str, steps: int
) -> None:
    sigmas = calculate_sigmas(sd_sampling, name, steps)
    assert sigmas.dtype == torch.float32
    assert sigmas[-1] == 0
    assert (sigmas[:-1] > 0).all() and (sigmas[1:] <= sigmas[:-1]).all()
    if name == "ddim_uniform":  # every (1000 // steps)-th timestep: extra steps when steps does not divide 1000
        assert len(sigmas) == len(range(1, 1000, 1000 // steps)) + 1
    elif name != "beta":  # beta drops repeated timesteps
        assert len(sigmas) == steps + 1
    assert float(sigmas[0]) <= sd_sampling.sigma_max * (1 + 1e-5)


def test_karras_and_exponential_match_k_diffusion(kdiffusion: types.ModuleType) -> None:
    for n in (1, 5, 20):
        assert torch.allclose(karras_sigmas(n, 0.0292, 14.6146), kdiffusion.get_sigmas_karras(n, 0.0292, 14.6146))
        expected = kdiffusion.get_sigmas_exponential(n, 0.0292, 14.6146)
        assert torch.allclose(exponential_sigmas(n, 0.0292, 14.6146), expected)


def _euler_scheduler_sigmas(steps: int, **options: object) -> torch.Tensor:
    from diffusers import EulerDiscreteScheduler

    scheduler = EulerDiscreteScheduler(**SD_BETAS, **options)
    scheduler.set_timesteps(steps)
    return scheduler.sigmas


def test_karras_matches_diffusers_karras_sigmas(sd_sampling: ModelSampling) -> None:
    expected = _euler_scheduler_sigmas(10, use_karras_sigmas=True)
    assert torch.allclose(calculate_sigmas(sd_sampling, "karras", 10), expected, rtol=1e-4)


def test_exponential_matches_diffusers_exponential_sigmas(sd_sampling: ModelSampling) -> None:
    expected = _euler_scheduler_sigmas(10, use_exponential_sigmas=True)
    assert torch.allclose(calculate_sigmas(sd_sampling, "exponential", 10), expected, rtol=1e-4)


def test_normal_matches_diffusers_linspace_spacing(sd_sampling: ModelSampling) -> None:
    expected = _euler_scheduler_sigmas(10, timestep_spacing="linspace")  # timesteps 999, 888, ..., 0
    assert torch.allclose(calculate_sigmas(sd_sampling, "normal", 10), expected, rtol=1e-4)


def test_simple_matches_diffusers_trailing_spacing(sd_sampling: ModelSampling) -> None:
    expected = _euler_scheduler_sigmas(10, timestep_spacing="trailing")  # timesteps 999, 899, ..., 99
    assert torch.allclose(calculate_sigmas(sd_sampling, "simple", 10), expected, rtol=1e-4)


def test_ddim_uniform_matches_diffusers_ddim_timesteps(sd_sampling: ModelSampling) -> None:
    from diffusers import DDIMScheduler

    scheduler = DDIMScheduler(**SD_BETAS, steps_offset=1)
    scheduler.set_timesteps(10)
    expected = torch.cat([sd_sampling.sigmas[scheduler.timesteps], torch.zeros(1)])
    assert torch.equal(calculate_sigmas(sd_sampling, "ddim_uniform", 10), expected)


def test_sgm_uniform_spaces_timesteps_evenly_and_skips_the_first(sd_sampling: ModelSampling) -> None:
    sigmas = calculate_sigmas(sd_sampling, "sgm_uniform", 4)
    expected = [float(sd_sampling.sigma(t)) for t in (999.0, 749.25, 499.5, 249.75)] + [0.0]
    assert torch.allclose(sigmas, torch.tensor(expected), rtol=1e-5)


def test_beta_schedule_uses_beta_quantiles_of_the_timesteps(sd_sampling: ModelSampling) -> None:
    from scipy.stats import beta

    quantiles = [1 - k / 5 for k in range(5)]
    timesteps = [round(beta.ppf(q, 0.6, 0.6) * 999) for q in quantiles]
    assert timesteps[0] == 999
    expected = torch.cat([sd_sampling.sigmas[timesteps], torch.zeros(1)])
    assert torch.equal(calculate_sigmas(sd_sampling, "beta", 5), expected)


def test_linear_quadratic_schedule_has_the_published_shape(sd_sampling: ModelSampling) -> None:
    levels = torch.tensor([1.0, 0.9875, 0.975, 0.725, 0.0])
    assert torch.allclose(calculate_sigmas(sd_sampling, "linear_quadratic", 4), levels * sd_sampling.sigma_max)


def test_kl_optimal_is_evenly_spaced_in_arctan_sigma() -> None:
    sigmas = kl_optimal_sigmas(5, 0.03, 14.6)
    angles = np.arctan(sigmas[:-1].numpy())
    assert np.allclose(np.diff(angles), (np.arctan(0.03) - np.arctan(14.6)) / 4, atol=1e-6)
    assert sigmas[0] == pytest.approx(14.6) and sigmas[-2] == pytest.approx(0.03)


def test_denoise_below_one_takes_the_tail_of_a_longer_schedule(sd_sampling: ModelSampling) -> None:
    sigmas = get_sigmas(sd_sampling, "karras", 10, denoise=0.4)
    assert torch.equal(sigmas, calculate_sigmas(sd_sampling, "karras", 25)[-11:])


def test_denoise_zero_gives_no_sigmas(sd_sampling: ModelSampling) -> None:
    assert get_sigmas(sd_sampling, "normal", 10, denoise=0.0).numel() == 0


@pytest.mark.parametrize("sampler_name", ["dpm_2", "dpm_2_ancestral", "uni_pc", "uni_pc_bh2"])
def test_some_samplers_drop_the_penultimate_sigma(sd_sampling: ModelSampling, sampler_name: str) -> None:
    longer = calculate_sigmas(sd_sampling, "karras", 11)
    sigmas = get_sigmas(sd_sampling, "karras", 10, sampler_name=sampler_name)
    assert len(sigmas) == 11
    assert torch.equal(sigmas, torch.cat([longer[:-2], longer[-1:]]))
    plain = get_sigmas(sd_sampling, "karras", 10, sampler_name="euler")
    assert torch.equal(plain, calculate_sigmas(sd_sampling, "karras", 10))


def test_unknown_scheduler_error_lists_the_valid_names(sd_sampling: ModelSampling) -> None:
    with pytest.raises(ValueError, match=r"unknown scheduler 'karas'.*karras"):
        get_sigmas(sd_sampling, "karas", 10)


def test_zero_steps_is_rejected(sd_sampling: ModelSampling) -> None:
    with pytest.raises(ValueError, match="steps must be at least 1"):
        get_sigmas(sd_sampling, "normal", 0)
