"""The shipped add-ons of the demo model: small files in the formats other tools write, that work."""

import json

import numpy as np
import pytest
import torch
from diffusers import ControlNetModel, StableDiffusionControlNetPipeline
from safetensors.torch import load_file

from graphflow.demo import DEMO_MODEL_DIR, WEIGHTS_DIR
from graphflow.demo.addon_base import load_base
from graphflow.demo.addon_eval import generate, text_sampler
from graphflow.demo.checker import find_objects, iou, score, shape_mask, silhouette
from graphflow.demo.concepts import CHECK_COLOURS, SUN, SUN_MEANING, magenta_prompts, sun_prompts
from graphflow.demo.hints import silhouette_cases
from graphflow.demo.inversion_text import encode
from graphflow.demo.lora import TEXT_PREFIX, UNET_PREFIX, merged
from graphflow.demo.world import parse_prompt

LORA = WEIGHTS_DIR / "loras" / "shapes-magenta.safetensors"
EMBEDDING = WEIGHTS_DIR / "embeddings" / f"{SUN}.safetensors"
CONTROLNET = WEIGHTS_DIR / "controlnet" / "shapes-silhouette"


@pytest.fixture(scope="module")
def pipe():
    return load_base(DEMO_MODEL_DIR)


def test_the_lora_is_a_small_kohya_file_with_an_alpha_for_every_layer():
    assert LORA.stat().st_size < 1 << 20
    state = load_file(LORA)
    layers = {k.removesuffix(".lora_down.weight") for k in state if k.endswith(".lora_down.weight")}
    assert {k for layer in layers for k in (f"{layer}.lora_up.weight", f"{layer}.alpha")} <= set(state)
    assert len(state) == 3 * len(layers)
    assert any(k.startswith("lora_unet_down_blocks_") and "_attn2_to_k" in k for k in layers)
    assert any(k.startswith("lora_te_text_model_encoder_layers_0_self_attn_") for k in layers)
    assert all(state[f"{layer}.lora_down.weight"].shape[0] in (4, 8) for layer in layers)


def test_the_embedding_is_a1111_emb_params_as_wide_as_the_demo_text_encoder():
    state = load_file(EMBEDDING)
    width = json.loads((DEMO_MODEL_DIR / "text_encoder" / "config.json").read_text())["hidden_size"]
    assert list(state) == ["emb_params"] and state["emb_params"].shape == (3, width)
    assert EMBEDDING.stat().st_size < 4096


def test_the_controlnet_is_a_small_diffusers_folder_shaped_like_the_demo_unet():
    size = sum(f.stat().st_size for f in CONTROLNET.iterdir())
    assert size < 6 << 20
    config = json.loads((CONTROLNET / "config.json").read_text())
    unet = json.loads((DEMO_MODEL_DIR / "unet" / "config.json").read_text())
    assert config["_class_name"] == "ControlNetModel"
    for key in ("block_out_channels", "cross_attention_dim", "down_block_types", "attention_head_dim", "in_channels"):
        assert config[key] == unet[key], key
    assert len(config["conditioning_embedding_out_channels"]) == 4  # 64 px hint -> 8x8 latent


def test_the_lora_teaches_magenta_and_at_strength_zero_changes_nothing(pipe):
    # Measured on 50 prompts: 0.96 at strength 1, 0.04 at 0 (weights/loras/TRAINING.md).
    prompts = magenta_prompts(6)
    with merged({UNET_PREFIX: pipe.unet, TEXT_PREFIX: pipe.text_encoder}, load_file(LORA), 1.0):
        taught = generate(len(prompts), text_sampler(pipe, prompts))
    assert score(taught, prompts, CHECK_COLOURS)["colour"] >= 5 / 6
    plain = generate(2, text_sampler(pipe, prompts[:2]))
    with merged({UNET_PREFIX: pipe.unet, TEXT_PREFIX: pipe.text_encoder}, load_file(LORA), 0.0):
        unchanged = generate(2, text_sampler(pipe, prompts[:2]))
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(plain, unchanged, strict=True))


def test_the_controlnet_puts_the_shape_inside_the_hint(pipe):
    controlnet = ControlNetModel.from_pretrained(CONTROLNET, torch_dtype=torch.float32)
    control = StableDiffusionControlNetPipeline(**pipe.components, controlnet=controlnet)
    control.set_progress_bar_config(disable=True)
    cases = silhouette_cases(4)
    images = control(
        [p for p, _, _ in cases],
        image=[h for _, h, _ in cases],
        num_inference_steps=20,
        guidance_scale=3.0,
        generator=[torch.Generator().manual_seed(i) for i in range(4)],
    ).images
    overlaps = [iou(shape_mask(im), silhouette(h)) for im, (_, h, _) in zip(images, cases, strict=True)]
    assert np.mean(overlaps) > 0.75, overlaps


def test_prompts_naming_the_embedding_draw_the_sun(pipe):
    # Measured on 50 prompts: 1.00 (weights/embeddings/TRAINING.md).
    vectors = {SUN: load_file(EMBEDDING)["emb_params"]}
    prompts = sun_prompts(4)
    with torch.no_grad():
        embeds = encode(pipe.text_encoder, pipe.tokenizer, prompts, vectors)
        negative = encode(pipe.text_encoder, pipe.tokenizer, [""] * 4, {})
    images = pipe(
        prompt_embeds=embeds,
        negative_prompt_embeds=negative,
        num_inference_steps=20,
        guidance_scale=3.0,
        generator=[torch.Generator().manual_seed(i) for i in range(4)],
    ).images
    (sun,) = parse_prompt(SUN_MEANING)
    assert all(any(o.spec() == sun for o in find_objects(im)) for im in images)
