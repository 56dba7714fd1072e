"""Same seed, same picture: graphflow's noise, sigmas and U-Net timesteps against ComfyUI's formulas.

The oracles below are written from ComfyUI's published behaviour (comfy/sample.py prepare_noise,
comfy/samplers.py normal_scheduler / get_sigmas_karras / KSampler denoise, comfy/model_sampling.py
ModelSamplingDiscrete), independently of graphflow's code.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from graphflow.sampling.latent import Latent
from graphflow.sampling.model import ModelSampling
from graphflow.sampling.noise import prepare_noise
from graphflow.sampling.schedules import get_sigmas


def comfy_prepare_noise(latent: torch.Tensor, seed: int, noise_inds: list[int] | None = None) -> torch.Tensor:
    """ComfyUI: the global CPU generator seeded with `seed`; one draw per batch index up to the largest."""
    generator = torch.manual_seed(seed)
    if noise_inds is None:
        return torch.randn(latent.size(), dtype=latent.dtype, generator=generator, device="cpu")
    unique, inverse = np.unique(noise_inds, return_inverse=True)
    draws = [
        torch.randn([1, *latent.shape[1:]], dtype=latent.dtype, generator=generator) for _ in range(unique[-1] + 1)
    ]
    kept = [draws[i] for i in unique]
    return torch.cat([kept[i] for i in inverse])


def comfy_timestep(sampling: ModelSampling, sigma: torch.Tensor) -> torch.Tensor:
    """ComfyUI's ModelSamplingDiscrete.timestep: the index of the nearest log-sigma in the table."""
    return (sigma.log() - sampling.log_sigmas[:, None]).abs().argmin(dim=0).view(sigma.shape)


def comfy_sigma(sampling: ModelSampling, t: torch.Tensor) -> torch.Tensor:
    t = t.float().clamp(0, len(sampling.sigmas) - 1)
    low, high, w = t.floor().long(), t.ceil().long(), t.frac()
    return ((1 - w) * sampling.log_sigmas[low] + w * sampling.log_sigmas[high]).exp()


def comfy_normal(sampling: ModelSampling, steps: int) -> torch.Tensor:
    start = comfy_timestep(sampling, torch.tensor(sampling.sigma_max))
    end = comfy_timestep(sampling, torch.tensor(sampling.sigma_min))
    timesteps = torch.linspace(float(start), float(end), steps)
    return torch.cat([comfy_sigma(sampling, timesteps), torch.zeros(1)])


def comfy_karras(sampling: ModelSampling, steps: int, rho: float = 7.0) -> torch.Tensor:
    ramp = torch.linspace(0, 1, steps)
    low, high = sampling.sigma_min ** (1 / rho), sampling.sigma_max ** (1 / rho)
    return torch.cat([(high + ramp * (low - high)) ** rho, torch.zeros(1)])


def comfy_ksampler_sigmas(schedule, sampling: ModelSampling, steps: int, denoise: float) -> torch.Tensor:
    if denoise > 0.9999:
        return schedule(sampling, steps)
    return schedule(sampling, int(steps / denoise))[-(steps + 1) :]


SD = ModelSampling.from_betas("scaled_linear", 0.00085, 0.012, 1000)


@pytest.mark.parametrize("seed", [0, 42, 156680208700286])
def test_initial_noise_matches_comfyuis_prepare_noise(seed):
    latent = torch.zeros(2, 4, 8, 8)
    assert torch.equal(prepare_noise(Latent(latent), seed), comfy_prepare_noise(latent, seed))
    cut = torch.zeros(2, 4, 8, 8)
    assert torch.equal(prepare_noise(Latent(cut, batch_index=[3, 1]), seed), comfy_prepare_noise(cut, seed, [3, 1]))


@pytest.mark.parametrize(("scheduler", "oracle"), [("normal", comfy_normal), ("karras", comfy_karras)])
@pytest.mark.parametrize("denoise", [1.0, 0.6])
def test_sigmas_match_comfyuis_schedules_in_both_timestep_modes(scheduler, oracle, denoise):
    expected = comfy_ksampler_sigmas(oracle, SD, 20, denoise)
    for sampling in (SD, SD.with_discrete_timesteps()):
        torch.testing.assert_close(get_sigmas(sampling, scheduler, 20, denoise), expected, rtol=1e-5, atol=1e-6)


def test_discrete_timesteps_are_comfyuis_nearest_table_index():
    sigmas = get_sigmas(SD, "karras", 20)[:-1]
    discrete = SD.with_discrete_timesteps().timestep(sigmas)
    assert torch.equal(discrete, comfy_timestep(SD, sigmas).float())
    assert SD.discrete_timesteps is False  # the copy does not change the original


@pytest.mark.parametrize("scheduler", ["normal", "karras"])
def test_continuous_timesteps_differ_from_comfyuis_for_the_default_schedules(scheduler):
    """The documented difference: the U-Net sees fractional timesteps unless `timesteps` is "discrete"."""
    sigmas = get_sigmas(SD, scheduler, 20)[:-1]
    gap = (SD.timestep(sigmas) - comfy_timestep(SD, sigmas).float()).abs()
    assert 0.1 < float(gap.max()) <= 0.5 + 1e-3


def test_an_imported_workflow_feeds_the_unet_whole_timesteps(executor, monkeypatch):
    from diffusers import UNet2DConditionModel

    from graphflow.interop import load_any
    from tests.interop.conftest import example, overrides

    seen: list[torch.Tensor] = []
    forward = UNet2DConditionModel.forward

    def recording(self, sample, timestep, *args, **kwargs):
        seen.append(torch.as_tensor(timestep).detach().clone())
        return forward(self, sample, timestep, *args, **kwargs)

    monkeypatch.setattr(UNet2DConditionModel, "forward", recording)
    workflow = load_any(example("txt2img", "api"))
    for target, value in overrides("txt2img", "api").items():
        node, name = target.split(".")
        workflow.nodes[node].inputs[name] = value
    workflow.nodes["3"].inputs["scheduler"] = "karras"
    assert executor.run(workflow).status == "success"
    assert seen and all(torch.equal(t, t.round()) for t in seen)
    seen.clear()
    workflow.nodes["4"].inputs["timesteps"] = "continuous"  # graphflow's own default
    assert executor.run(workflow).status == "success"
    assert any(not torch.equal(t, t.round()) for t in seen)
