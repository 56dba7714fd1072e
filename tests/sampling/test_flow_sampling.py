"""FlowSampling: SD3's and Flux's shifted sigmas as ComfyUI and diffusers compute them, and every schedule on them."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from graphflow.sampling.flow import FlowSampling, flux_shift_for_size
from graphflow.sampling.schedules import SCHEDULER_NAMES, calculate_sigmas


def test_sd3_table_runs_from_the_shifted_first_time_to_pure_noise() -> None:
    sampling = FlowSampling("sd3")
    assert (sampling.shift, sampling.multiplier, len(sampling.sigmas)) == (3.0, 1000.0, 1000)
    assert sampling.sigma_min == pytest.approx(3 * 0.001 / (1 + 2 * 0.001))
    assert sampling.sigma_max == 1.0
    assert float(sampling.sigma(500.0)) == pytest.approx(0.75)  # 3 * 0.5 / (1 + 2 * 0.5)
    assert float(sampling.timestep(0.75)) == pytest.approx(750.0)  # ComfyUI: the model takes sigma * 1000


def test_flux_table_has_ten_thousand_times_and_takes_sigma_as_its_timestep() -> None:
    sampling = FlowSampling("flux")
    assert (sampling.shift, sampling.multiplier, len(sampling.sigmas)) == (1.15, 1.0, 10000)
    assert float(sampling.timestep(0.4)) == pytest.approx(0.4)
    e = math.exp(1.15)
    assert float(sampling.sigma(0.5)) == pytest.approx(e / (e + 1))
    assert sampling.sigma_min == pytest.approx(e / (e + 1 / 1e-4 - 1), rel=1e-4)


def test_flux_shift_grows_with_the_picture_size() -> None:
    assert flux_shift_for_size(1024, 1024) == pytest.approx(1.15)
    assert flux_shift_for_size(256, 256) == pytest.approx(0.5)
    assert flux_shift_for_size(512, 512) == pytest.approx(0.5 + 768 * 0.65 / 3840)
    assert flux_shift_for_size(1536, 1536) == pytest.approx(0.5 + (9216 - 256) * 0.65 / 3840)


def test_percent_to_sigma_goes_from_pure_noise_to_clean() -> None:
    sampling = FlowSampling("sd3")
    assert sampling.percent_to_sigma(0.0) == 1.0
    assert sampling.percent_to_sigma(1.0) == 0.0
    assert sampling.percent_to_sigma(0.5) == pytest.approx(0.75)


def test_with_shift_keeps_the_models_timestep_multiplier_across_kinds() -> None:
    flux = FlowSampling("flux")
    as_sd3 = flux.with_shift(2.0, kind="sd3")
    assert (as_sd3.kind, as_sd3.shift, as_sd3.multiplier, len(as_sd3.sigmas)) == ("sd3", 2.0, 1.0, 1000)
    reshifted = FlowSampling("sd3").with_shift(6.0)
    assert (reshifted.kind, reshifted.multiplier) == ("sd3", 1000.0)
    assert float(reshifted.sigma(500.0)) == pytest.approx(6 / 7)


def test_sd3_default_schedule_of_diffusers_is_the_normal_scheduler() -> None:
    """diffusers' FlowMatchEulerDiscreteScheduler(shift=3).set_timesteps(N) spaces times evenly from 1 to the
    table's shifted first sigma and shifts them again: exactly ComfyUI's (and graphflow's) `normal` scheduler,
    which spaces timestep(sigma) = sigma * 1000 evenly from sigma_max to sigma_min and maps them through sigma()."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0)
    scheduler.set_timesteps(20)
    assert torch.allclose(calculate_sigmas(FlowSampling("sd3"), "normal", 20), scheduler.sigmas, atol=1e-5)


def test_sd3_given_even_times_matches_diffusers_with_the_simple_scheduler() -> None:
    """Given the times 1, 1 - 1/N, ..., 1/N (what FluxPipeline passes as `sigmas`), diffusers shifts each one:
    graphflow's `simple` scheduler picks the same times from its table (N dividing the table size)."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0)
    scheduler.set_timesteps(sigmas=np.linspace(1.0, 1 / 20, 20))
    assert torch.allclose(calculate_sigmas(FlowSampling("sd3"), "simple", 20), scheduler.sigmas, atol=1e-5)


@pytest.mark.parametrize("size", [256, 512, 1024])
def test_flux_dynamic_shift_matches_diffusers_with_the_simple_scheduler(size: int) -> None:
    """FluxPipeline: sigmas linspace(1, 1/N, N) shifted exponentially with mu from the picture's token count; graphflow:
    FlowSampling("flux") at flux_shift_for_size(...) and the `simple` scheduler over its 10000-time table."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    mu = flux_shift_for_size(size, size)
    scheduler = FlowMatchEulerDiscreteScheduler(use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15)
    scheduler.set_timesteps(sigmas=np.linspace(1.0, 1 / 8, 8), mu=mu)
    ours = calculate_sigmas(FlowSampling("flux").with_shift(mu), "simple", 8)
    assert torch.allclose(ours, scheduler.sigmas, atol=1e-4)


@pytest.mark.parametrize("kind", ["sd3", "flux"])
@pytest.mark.parametrize("scheduler", SCHEDULER_NAMES)
def test_every_scheduler_goes_down_from_pure_noise_to_zero_on_a_flow_model(kind: str, scheduler: str) -> None:
    sigmas = calculate_sigmas(FlowSampling(kind), scheduler, 9)
    assert (sigmas[1:] < sigmas[:-1]).all()
    assert float(sigmas[-1]) == 0.0
    if scheduler == "ddim_uniform":  # as in ComfyUI: the table's last entry at a whole stride, short of pure noise
        assert 0.95 < float(sigmas[0]) < 1.0
    else:
        assert float(sigmas[0]) == pytest.approx(1.0, abs=1e-6)
