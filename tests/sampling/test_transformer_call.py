"""Calling SD3 and Flux transformers: packing, padding, batching, Flux guidance and the conditioning checks."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from graphflow.control.control import Control
from graphflow.control.model import ControlModel
from graphflow.control.tiny import controlnet_from_unet
from graphflow.sampling.conditioning import Area
from graphflow.sampling.denoiser import cfg_denoiser
from graphflow.sampling.latent import Latent
from graphflow.sampling.sample import sample
from graphflow.sampling.samplers import SAMPLER_NAMES
from graphflow.sampling.transformer_call import pack, patch_ids, unpack
from graphflow.sampling.unet_call import unet_x0
from tests.sampling.conftest_flow import flow_model, flow_text
from tests.sampling.helpers import tiny_unet

SIGMA = torch.tensor([0.7])


@pytest.fixture(scope="module", params=["sd3", "flux-dev"])
def model(request):
    return flow_model(request.param)


def _latent(height: int = 8, width: int = 12, batch: int = 1, seed: int = 3) -> torch.Tensor:
    return torch.randn(batch, 16, height, width, generator=torch.Generator().manual_seed(seed))


def test_packing_into_patches_is_the_flux_pipelines_and_unpacking_undoes_it():
    from diffusers import FluxPipeline

    x = _latent(batch=2)
    assert torch.equal(pack(x), FluxPipeline._pack_latents(x, 2, 16, 8, 12))
    assert torch.equal(unpack(pack(x), 8, 12), x)


def test_flux_patch_positions_are_row_and_column_of_each_patch():
    from diffusers import FluxPipeline

    ids = patch_ids(8, 12)
    assert torch.equal(ids, FluxPipeline._prepare_latent_image_ids(1, 4, 6, "cpu", torch.float32))
    assert ids[7].tolist() == [0.0, 1.0, 1.0]  # second row, second column of a 4 x 6 patch grid


def test_an_odd_sized_latent_is_padded_around_for_the_call_and_the_prediction_cut_back(model):
    x, entry = _latent(7, 9), flow_text(model, 1)
    ours = unet_x0(model, [entry], [x], SIGMA)
    wrapped = F.pad(x, (0, 1, 0, 1), mode="circular")
    expected = unet_x0(model, [entry], [wrapped], SIGMA)[..., :7, :9]
    assert ours.shape == x.shape
    torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-5)


def test_entries_batched_in_one_call_predict_as_they_do_alone(model):
    x, entries = _latent(batch=2), [flow_text(model, 1), flow_text(model, 2)]
    sigma = SIGMA.expand(2)
    together = unet_x0(model, entries, [x, x], sigma)
    alone = torch.cat([unet_x0(model, [entry], [x], sigma) for entry in entries])
    torch.testing.assert_close(together, alone, rtol=1e-5, atol=1e-5)


def test_contexts_of_different_lengths_are_not_repeated_into_the_joint_attention(model):
    x, entries = _latent(), [flow_text(model, 1, tokens=3), flow_text(model, 2, tokens=6)]
    together = unet_x0(model, entries, [x, x], SIGMA)
    alone = torch.cat([unet_x0(model, [entry], [x], SIGMA) for entry in entries])
    torch.testing.assert_close(together, alone, rtol=1e-5, atol=1e-5)


def test_a_flux_entry_without_guidance_gets_3_5_and_the_value_steers_a_distilled_model():
    model, x = flow_model("flux-dev"), _latent()
    default = unet_x0(model, [flow_text(model, 1)], [x], SIGMA)
    explicit = unet_x0(model, [flow_text(model, 1, extras={"guidance": 3.5})], [x], SIGMA)
    other = unet_x0(model, [flow_text(model, 1, extras={"guidance": 8.0})], [x], SIGMA)
    assert torch.equal(default, explicit)
    assert (default - other).abs().max() > 1e-4


def test_flux_guidance_is_ignored_by_a_model_without_guidance_embeddings():
    model, x = flow_model("flux-schnell"), _latent()
    low = unet_x0(model, [flow_text(model, 1, extras={"guidance": 1.0})], [x], SIGMA)
    high = unet_x0(model, [flow_text(model, 1, extras={"guidance": 8.0})], [x], SIGMA)
    assert torch.equal(low, high)


@pytest.mark.parametrize("place", ["area", "mask"])
def test_an_entry_placed_on_the_left_acts_only_there_on_a_flow_model(model, place):
    x, mask = _latent(), torch.zeros(1, 8, 12)
    mask[..., :5] = 1.0
    where = {"area": Area(height=8, width=5)} if place == "area" else {"mask": mask, "mask_bounds": True}
    whole, left = flow_text(model, 1), flow_text(model, 2, **where)
    composed = cfg_denoiser(model, (whole, left), (), cfg=1.0)(x, SIGMA)
    plain = cfg_denoiser(model, (whole,), (), cfg=1.0)(x, SIGMA)
    torch.testing.assert_close(composed[..., 5:], plain[..., 5:], rtol=1e-5, atol=1e-5)
    assert (composed[..., :4] - plain[..., :4]).abs().max() > 1e-3


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"context": torch.zeros(1, 6, 8)}, "positive conditioning has width 8 but this .* model expects {context}"),
        ({"pooled": None}, "positive conditioning has no pooled text embedding"),
        ({"pooled": torch.zeros(1, 5)}, "positive conditioning has a pooled embedding of width 5 .* expects {pooled}"),
    ],
)
def test_conditioning_that_does_not_fit_the_transformer_is_refused_naming_the_input(model, changes, message):
    config = model.unet.config
    expected = message.format(context=config.joint_attention_dim, pooled=config.pooled_projection_dim)
    with pytest.raises(ValueError, match=expected):
        cfg_denoiser(model, (flow_text(model, 1).replace(**changes),), (flow_text(model, 2),), cfg=1.0)


def test_a_misfit_negative_is_named_when_guidance_needs_it(model):
    with pytest.raises(ValueError, match="negative conditioning has no pooled"):
        cfg_denoiser(model, (flow_text(model, 1),), (flow_text(model, 2).replace(pooled=None),), cfg=3.0)


@pytest.mark.parametrize("variant", ["sd3", "flux-dev"])
def test_every_sampler_runs_on_the_tiny_transformers(variant):
    model = flow_model(variant)
    positive, negative = (flow_text(model, 1),), (flow_text(model, 2),)
    for name in SAMPLER_NAMES:
        out = sample(
            model,
            positive=positive,
            negative=negative,
            latent=Latent(torch.zeros(1, 16, 4, 6)),
            seed=1,
            steps=3,
            cfg=2.0,
            sampler_name=name,
            scheduler="simple",
        )
        assert out.shape == (1, 16, 4, 6) and out.isfinite().all(), name


def test_a_controlnet_on_a_flow_models_conditioning_is_refused_clearly(model):
    module = controlnet_from_unet(tiny_unet(), seed=1, hint_channels=(4, 8, 8, 16))
    control_model = ControlModel("controlnet", module, "sd1", "tiny", torch.device("cpu"), torch.float32)
    entry = flow_text(model, 1, control=Control(control_model, torch.rand(1, 3, 64, 96)))
    with pytest.raises(ValueError, match=r"positive conditioning carries a ControlNet, which .* models do not support"):
        cfg_denoiser(model, (entry,), (), cfg=1.0)
