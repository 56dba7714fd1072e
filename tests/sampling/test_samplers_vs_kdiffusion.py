"""Each k-diffusion-style sampler against k-diffusion's own sampling.py on an exact denoiser (float64)."""

from __future__ import annotations

import types

import pytest
import torch

from graphflow.sampling.noise import BrownianTreeNoiseSampler
from graphflow.sampling.samplers import get_sampler
from graphflow.sampling.schedules import karras_sigmas
from tests.sampling.helpers import mixture_denoiser, normal_draws

# The oracle feeds float32 sigmas to torchsde, which warns about round-off at the interval ends.
pytestmark = pytest.mark.filterwarnings("ignore:Should have:UserWarning")

SHAPE = (2, 3, 4, 4)
DETERMINISTIC = ["euler", "heun", "dpm_2", "lms", "dpmpp_2m"]
STOCHASTIC = ["euler_ancestral", "dpm_2_ancestral", "dpmpp_2s_ancestral", "dpmpp_sde", "dpmpp_2m_sde", "dpmpp_3m_sde"]


def _start(sigmas: torch.Tensor) -> torch.Tensor:
    return torch.randn(SHAPE, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * sigmas[0]


def _sigmas(steps: int = 10) -> torch.Tensor:
    return karras_sigmas(steps, 0.0292, 14.6146).double()


def _oracle(kdiffusion: types.ModuleType, name: str):
    return getattr(kdiffusion, f"sample_{name}")


@pytest.mark.parametrize("name", DETERMINISTIC)
def test_deterministic_sampler_matches_k_diffusion(kdiffusion: types.ModuleType, name: str) -> None:
    sigmas = _sigmas()
    ours = get_sampler(name)(mixture_denoiser, _start(sigmas), sigmas)
    theirs = _oracle(kdiffusion, name)(mixture_denoiser, _start(sigmas), sigmas, disable=True)
    assert (ours - theirs).abs().max() <= 1e-4


@pytest.mark.parametrize("name", STOCHASTIC)
def test_stochastic_sampler_matches_k_diffusion_with_the_same_noise(kdiffusion: types.ModuleType, name: str) -> None:
    sigmas = _sigmas()
    ours = get_sampler(name)(mixture_denoiser, _start(sigmas), sigmas, noise_sampler=normal_draws(SHAPE, 7))
    theirs = _oracle(kdiffusion, name)(
        mixture_denoiser, _start(sigmas), sigmas, disable=True, noise_sampler=normal_draws(SHAPE, 7)
    )
    assert (ours - theirs).abs().max() <= 1e-4


@pytest.mark.parametrize("name", ["dpmpp_sde", "dpmpp_2m_sde", "dpmpp_3m_sde"])
def test_sde_sampler_with_brownian_tree_matches_k_diffusion(kdiffusion: types.ModuleType, name: str) -> None:
    sigmas = _sigmas(6)
    x = _start(sigmas)

    def tree() -> BrownianTreeNoiseSampler:
        return BrownianTreeNoiseSampler(x, float(sigmas[-2]), float(sigmas[0]), seed=3)

    ours = get_sampler(name)(mixture_denoiser, x, sigmas, noise_sampler=tree())
    theirs = _oracle(kdiffusion, name)(mixture_denoiser, x, sigmas, disable=True, noise_sampler=tree())
    assert (ours - theirs).abs().max() <= 1e-4


def test_brownian_tree_noise_equals_k_diffusions_for_the_same_seed(kdiffusion: types.ModuleType) -> None:
    x = torch.zeros(SHAPE)
    ours = BrownianTreeNoiseSampler(x, 0.03, 14.6, seed=5)
    theirs = kdiffusion.BrownianTreeNoiseSampler(x, torch.tensor(0.03), torch.tensor(14.6), seed=5)
    for sigma, sigma_next in [(14.6, 7.0), (7.0, 1.0), (1.0, 0.03)]:
        expected = theirs(torch.tensor(sigma), torch.tensor(sigma_next))
        assert torch.allclose(ours(torch.tensor(sigma), torch.tensor(sigma_next)), expected, atol=1e-5)


def test_samplers_with_eta_zero_match_k_diffusion(kdiffusion: types.ModuleType) -> None:
    sigmas = _sigmas(8)
    for name in ["euler_ancestral", "dpmpp_2s_ancestral", "dpmpp_2m_sde"]:
        noise = normal_draws(SHAPE, 2)
        ours = get_sampler(name)(mixture_denoiser, _start(sigmas), sigmas, eta=0.0, noise_sampler=noise)
        theirs = _oracle(kdiffusion, name)(
            mixture_denoiser, _start(sigmas), sigmas, disable=True, eta=0.0, noise_sampler=normal_draws(SHAPE, 2)
        )
        assert (ours - theirs).abs().max() <= 1e-4, name


def test_sampler_stops_at_a_nonzero_final_sigma_like_k_diffusion(kdiffusion: types.ModuleType) -> None:
    sigmas = _sigmas(8)[:-3]  # ends at a positive sigma: "return with leftover noise"
    for name in ["euler", "heun", "dpmpp_2m", "lms"]:
        ours = get_sampler(name)(mixture_denoiser, _start(sigmas), sigmas)
        theirs = _oracle(kdiffusion, name)(mixture_denoiser, _start(sigmas), sigmas, disable=True)
        assert (ours - theirs).abs().max() <= 1e-4, name
