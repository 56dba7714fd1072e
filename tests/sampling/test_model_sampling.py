"""ModelSampling: the noise table, sigma <-> timestep, and epsilon / v output conversions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from graphflow.sampling.model import SD1_LATENT_FORMAT, SDXL_LATENT_FORMAT, LatentFormat, ModelSampling


def test_sd_noise_table_matches_diffusers_alphas_cumprod(sd_sampling: ModelSampling) -> None:
    from diffusers import DDPMScheduler

    scheduler = DDPMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)
    expected = ((1 - scheduler.alphas_cumprod) / scheduler.alphas_cumprod) ** 0.5
    assert torch.allclose(sd_sampling.sigmas, expected, rtol=1e-4)  # diffusers accumulates in float32
    assert sd_sampling.sigma_min == pytest.approx(0.0292, abs=1e-4)
    assert sd_sampling.sigma_max == pytest.approx(14.6146, abs=1e-4)


def test_from_scheduler_config_reads_a_diffusers_config() -> None:
    config = {"beta_schedule": "linear", "beta_start": 0.0001, "beta_end": 0.02, "prediction_type": "v_prediction"}
    sampling = ModelSampling.from_scheduler_config(config)
    assert sampling.prediction_type == "v_prediction"
    assert torch.allclose(sampling.sigmas, ModelSampling.from_betas("linear", 0.0001, 0.02).sigmas)


def test_unsupported_beta_schedule_is_named_in_the_error() -> None:
    with pytest.raises(ValueError, match="squaredcos_cap_v2"):
        ModelSampling.from_scheduler_config({"beta_schedule": "squaredcos_cap_v2"})


def test_unknown_prediction_type_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown prediction type 'flow'"):
        ModelSampling.from_betas(prediction_type="flow")


def test_timestep_interpolates_log_sigma_like_diffusers(sd_sampling: ModelSampling) -> None:
    from diffusers import EulerDiscreteScheduler

    sigmas = np.array([14.0, 3.3, 1.0, 0.5, 0.05])
    log_sigmas = np.log(sd_sampling.sigmas.double().numpy())
    expected = EulerDiscreteScheduler()._sigma_to_t(sigmas, log_sigmas)
    assert np.allclose(sd_sampling.timestep(torch.tensor(sigmas)).numpy(), expected, atol=1e-3)


def test_sigma_and_timestep_are_inverse(sd_sampling: ModelSampling) -> None:
    timesteps = torch.tensor([0.0, 10.5, 500.25, 998.9, 999.0])
    assert torch.allclose(sd_sampling.timestep(sd_sampling.sigma(timesteps)), timesteps, atol=1e-3)
    assert torch.allclose(sd_sampling.sigma(torch.tensor([7.0])), sd_sampling.sigmas[7:8], rtol=1e-6)


def test_timestep_clamps_sigmas_outside_the_table(sd_sampling: ModelSampling) -> None:
    assert sd_sampling.timestep(torch.tensor([0.0, 100.0])).tolist() == [0.0, 999.0]


def _sample(sigma: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(2, 4, 3, 3, generator=generator), torch.randn(2, 4, 3, 3, generator=generator)
    return x0, eps, x0 + sigma * eps


def test_epsilon_output_gives_back_the_clean_latent() -> None:
    sampling = ModelSampling.from_betas()
    x0, eps, x = _sample(2.5)
    assert torch.allclose(sampling.calculate_denoised(torch.tensor([2.5, 2.5]), eps, x), x0, atol=1e-5)


def test_v_prediction_output_gives_back_the_clean_latent() -> None:
    sampling = ModelSampling.from_betas(prediction_type="v_prediction")
    sigma = 2.5
    x0, eps, x = _sample(sigma)
    alpha, sigma_vp = (1 + sigma**2) ** -0.5, sigma * (1 + sigma**2) ** -0.5
    v = alpha * eps - sigma_vp * x0  # diffusers' definition on VP samples
    assert torch.allclose(sampling.calculate_denoised(sigma, v, x), x0, atol=1e-5)


def test_model_input_is_the_variance_preserving_sample() -> None:
    sampling = ModelSampling.from_betas()
    x = torch.ones(2, 1, 1, 1)
    scaled = sampling.calculate_input(torch.tensor([0.0, 3.0]), x)
    assert torch.allclose(scaled.flatten(), torch.tensor([1.0, 0.1**0.5]))


def test_noise_scaling_at_full_denoise_uses_the_variance_preserving_scale() -> None:
    sampling = ModelSampling.from_betas()
    noise, image = torch.ones(1, 1, 2, 2), torch.full((1, 1, 2, 2), 0.5)
    assert torch.allclose(sampling.noise_scaling(3.0, noise, image), torch.full_like(image, 3.5))
    full = sampling.noise_scaling(3.0, noise, image, max_denoise=True)
    assert torch.allclose(full, torch.full_like(image, 0.5 + 10**0.5))
    assert sampling.inverse_noise_scaling(0.0, image) is image


def test_latent_formats_carry_comfyui_scales() -> None:
    assert SD1_LATENT_FORMAT.scaling_factor == 0.18215 and SDXL_LATENT_FORMAT.scaling_factor == 0.13025
    assert SDXL_LATENT_FORMAT.latent_rgb_factors_bias == (0.1084, -0.0175, -0.0011)
    with pytest.raises(ValueError, match="one RGB row per latent channel"):
        LatentFormat(channels=3, scaling_factor=1.0, latent_rgb_factors=((1.0, 0.0, 0.0),))
