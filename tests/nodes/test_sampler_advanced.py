"""The advanced custom sampler: guiders and noises give what Custom Sampler and KSampler give, on flow models too."""

from pathlib import Path

import pytest
import torch

from graphflow.nodes import sampler as ksampler
from graphflow.nodes import sampler_advanced as advanced
from graphflow.nodes import sampler_custom as custom
from graphflow.nodes.latent import EmptySD3Latent
from graphflow.sampling.latent import Latent
from graphflow.sampling.model import DiffusionModel
from tests.nodes.conftest import link, run_graph
from tests.running import context_for
from tests.sampling.conftest_flow import flow_model, flow_text

CTX = context_for(Path("test-run"))


@pytest.fixture(scope="module", params=["sd3", "flux-dev"])
def model(request) -> DiffusionModel:
    return flow_model(request.param)


def _empty() -> Latent:
    return EmptySD3Latent().run(CTX, width=64, height=48, batch_size=2)


def _advanced(model: DiffusionModel, guider, noise, sampler_name: str = "euler") -> custom.CustomSampled:
    return advanced.CustomSamplerAdvanced().run(
        CTX,
        noise=noise,
        guider=guider,
        sampler=custom.SelectSampler().run(CTX, sampler_name=sampler_name),
        sigmas=custom.BasicScheduler().run(CTX, model=model, scheduler="simple", steps=3, denoise=1.0),
        latent_image=_empty(),
    )


@pytest.mark.parametrize("sampler_name", ["euler", "euler_ancestral"])
def test_ksampler_on_a_flow_model_is_the_advanced_sampler_with_a_cfg_guider(model, sampler_name):
    positive, negative = (flow_text(model, 1),), (flow_text(model, 2),)
    guider = advanced.CFGGuider().run(CTX, model=model, positive=positive, negative=negative, cfg=3.0)
    ours = _advanced(model, guider, advanced.RandomNoise().run(CTX, noise_seed=11), sampler_name)
    expected = ksampler.Sampler().run(
        CTX,
        model=model,
        positive=positive,
        negative=negative,
        latent=_empty(),
        seed=11,
        steps=3,
        cfg=3.0,
        sampler_name=sampler_name,
        scheduler="simple",
        denoise=1.0,
    )
    assert ours.output.samples.shape == (2, 16, 6, 8)
    assert torch.equal(ours.output.samples, expected.samples)
    assert not torch.equal(ours.denoised_output.samples, ours.output.samples)


def test_a_basic_guider_is_a_cfg_guider_at_cfg_1_whatever_the_negative(model):
    noise = advanced.RandomNoise().run(CTX, noise_seed=3)
    basic = advanced.BasicGuider().run(CTX, model=model, conditioning=(flow_text(model, 1),))
    cfg_1 = advanced.CFGGuider().run(
        CTX, model=model, positive=(flow_text(model, 1),), negative=(flow_text(model, 9, tokens=2),), cfg=1.0
    )
    assert torch.equal(_advanced(model, basic, noise).output.samples, _advanced(model, cfg_1, noise).output.samples)


def test_disabled_noise_starts_from_the_latent_as_custom_sampler_without_noise_does(model):
    guider = advanced.BasicGuider().run(CTX, model=model, conditioning=(flow_text(model, 1),))
    ours = _advanced(model, guider, advanced.DisableNoise().run(CTX), "euler_ancestral")
    expected = custom.CustomSampler().run(
        CTX,
        model=model,
        add_noise=False,
        noise_seed=0,
        cfg=1.0,
        positive=(flow_text(model, 1),),
        negative=(),
        sampler=custom.SelectSampler().run(CTX, sampler_name="euler_ancestral"),
        sigmas=custom.BasicScheduler().run(CTX, model=model, scheduler="simple", steps=3, denoise=1.0),
        latent=_empty(),
    )
    assert torch.equal(ours.output.samples, expected.output.samples)


def test_the_empty_sd3_latent_is_16_channels_of_zeros_and_refuses_sizes_off_the_grid():
    latent = EmptySD3Latent().run(CTX, width=1024, height=512, batch_size=3)
    assert latent.samples.shape == (3, 16, 64, 128)
    assert not latent.samples.any()
    with pytest.raises(ValueError, match="width 1020 is not a multiple of 8; use 1016 or 1024"):
        EmptySD3Latent().run(CTX, width=1020, height=512, batch_size=1)


def test_the_flux_template_chain_runs_through_the_executor_like_ksampler_at_cfg_1(executor):
    nodes = {
        "checkpoint": {"type": "graphflow.loaders.checkpoint", "inputs": {"checkpoint": "tiny-sd1.safetensors"}},
        "prompt": {
            "type": "graphflow.conditioning.encode",
            "inputs": {"text": "a cat"},
            "links": {"clip": link("checkpoint", "clip")},
        },
        "guidance": {
            "type": "graphflow.conditioning.flux_guidance",
            "inputs": {"guidance": 3.5},
            "links": {"conditioning": link("prompt", "conditioning")},
        },
        "guider": {
            "type": "graphflow.sampling.basic_guider",
            "links": {"model": link("checkpoint", "model"), "conditioning": link("guidance", "result")},
        },
        "noise": {"type": "graphflow.sampling.random_noise", "inputs": {"noise_seed": 5}},
        "select": {"type": "graphflow.sampling.select_sampler", "inputs": {"sampler_name": "euler"}},
        "schedule": {
            "type": "graphflow.sampling.basic_scheduler",
            "inputs": {"scheduler": "simple", "steps": 3, "denoise": 1.0},
            "links": {"model": link("checkpoint", "model")},
        },
        "latent": {"type": "graphflow.latent.empty", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "advanced": {
            "type": "graphflow.sampling.custom_advanced",
            "links": {
                "noise": link("noise", "noise"),
                "guider": link("guider", "guider"),
                "sampler": link("select", "sampler"),
                "sigmas": link("schedule", "sigmas"),
                "latent_image": link("latent", "latent"),
            },
        },
        "ksampler": {
            "type": "graphflow.sampling.sample",
            "inputs": {"seed": 5, "steps": 3, "cfg": 1.0, "sampler_name": "euler", "scheduler": "simple"},
            "links": {
                "model": link("checkpoint", "model"),
                "positive": link("prompt", "conditioning"),
                "negative": link("prompt", "conditioning"),
                "latent": link("latent", "latent"),
            },
        },
    }
    result = run_graph(executor, nodes, "advanced", "ksampler")
    assert torch.equal(result.outputs["advanced"]["output"].samples, result.outputs["ksampler"]["result"].samples)
