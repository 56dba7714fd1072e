"""The txt2img workflow's image equals diffusers' StableDiffusionPipeline on the same tiny model, noise and sigmas.

The two sides agree on: the initial latent (the same CPU randn from the seed, scaled by sqrt(1 + sigma_max^2):
graphflow's full-denoise noise scaling, diffusers' init_noise_sigma for "linspace" spacing); the schedule
(graphflow "normal" = evenly spaced timesteps 999 -> 0; diffusers Euler with timestep_spacing "linspace";
10 steps make every timestep an integer, so neither side interpolates the noise table); guidance
(uncond + cfg * (cond - uncond), on epsilon or v: linear, so the same on x0). Prompts are encoded on the
diffusers side by calling the transformers text model directly on CLIP token ids.
"""

from pathlib import Path

import numpy as np
import pytest
import torch

from graphflow.models.loader import load_checkpoint
from graphflow.sampling.schedules import get_sigmas
from tests.nodes.conftest import checkpoint_name, read_pixels, txt2img_args

STEPS = 10  # 999 / (STEPS - 1) is a whole number
SIZE = 64
SEED = 1234
CFG = 6.0
PROMPT = "a red square on the left"
NEGATIVE = "blurry"
MAX_PIXEL_DIFF = 2  # in 8-bit levels: PNG rounding (0.5) plus float32 round-off through 10 steps
CLIP_BOS, CLIP_EOS, CLIP_LENGTH = 49406, 49407, 77


def _token_ids(text: str, pad: int) -> torch.Tensor:
    import instant_clip_tokenizer

    ids = [CLIP_BOS, *instant_clip_tokenizer.Tokenizer().encode(text), CLIP_EOS]
    return torch.tensor([ids + [pad] * (CLIP_LENGTH - len(ids))])


def _diffusers_image(folder: Path, pad: int) -> np.ndarray:
    """StableDiffusionPipeline on the diffusers folder, Euler with linspace timesteps; float RGB in 0..255."""
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel

    text_encoder = CLIPTextModel.from_pretrained(folder / "text_encoder", local_files_only=True).eval()
    pipe = StableDiffusionPipeline(
        vae=AutoencoderKL.from_pretrained(folder, subfolder="vae", local_files_only=True),
        text_encoder=text_encoder,
        tokenizer=None,
        unet=UNet2DConditionModel.from_pretrained(folder, subfolder="unet", local_files_only=True),
        scheduler=EulerDiscreteScheduler.from_pretrained(folder, subfolder="scheduler", timestep_spacing="linspace"),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    with torch.no_grad():
        positive = text_encoder(_token_ids(PROMPT, pad))[0]
        negative = text_encoder(_token_ids(NEGATIVE, pad))[0]
    noise = torch.randn((1, 4, SIZE // 8, SIZE // 8), generator=torch.Generator("cpu").manual_seed(SEED))
    image = pipe(
        prompt_embeds=positive,
        negative_prompt_embeds=negative,
        latents=noise,
        num_inference_steps=STEPS,
        guidance_scale=CFG,
        height=SIZE,
        width=SIZE,
        output_type="np",
    ).images[0]
    return image * 255


@pytest.mark.parametrize(("family", "pad"), [("sd1", CLIP_EOS), ("sd2", 0)])
def test_workflow_image_matches_diffusers_pipeline(family, pad, models_root, graphflow_cli, tmp_path):
    checkpoint = checkpoint_name(family, "folder")
    args = txt2img_args(family, checkpoint, tmp_path, steps=STEPS, size=SIZE, seed=SEED)
    run = graphflow_cli(
        *args, "--set", f"sampler.cfg={CFG}", "--set", f"prompt.text={PROMPT}", "--set", f"negative.text={NEGATIVE}"
    )
    assert run.status == 0, run.stderr
    ours = read_pixels(run.saved[0]).astype(np.float64)

    expected = _diffusers_image(models_root / "checkpoints" / checkpoint, pad)
    assert np.abs(ours - expected).max() <= MAX_PIXEL_DIFF


@pytest.mark.parametrize("family", ["sd1", "sd2"])
def test_normal_schedule_equals_diffusers_linspace_euler_sigmas(family, models_root):
    from diffusers import EulerDiscreteScheduler

    folder = models_root / "checkpoints" / checkpoint_name(family, "folder")
    scheduler = EulerDiscreteScheduler.from_pretrained(folder, subfolder="scheduler", timestep_spacing="linspace")
    scheduler.set_timesteps(STEPS)
    model, _, _ = load_checkpoint(folder, device="cpu")
    assert model.sampling.prediction_type == scheduler.config.prediction_type
    ours = get_sigmas(model.sampling, "normal", STEPS)
    assert torch.allclose(ours, scheduler.sigmas.float(), rtol=1e-4)
