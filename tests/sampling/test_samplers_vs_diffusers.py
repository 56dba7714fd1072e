"""ddim, ddpm, lcm and UniPC against the matching diffusers schedulers on an exact denoiser (float64).

diffusers steps VP-scaled samples x / sqrt(1 + sigma^2) and calls the model with epsilon; the
wrapper below converts to and from the sigma view, and both sides draw the same noise.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import Tensor

from graphflow.sampling.samplers import get_sampler
from graphflow.sampling.schedules import ddim_uniform_sigmas
from tests.sampling.helpers import mixture_denoiser, normal_draws

SHAPE = (2, 3, 4, 4)
SD_BETAS = {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012, "num_train_timesteps": 1000}


def _noise(seed: int = 1) -> Tensor:
    return torch.randn(SHAPE, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _run_diffusers(scheduler, sigma_at: Callable[[int, Tensor], float], x_vp: Tensor, **step_kwargs) -> Tensor:
    """Sample with a diffusers scheduler; sigma_at(index, timestep) gives the sigma of each step."""
    for index, t in enumerate(scheduler.timesteps):
        sigma = sigma_at(index, t)
        x = x_vp * (1 + sigma**2) ** 0.5
        eps = (x - mixture_denoiser(x, torch.tensor([sigma], dtype=torch.float64))) / sigma
        x_vp = scheduler.step(eps, t, x_vp, **step_kwargs).prev_sample
    return x_vp


def _table_sigma(scheduler) -> Callable[[int, Tensor], float]:
    alphas = scheduler.alphas_cumprod.double()
    return lambda index, t: float(((1 - alphas[int(t)]) / alphas[int(t)]) ** 0.5)


def test_ddim_matches_diffusers_ddim_scheduler(sd_sampling) -> None:
    from diffusers import DDIMScheduler

    scheduler = DDIMScheduler(**SD_BETAS, clip_sample=False, set_alpha_to_one=True, steps_offset=1)
    scheduler.set_timesteps(10)
    sigmas = ddim_uniform_sigmas(sd_sampling, 10).double()
    expected = _run_diffusers(scheduler, _table_sigma(scheduler), _noise())
    ours = get_sampler("ddim")(mixture_denoiser, _noise() * (1 + sigmas[0] ** 2) ** 0.5, sigmas)
    assert (ours - expected).abs().max() <= 1e-4


def test_ddpm_matches_diffusers_ddpm_scheduler_with_the_same_noise(sd_sampling) -> None:
    from diffusers import DDPMScheduler

    timesteps = [999, 850, 700, 500, 300, 150, 60, 0]
    scheduler = DDPMScheduler(**SD_BETAS, clip_sample=False, variance_type="fixed_small")
    scheduler.set_timesteps(timesteps=timesteps)
    expected = _run_diffusers(scheduler, _table_sigma(scheduler), _noise(), generator=torch.Generator().manual_seed(9))
    sigmas = torch.cat([sd_sampling.sigmas[timesteps].double(), torch.zeros(1, dtype=torch.float64)])
    ours = get_sampler("ddpm")(
        mixture_denoiser, _noise() * (1 + sigmas[0] ** 2) ** 0.5, sigmas, noise_sampler=normal_draws(SHAPE, 9)
    )
    assert (ours - expected).abs().max() <= 1e-4


def test_lcm_matches_diffusers_lcm_scheduler_with_the_same_noise(sd_sampling) -> None:
    from diffusers import LCMScheduler

    timesteps = [999, 759, 499, 259]
    scheduler = LCMScheduler(**SD_BETAS, original_inference_steps=50)
    scheduler.set_timesteps(timesteps=timesteps)
    expected = _run_diffusers(scheduler, _table_sigma(scheduler), _noise(), generator=torch.Generator().manual_seed(4))
    sigmas = torch.cat([sd_sampling.sigmas[timesteps].double(), torch.zeros(1, dtype=torch.float64)])
    ours = get_sampler("lcm")(
        mixture_denoiser, _noise() * (1 + sigmas[0] ** 2) ** 0.5, sigmas, noise_sampler=normal_draws(SHAPE, 4)
    )
    assert (ours - expected).abs().max() <= 1e-4


# diffusers' bh1 update turns into NaN on a final sigma of 0 (B(h) = -inf times 0), so bh1 is
# compared on schedules ending at sigma_min; graphflow's bh1 takes a plain x0 step there instead.
@pytest.mark.parametrize(
    ("name", "solver_type", "final"),
    [("uni_pc", "bh1", "sigma_min"), ("uni_pc_bh2", "bh2", "zero"), ("uni_pc_bh2", "bh2", "sigma_min")],
)
@pytest.mark.parametrize("steps", [2, 3, 8, 15])
def test_unipc_matches_diffusers_unipc_scheduler(name: str, solver_type: str, final: str, steps: int) -> None:
    from diffusers import UniPCMultistepScheduler

    scheduler = UniPCMultistepScheduler(
        **SD_BETAS, solver_order=3, solver_type=solver_type, use_karras_sigmas=True, final_sigmas_type=final
    )
    scheduler.set_timesteps(steps)
    sigmas = scheduler.sigmas.double()
    expected = _run_diffusers(scheduler, lambda index, t: float(sigmas[index]), _noise())
    ours = get_sampler(name)(mixture_denoiser, _noise() * (1 + sigmas[0] ** 2) ** 0.5, sigmas)
    assert (ours - expected * (1 + sigmas[-1] ** 2) ** 0.5).abs().max() <= 1e-4


def test_unipc_bh1_reaches_the_x0_estimate_at_sigma_zero(sd_sampling) -> None:
    sigmas = ddim_uniform_sigmas(sd_sampling, 6).double()
    calls: list[Tensor] = []
    ours = get_sampler("uni_pc")(
        mixture_denoiser, _noise() * sigmas[0], sigmas, callback=lambda info: calls.append(info["denoised"])
    )
    assert torch.isfinite(ours).all()
    assert torch.equal(ours, calls[-1])
