"""A ControlNet workflow's picture equals diffusers' StableDiffusionControlNetPipeline on the same tiny models.

Set up as in tests/nodes/test_diffusion_vs_diffusers.py: the same CPU noise from the seed, graphflow's
"normal" schedule against diffusers' Euler with "linspace" timesteps (10 steps: every timestep an integer),
the prompts encoded on the diffusers side by calling the text model on CLIP token ids. The ControlNets act
on both halves of the guidance batch in both programs, over the whole schedule.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from PIL import Image

from tests.control.conftest import CHECKPOINT, HINT, SIZE, decoded, txt2img_nodes, with_controls

STEPS, SEED, CFG = 10, 1234, 6.0
PROMPT, NEGATIVE = "a red square on the left", "blurry"
# as the txt2img match: 2 levels of 255 (there: PNG rounding plus float32 round-off through 10 steps)
MAX_DIFF = 2 / 255
CLIP_BOS, CLIP_EOS, CLIP_LENGTH = 49406, 49407, 77


def _embed(text_encoder: Any, text: str) -> torch.Tensor:
    import instant_clip_tokenizer

    ids = [CLIP_BOS, *instant_clip_tokenizer.Tokenizer().encode(text), CLIP_EOS]
    with torch.no_grad():
        return text_encoder(torch.tensor([ids + [CLIP_EOS] * (CLIP_LENGTH - len(ids))]))[0]


def _pipeline_image(tiny: dict[str, Any], controlnets: list[Any], scales: list[float]) -> torch.Tensor:
    """StableDiffusionControlNetPipeline's picture as an IMAGE [1, H, W, 3]."""
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionControlNetPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel

    folder = tiny["root"] / "checkpoints" / CHECKPOINT
    text_encoder = CLIPTextModel.from_pretrained(folder / "text_encoder", local_files_only=True).eval()
    pipe = StableDiffusionControlNetPipeline(
        vae=AutoencoderKL.from_pretrained(folder, subfolder="vae", local_files_only=True),
        text_encoder=text_encoder,
        tokenizer=None,
        unet=UNet2DConditionModel.from_pretrained(folder, subfolder="unet", local_files_only=True),
        controlnet=controlnets if len(controlnets) > 1 else controlnets[0],
        scheduler=EulerDiscreteScheduler.from_pretrained(folder, subfolder="scheduler", timestep_spacing="linspace"),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    hint = Image.open(tiny["inputs"] / HINT).convert("RGB")
    noise = torch.randn((1, 4, SIZE // 8, SIZE // 8), generator=torch.Generator("cpu").manual_seed(SEED))
    image = pipe(
        prompt_embeds=_embed(text_encoder, PROMPT),
        negative_prompt_embeds=_embed(text_encoder, NEGATIVE),
        image=[hint] * len(controlnets) if len(controlnets) > 1 else hint,
        controlnet_conditioning_scale=scales if len(scales) > 1 else scales[0],
        latents=noise,
        num_inference_steps=STEPS,
        guidance_scale=CFG,
        height=SIZE,
        width=SIZE,
        output_type="pt",
    ).images
    return image.movedim(1, -1)


def _plain() -> dict[str, dict[str, Any]]:
    return txt2img_nodes(PROMPT, NEGATIVE, steps=STEPS, cfg=CFG, seed=SEED)


@pytest.mark.parametrize("name", ["tiny-cn", "control_tiny_sd15.safetensors"])
def test_a_controlnet_workflow_matches_the_diffusers_controlnet_pipeline(executor, tiny, name):
    ours = decoded(executor, with_controls(_plain(), {"name": name, "strength": 0.8}))
    expected = _pipeline_image(tiny, [tiny["controlnet"]], [0.8])
    plain = decoded(executor, _plain())
    assert (ours - expected).abs().max() <= MAX_DIFF
    assert (ours - plain).abs().mean() > 3 * MAX_DIFF  # on average the control moves a pixel far beyond the tolerance


def test_two_chained_controlnets_match_diffusers_multi_controlnet(executor, tiny):
    controls = ({"name": "tiny-cn", "strength": 0.7}, {"name": "tiny-cn-2", "strength": 0.5})
    ours = decoded(executor, with_controls(_plain(), *controls))
    expected = _pipeline_image(tiny, [tiny["controlnet"], tiny["controlnet_2"]], [0.7, 0.5])
    only_first = decoded(executor, with_controls(_plain(), controls[0]))
    assert (ours - expected).abs().max() <= MAX_DIFF
    assert (ours - only_first).abs().mean() > MAX_DIFF


def test_the_older_apply_controlnet_on_the_positive_prompt_also_drives_the_negative_side_as_diffusers_does(
    executor, tiny
):
    nodes = _plain()
    nodes["hint"] = {"type": "graphflow.image.load", "inputs": {"image": HINT}}
    nodes["control_loader"] = {"type": "graphflow.loaders.controlnet", "inputs": {"control_net_name": "tiny-cn"}}
    nodes["control"] = {
        "type": "graphflow.conditioning.controlnet",
        "inputs": {"strength": 0.8},
        "links": {
            "conditioning": {"node": "prompt", "output": "conditioning"},
            "control_net": {"node": "control_loader", "output": "control_net"},
            "image": {"node": "hint", "output": "pixels"},
        },
    }
    nodes["sampler"]["links"]["positive"] = {"node": "control", "output": "result"}
    ours = decoded(executor, nodes)
    assert (ours - _pipeline_image(tiny, [tiny["controlnet"]], [0.8])).abs().max() <= MAX_DIFF


@pytest.mark.parametrize(
    "settings",
    [
        {"strength": 0.0},
        {"start_percent": 1.0, "end_percent": 1.0},
        {"start_percent": 0.8, "end_percent": 0.3},
    ],
    ids=["zero strength", "window after the last step", "start after end"],
)
def test_a_control_that_never_acts_leaves_the_plain_picture_bit_identical(executor, settings):
    plain = decoded(executor, _plain())
    controlled = decoded(executor, with_controls(_plain(), {"name": "tiny-cn", **settings}))
    assert torch.equal(controlled, plain)


def test_a_control_active_for_part_of_the_schedule_changes_less_than_one_active_throughout(executor):
    plain = decoded(executor, _plain())
    full = decoded(executor, with_controls(_plain(), {"name": "tiny-cn"}))
    late = decoded(executor, with_controls(_plain(), {"name": "tiny-cn", "start_percent": 0.6}))
    assert 0 < (late - plain).abs().mean() < (full - plain).abs().mean()
