"""The custom sampler path: Custom Sampler matches KSampler bit for bit, ComfyUI's schedules, split and flip."""

from pathlib import Path

import pytest
import torch

from graphflow.cache import ModelCache
from graphflow.context import Context
from graphflow.nodes import sampler as ksampler
from graphflow.nodes import sampler_custom as custom
from graphflow.sampling.latent import Latent
from graphflow.sampling.model import DiffusionModel
from tests.nodes.conftest import link, run_graph
from tests.running import context_for, settings_under
from tests.sampling.helpers import text, tiny_model

CTX = context_for(Path("test-run"))
POSITIVE, NEGATIVE = (text(1),), (text(2, tokens=154),)


@pytest.fixture(scope="module")
def model() -> DiffusionModel:
    return tiny_model()


def latent(**fields) -> Latent:
    return Latent(torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(3)), **fields)


def run_custom(model: DiffusionModel, sigmas: torch.Tensor, sampler_name: str, **options) -> custom.CustomSampled:
    settings = {"add_noise": True, "noise_seed": 7, "cfg": 4.0, "latent": latent(), **options}
    return custom.CustomSampler().run(
        CTX,
        model=model,
        positive=POSITIVE,
        negative=NEGATIVE,
        sampler=custom.SelectSampler().run(CTX, sampler_name=sampler_name),
        sigmas=sigmas,
        **settings,
    )


@pytest.mark.parametrize(
    ("sampler_name", "scheduler", "denoise"),
    [
        ("euler", "normal", 1.0),
        ("euler_ancestral", "karras", 1.0),
        ("dpmpp_2m_sde", "exponential", 1.0),
        ("dpmpp_2m", "simple", 0.6),
        ("lcm", "sgm_uniform", 1.0),
    ],
)
def test_custom_sampler_with_basic_scheduler_is_ksampler_bit_for_bit(model, sampler_name, scheduler, denoise):
    sigmas = custom.BasicScheduler().run(CTX, model=model, scheduler=scheduler, steps=4, denoise=denoise)
    out = run_custom(model, sigmas, sampler_name)
    expected = ksampler.Sampler().run(
        CTX,
        model=model,
        positive=POSITIVE,
        negative=NEGATIVE,
        latent=latent(),
        seed=7,
        steps=4,
        cfg=4.0,
        sampler_name=sampler_name,
        scheduler=scheduler,
        denoise=denoise,
    )
    assert torch.equal(out.output.samples, expected.samples)


def test_custom_sampler_inpaints_like_ksampler_and_keeps_the_noise_mask(model):
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., 4:] = 1.0
    sigmas = custom.BasicScheduler().run(CTX, model=model, scheduler="karras", steps=3, denoise=1.0)
    out = run_custom(model, sigmas, "euler_ancestral", latent=latent(noise_mask=mask))
    expected = ksampler.Sampler().run(
        CTX,
        model=model,
        positive=POSITIVE,
        negative=NEGATIVE,
        latent=latent(noise_mask=mask),
        seed=7,
        steps=3,
        cfg=4.0,
        sampler_name="euler_ancestral",
        scheduler="karras",
        denoise=1.0,
    )
    assert torch.equal(out.output.samples, expected.samples)
    assert out.output.noise_mask is mask and out.denoised_output.noise_mask is mask


def test_without_added_noise_it_is_ksampler_advanced_without_noise(model):
    sigmas = custom.BasicScheduler().run(CTX, model=model, scheduler="normal", steps=4, denoise=1.0)
    _, low = custom.SplitSigmas().run(CTX, sigmas=sigmas, step=2)
    out = run_custom(model, low, "euler", add_noise=False)
    expected = ksampler.SamplerAdvanced().run(
        CTX,
        model=model,
        positive=POSITIVE,
        negative=NEGATIVE,
        latent=latent(),
        add_noise=False,
        noise_seed=7,
        steps=4,
        cfg=4.0,
        sampler_name="euler",
        scheduler="normal",
        start_at_step=2,
        end_at_step=10000,
        return_with_leftover_noise=False,
    )
    assert torch.equal(out.output.samples, expected.samples)


def test_denoised_output_is_the_last_x0_estimate(model):
    seen: list[int] = []
    ctx = Context(
        "n", "test", settings_under(Path("test-run")), ModelCache(), {}, progress=lambda n, step, *_: seen.append(step)
    )
    sigmas = custom.BasicScheduler().run(CTX, model=model, scheduler="karras", steps=3, denoise=1.0)
    high, _ = custom.SplitSigmas().run(CTX, sigmas=sigmas, step=2)
    out = custom.CustomSampler().run(
        ctx,
        model=model,
        add_noise=True,
        noise_seed=7,
        cfg=4.0,
        positive=POSITIVE,
        negative=NEGATIVE,
        sampler=custom.SelectSampler().run(CTX, sampler_name="euler"),
        sigmas=high,
        latent=latent(),
    )
    assert seen == [1, 2]
    # one Euler step from the last sigma to 0 lands on the x0 estimate; a step to sigma > 0 does not
    last = custom.CustomSampler().run(
        ctx,
        model=model,
        add_noise=False,
        noise_seed=7,
        cfg=4.0,
        positive=POSITIVE,
        negative=NEGATIVE,
        sampler=custom.SelectSampler().run(CTX, sampler_name="euler"),
        sigmas=torch.stack([high[-1], torch.tensor(0.0)]),
        latent=out.output,
    )
    assert torch.allclose(last.output.samples, last.denoised_output.samples)
    assert not torch.allclose(out.output.samples, out.denoised_output.samples)


def test_an_empty_schedule_returns_the_latent_as_both_outputs(model):
    empty = custom.BasicScheduler().run(CTX, model=model, scheduler="normal", steps=4, denoise=0.0)
    assert empty.numel() == 0
    out = run_custom(model, empty, "euler")
    assert torch.equal(out.output.samples, latent().samples) and out.denoised_output is out.output


@pytest.mark.parametrize(
    ("steps", "denoise", "timesteps"),
    [(1, 1.0, [999]), (4, 1.0, [999, 899, 799, 699]), (2, 0.5, [499, 399]), (10, 0.3, [299, 199, 99]), (1, 0.0, [])],
)
def test_turbo_scheduler_uses_timesteps_999_down_in_hundreds(model, steps, denoise, timesteps):
    sigmas = custom.TurboScheduler().run(CTX, model=model, steps=steps, denoise=denoise)
    expected = model.sampling.sigmas[timesteps] if timesteps else torch.zeros(0)
    assert sigmas.shape == (len(timesteps) + 1,) and sigmas[-1] == 0
    assert torch.allclose(sigmas[:-1], expected, rtol=1e-6)


def test_split_shares_the_cut_sigma_and_flip_reverses_without_a_leading_zero():
    sigmas = torch.tensor([3.0, 2.0, 1.0, 0.0])
    high, low = custom.SplitSigmas().run(CTX, sigmas=sigmas, step=1)
    assert high.tolist() == [3.0, 2.0] and low.tolist() == [2.0, 1.0, 0.0]
    flipped = custom.FlipSigmas().run(CTX, sigmas=sigmas)
    assert flipped.tolist() == pytest.approx([0.0001, 1.0, 2.0, 3.0]) and sigmas[-1] == 0
    assert custom.FlipSigmas().run(CTX, sigmas=torch.zeros(0)).numel() == 0


def test_a_turbo_workflow_runs_through_the_executor_like_ksampler(executor):
    nodes = {
        "checkpoint": {"type": "graphflow.loaders.checkpoint", "inputs": {"checkpoint": "tiny-sd1.safetensors"}},
        "prompt": {
            "type": "graphflow.conditioning.encode",
            "inputs": {"text": "a cat"},
            "links": {"clip": link("checkpoint", "clip")},
        },
        "negative": {
            "type": "graphflow.conditioning.encode",
            "inputs": {"text": ""},
            "links": {"clip": link("checkpoint", "clip")},
        },
        "latent": {"type": "graphflow.latent.empty", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "select": {"type": "graphflow.sampling.select_sampler", "inputs": {"sampler_name": "euler_ancestral"}},
        "schedule": {
            "type": "graphflow.sampling.basic_scheduler",
            "inputs": {"scheduler": "karras", "steps": 3, "denoise": 1.0},
            "links": {"model": link("checkpoint", "model")},
        },
        "custom": {
            "type": "graphflow.sampling.custom",
            "inputs": {"add_noise": True, "noise_seed": 5, "cfg": 2.0},
            "links": {
                "model": link("checkpoint", "model"),
                "positive": link("prompt", "conditioning"),
                "negative": link("negative", "conditioning"),
                "sampler": link("select", "sampler"),
                "sigmas": link("schedule", "sigmas"),
                "latent": link("latent", "latent"),
            },
        },
        "ksampler": {
            "type": "graphflow.sampling.sample",
            "inputs": {"seed": 5, "steps": 3, "cfg": 2.0, "sampler_name": "euler_ancestral", "scheduler": "karras"},
            "links": {
                "model": link("checkpoint", "model"),
                "positive": link("prompt", "conditioning"),
                "negative": link("negative", "conditioning"),
                "latent": link("latent", "latent"),
            },
        },
    }
    result = run_graph(executor, nodes, "custom", "ksampler")
    assert torch.equal(result.outputs["custom"]["output"].samples, result.outputs["ksampler"]["result"].samples)
