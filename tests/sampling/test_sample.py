"""sample(): KSampler and KSamplerAdvanced semantics end to end on a tiny random UNet."""

from __future__ import annotations

import pytest
import torch

from graphflow.sampling.latent import Latent
from graphflow.sampling.model import DiffusionModel
from graphflow.sampling.sample import SamplingCancelled, sample
from graphflow.sampling.samplers import SAMPLER_NAMES
from graphflow.sampling.schedules import SCHEDULER_NAMES, get_sigmas
from tests.sampling.helpers import text

POSITIVE, NEGATIVE = (text(1),), (text(2, tokens=154),)


def _latent(batch: int = 1, **fields) -> Latent:
    return Latent(torch.randn(batch, 4, 8, 8, generator=torch.Generator().manual_seed(3)), **fields)


def _run(model: DiffusionModel, **overrides) -> torch.Tensor:
    options = dict(
        positive=POSITIVE,
        negative=NEGATIVE,
        latent=_latent(),
        seed=11,
        steps=4,
        cfg=5.0,
        sampler_name="euler",
        scheduler="karras",
    )
    options.update(overrides)
    return sample(model, **options)


def test_every_sampler_runs_with_every_scheduler(model: DiffusionModel) -> None:
    empty = Latent(torch.zeros(1, 4, 8, 8))  # batch 1 keeps 144 runs fast
    for sampler_name in SAMPLER_NAMES:
        for scheduler in SCHEDULER_NAMES:
            out = _run(model, latent=empty, steps=2, sampler_name=sampler_name, scheduler=scheduler)
            assert out.shape == (1, 4, 8, 8) and out.dtype == torch.float32
            assert torch.isfinite(out).all(), (sampler_name, scheduler)


def test_same_seed_gives_the_same_result_and_another_seed_does_not(model: DiffusionModel) -> None:
    first = _run(model, sampler_name="euler_ancestral")
    assert torch.equal(first, _run(model, sampler_name="euler_ancestral"))
    assert not torch.allclose(first, _run(model, sampler_name="euler_ancestral", seed=12))


def test_denoise_zero_returns_the_latent_unchanged(model: DiffusionModel) -> None:
    latent = _latent()
    assert torch.equal(_run(model, latent=latent, denoise=0.0), latent.samples)


def test_partial_denoise_starts_from_the_noised_input(model: DiffusionModel) -> None:
    latent, seen = _latent(), []
    _run(model, latent=latent, denoise=0.5, callback=seen.append)
    first_sigma = get_sigmas(model.sampling, "karras", 4, 0.5)[0]
    noise = torch.randn((1, 4, 8, 8), generator=torch.Generator().manual_seed(11))
    assert len(seen) == 4 and seen[0]["total"] == 4
    assert float(seen[0]["sigma"]) == pytest.approx(float(first_sigma))
    assert torch.allclose(seen[0]["x"], latent.samples + noise * first_sigma, atol=1e-5)


def test_full_denoise_starts_from_variance_preserving_noise(model: DiffusionModel) -> None:
    seen: list[dict] = []
    _run(model, latent=Latent(torch.zeros(1, 4, 8, 8)), callback=seen.append)
    noise = torch.randn((1, 4, 8, 8), generator=torch.Generator().manual_seed(11))
    assert torch.allclose(seen[0]["x"], noise * (1 + model.sampling.sigma_max**2) ** 0.5, atol=1e-4)


def test_two_advanced_halves_equal_one_full_run(model: DiffusionModel) -> None:
    full = _run(model, steps=6)
    first = _run(model, steps=6, end_step=3, return_with_leftover_noise=True)
    second = _run(model, steps=6, start_step=3, add_noise=False, latent=Latent(first))
    assert torch.allclose(second, full, atol=1e-4)


def test_ending_early_without_leftover_noise_denoises_fully(model: DiffusionModel) -> None:
    seen: list[dict] = []
    out = _run(model, steps=6, end_step=3, callback=seen.append)
    assert len(seen) == 3
    assert torch.allclose(out, seen[-1]["denoised"], atol=1e-5)  # Euler to sigma 0 lands on the x0 estimate


def test_start_step_past_the_end_returns_the_latent(model: DiffusionModel) -> None:
    latent = _latent()
    assert torch.equal(_run(model, latent=latent, start_step=10), latent.samples)


def test_without_noise_the_run_is_seed_independent(model: DiffusionModel) -> None:
    assert torch.equal(_run(model, add_noise=False, seed=1), _run(model, add_noise=False, seed=2))


def test_inpainting_keeps_the_unmasked_region(model: DiffusionModel) -> None:
    mask = torch.zeros(1, 64, 64)
    mask[:, :, :32] = 1  # regenerate the left half of the image
    latent = _latent(noise_mask=mask)
    out = _run(model, latent=latent, sampler_name="dpmpp_2m")
    assert torch.allclose(out[..., 4:], latent.samples[..., 4:], atol=1e-5)
    assert not torch.allclose(out[..., :4], latent.samples[..., :4], atol=1e-2)


def test_cancel_stops_before_the_next_model_call(model: DiffusionModel) -> None:
    seen: list[dict] = []
    with pytest.raises(SamplingCancelled):
        _run(model, steps=8, callback=seen.append, cancelled=lambda: len(seen) >= 2)
    assert [info["i"] for info in seen] == [0, 1]


def test_unknown_sampler_error_lists_the_valid_names(model: DiffusionModel) -> None:
    with pytest.raises(ValueError, match=r"unknown sampler 'eular'.*euler_ancestral"):
        _run(model, sampler_name="eular")


def test_latent_with_other_channels_is_a_clear_error(model: DiffusionModel) -> None:
    with pytest.raises(ValueError, match="latent has 16 channels but this sd1 model works on 4"):
        _run(model, latent=Latent(torch.ones(1, 16, 8, 8)))


def test_empty_latent_with_other_channels_is_remade_for_the_model(model: DiffusionModel) -> None:
    assert _run(model, latent=Latent(torch.zeros(1, 16, 8, 8))).shape == (1, 4, 8, 8)


def test_batch_index_gives_each_item_its_noise_from_the_full_batch(model: DiffusionModel) -> None:
    zeros = torch.zeros(3, 4, 8, 8)
    full = _run(model, latent=Latent(zeros))
    third = _run(model, latent=Latent(zeros[:1], batch_index=[2]))
    assert torch.allclose(third[0], full[2], rtol=1e-4, atol=1e-3)  # batch size changes float round-off
