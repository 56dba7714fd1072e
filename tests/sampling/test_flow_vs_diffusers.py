"""graphflow's flow sampling equals diffusers' StableDiffusion3Pipeline and FluxPipeline on the same tiny models.

Both sides get the same text embeddings, the same start noise and the same sigmas (read from diffusers'
FlowMatchEulerDiscreteScheduler after its run); graphflow samples with its euler sampler through
sample_sigmas. diffusers' latents with output_type="latent" are in the VAE's normalised space, as graphflow's
are (Flux's packed into 2x2-patch tokens: unpacked with the pipeline's own helper). The latents agree to float
round-off, and the pictures the tiny 16-channel VAE decodes from them within the SD1 match's 2 levels in 255.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import Tensor

from graphflow.models.vae import Vae
from graphflow.sampling.conditioning import CondEntry
from graphflow.sampling.latent import Latent
from graphflow.sampling.sample import sample_sigmas
from graphflow.sampling.samplers import get_sampler_spec
from tests.sampling.conftest_flow import flow_model, flow_text, tiny_flux, tiny_sd3

HEIGHT, WIDTH = 64, 96  # pixels: a 8 x 12 latent, not square, so rows and columns cannot be swapped unnoticed
STEPS = 4
MAX_LATENT_DIFF = 1e-4
MAX_PIXEL_DIFF = 2  # in 8-bit levels, as tests/nodes/test_diffusion_vs_diffusers.py holds the SD1 match


def _vae(family: str) -> Any:
    """A tiny random 16-channel AutoencoderKL downscaling by 8, with the family's scaling and shift."""
    from diffusers import AutoencoderKL

    from graphflow.sampling.model import LATENT_FORMATS

    torch.manual_seed(5)
    latent_format = LATENT_FORMATS[family]
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        latent_channels=16,
        block_out_channels=(8, 8, 8, 8),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        layers_per_block=1,
        norm_num_groups=8,
        scaling_factor=latent_format.scaling_factor,
        shift_factor=latent_format.shift_factor,
    ).eval()


def _noise() -> Tensor:
    return torch.randn(1, 16, HEIGHT // 8, WIDTH // 8, generator=torch.Generator().manual_seed(42))


def _ours(model_args: tuple[Any, str], sigmas: Tensor, positive: CondEntry, negative: CondEntry, cfg: float) -> Tensor:
    model = flow_model(*model_args)
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


def _pixels(vae: Any, latent: Tensor) -> Tensor:
    return Vae(vae).decode(latent) * 255


def _sd3(positive: CondEntry, negative: CondEntry, cfg: float) -> tuple[Tensor, Tensor, Any]:
    """StableDiffusion3Pipeline's latents, its sigmas and its VAE."""
    from diffusers import FlowMatchEulerDiscreteScheduler, StableDiffusion3Pipeline

    pipe = StableDiffusion3Pipeline(
        transformer=tiny_sd3(),
        scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
        vae=_vae("sd3"),
        text_encoder=None,
        tokenizer=None,
        text_encoder_2=None,
        tokenizer_2=None,
        text_encoder_3=None,
        tokenizer_3=None,
    )
    pipe.set_progress_bar_config(disable=True)
    with torch.no_grad():
        latents = pipe(
            prompt_embeds=positive.context,
            pooled_prompt_embeds=positive.pooled,
            negative_prompt_embeds=negative.context,
            negative_pooled_prompt_embeds=negative.pooled,
            guidance_scale=cfg,
            num_inference_steps=STEPS,
            height=HEIGHT,
            width=WIDTH,
            latents=_noise(),
            output_type="latent",
        ).images
    return latents, pipe.scheduler.sigmas, pipe.vae


def _flux(
    guidance_embeds: bool, positive: CondEntry, negative: CondEntry, cfg: float, guidance: float
) -> tuple[Tensor, Tensor, Any]:
    """FluxPipeline's latents (unpacked), its sigmas and its VAE; cfg > 1 is the pipeline's true_cfg_scale."""
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline

    scheduler = FlowMatchEulerDiscreteScheduler(
        shift=3.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15, base_image_seq_len=256
    )
    pipe = FluxPipeline(
        transformer=tiny_flux(guidance_embeds),
        scheduler=scheduler,
        vae=_vae("flux"),
        text_encoder=None,
        tokenizer=None,
        text_encoder_2=None,
        tokenizer_2=None,
    )
    pipe.set_progress_bar_config(disable=True)
    noise = _noise()
    with torch.no_grad():
        packed = pipe(
            prompt_embeds=positive.context,
            pooled_prompt_embeds=positive.pooled,
            negative_prompt_embeds=negative.context,
            negative_pooled_prompt_embeds=negative.pooled,
            true_cfg_scale=cfg,
            guidance_scale=guidance,
            num_inference_steps=STEPS,
            height=HEIGHT,
            width=WIDTH,
            latents=pipe._pack_latents(noise, *noise.shape),
            output_type="latent",
        ).images
    return pipe._unpack_latents(packed, HEIGHT, WIDTH, pipe.vae_scale_factor), pipe.scheduler.sigmas, pipe.vae


def _assert_match(ours: Tensor, expected: Tensor, vae: Any) -> None:
    assert ours.shape == expected.shape
    assert (ours - expected).abs().max() <= MAX_LATENT_DIFF
    assert (_pixels(vae, ours) - _pixels(vae, expected)).abs().max() <= MAX_PIXEL_DIFF


@pytest.mark.parametrize("cfg", [1.0, 4.5])
def test_sd3_sampling_matches_the_stable_diffusion_3_pipeline(cfg):
    positive, negative = flow_text(1, tokens=7), flow_text(2, tokens=7)
    expected, sigmas, vae = _sd3(positive, negative, cfg)
    assert expected.abs().mean() > 0.1  # the pipeline really denoised something
    ours = _ours((tiny_sd3(), "sd3"), sigmas, positive, negative, cfg)
    _assert_match(ours, expected, vae)


@pytest.mark.parametrize(
    ("guidance_embeds", "guidance", "cfg"),
    [(True, 3.5, 1.0), (True, 7.0, 1.0), (False, 3.5, 1.0), (True, 2.0, 3.0)],
)
def test_flux_sampling_matches_the_flux_pipeline(guidance_embeds, guidance, cfg):
    positive = flow_text(1, tokens=5, extras={"guidance": guidance})
    negative = flow_text(2, tokens=5, extras={"guidance": guidance})
    expected, sigmas, vae = _flux(guidance_embeds, positive, negative, cfg, guidance)
    ours = _ours((tiny_flux(guidance_embeds), "flux"), sigmas, positive, negative, cfg)
    _assert_match(ours, expected, vae)


def test_flux_guidance_changes_the_picture_of_a_guidance_distilled_model():
    latents = [_flux(True, flow_text(1), flow_text(2), 1.0, guidance)[0] for guidance in (1.0, 8.0)]
    assert (latents[0] - latents[1]).abs().max() > 1e-3
