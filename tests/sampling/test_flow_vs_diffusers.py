"""graphflow's flow sampling equals diffusers' StableDiffusion3Pipeline and FluxPipeline on the same tiny models.

The tiny SD3, SD3.5 (qk norm, dual attention), Flux dev (guidance embeddings) and Flux schnell models of
graphflow.models.tiny_flow, with their shipped scheduler and VAE configs. Both sides get the same text
embeddings, the same start noise and the same sigmas (read from diffusers' FlowMatchEulerDiscreteScheduler
after its run); graphflow samples with its euler sampler through sample_sigmas. diffusers' latents with
output_type="latent" are in the VAE's normalised space, as graphflow's are (Flux's packed into 2x2-patch
tokens: unpacked with the pipeline's own helper). The latents agree to float round-off, and the pictures the
tiny 16-channel VAE decodes from them within the SD1 match's 2 levels in 255.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import Tensor

from graphflow.models.vae import Vae
from graphflow.sampling.conditioning import CondEntry
from graphflow.sampling.latent import Latent
from graphflow.sampling.model import DiffusionModel
from graphflow.sampling.sample import sample_sigmas
from graphflow.sampling.samplers import get_sampler_spec
from tests.sampling.conftest_flow import flow_model, flow_text, tiny_flow

HEIGHT, WIDTH = 64, 96  # pixels: a 8 x 12 latent, not square, so rows and columns cannot be swapped unnoticed
STEPS = 4
MAX_LATENT_DIFF = 1e-4
MAX_PIXEL_DIFF = 2  # in 8-bit levels, as tests/nodes/test_diffusion_vs_diffusers.py holds the SD1 match


def _noise() -> Tensor:
    return torch.randn(1, 16, HEIGHT // 8, WIDTH // 8, generator=torch.Generator().manual_seed(42))


def _ours(model: DiffusionModel, sigmas: Tensor, positive: CondEntry, negative: CondEntry, cfg: float) -> Tensor:
    return sample_sigmas(
        model,
        positive=(positive,),
        negative=(negative,),
        latent=Latent(torch.zeros(1, 16, HEIGHT // 8, WIDTH // 8)),
        sigmas=sigmas.float(),
        sampler=get_sampler_spec("euler"),
        seed=0,
        cfg=cfg,
        noise=_noise(),
    ).samples


def _pipeline(variant: str) -> Any:
    """The variant's diffusers pipeline on its tiny transformer and VAE, without text encoders."""
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline, StableDiffusion3Pipeline

    models = tiny_flow(variant)
    parts = {"transformer": models.transformer, "vae": models.vae, "text_encoder": None, "tokenizer": None}
    parts |= {"text_encoder_2": None, "tokenizer_2": None}
    parts["scheduler"] = FlowMatchEulerDiscreteScheduler(**models.scheduler)
    if models.family == "flux":
        pipe = FluxPipeline(**parts)
    else:
        pipe = StableDiffusion3Pipeline(**parts, text_encoder_3=None, tokenizer_3=None)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _diffusers(variant: str, positive: CondEntry, negative: CondEntry, cfg: float, guidance: float = 3.5) -> Any:
    """The pipeline's latents (Flux's unpacked) and the pipeline; cfg > 1 is Flux's true_cfg_scale."""
    pipe, noise = _pipeline(variant), _noise()
    flux = tiny_flow(variant).family == "flux"
    options: dict[str, Any] = {"true_cfg_scale": cfg, "guidance_scale": guidance} if flux else {"guidance_scale": cfg}
    with torch.no_grad():
        latents = pipe(
            prompt_embeds=positive.context,
            pooled_prompt_embeds=positive.pooled,
            negative_prompt_embeds=negative.context,
            negative_pooled_prompt_embeds=negative.pooled,
            num_inference_steps=STEPS,
            height=HEIGHT,
            width=WIDTH,
            latents=pipe._pack_latents(noise, *noise.shape) if flux else noise,
            output_type="latent",
            **options,
        ).images
    if flux:
        latents = pipe._unpack_latents(latents, HEIGHT, WIDTH, pipe.vae_scale_factor)
    return latents, pipe


def _assert_match(ours: Tensor, expected: Tensor, vae: Any) -> None:
    assert ours.shape == expected.shape
    assert (ours - expected).abs().max() <= MAX_LATENT_DIFF
    ours_pixels, expected_pixels = (Vae(vae).decode(latent) * 255 for latent in (ours, expected))
    assert (ours_pixels - expected_pixels).abs().max() <= MAX_PIXEL_DIFF


@pytest.mark.parametrize(("variant", "cfg"), [("sd3", 1.0), ("sd3", 4.5), ("sd35", 4.5)])
def test_sd3_sampling_matches_the_stable_diffusion_3_pipeline(variant, cfg):
    model = flow_model(variant)
    positive, negative = flow_text(model, 1, tokens=7), flow_text(model, 2, tokens=7)
    expected, pipe = _diffusers(variant, positive, negative, cfg)
    assert expected.abs().mean() > 0.1  # the pipeline really denoised something
    _assert_match(_ours(model, pipe.scheduler.sigmas, positive, negative, cfg), expected, pipe.vae)


@pytest.mark.parametrize(
    ("variant", "guidance", "cfg"),
    [("flux-dev", 3.5, 1.0), ("flux-dev", 7.0, 1.0), ("flux-schnell", 3.5, 1.0), ("flux-dev", 2.0, 3.0)],
)
def test_flux_sampling_matches_the_flux_pipeline(variant, guidance, cfg):
    model = flow_model(variant)
    positive = flow_text(model, 1, tokens=5, extras={"guidance": guidance})
    negative = flow_text(model, 2, tokens=5, extras={"guidance": guidance})
    expected, pipe = _diffusers(variant, positive, negative, cfg, guidance)
    _assert_match(_ours(model, pipe.scheduler.sigmas, positive, negative, cfg), expected, pipe.vae)


def test_flux_guidance_changes_the_picture_of_a_guidance_distilled_model():
    model = flow_model("flux-dev")
    positive, negative = flow_text(model, 1), flow_text(model, 2)
    latents = [_diffusers("flux-dev", positive, negative, 1.0, guidance)[0] for guidance in (1.0, 8.0)]
    assert (latents[0] - latents[1]).abs().max() > 1e-3
