"""diffusers -> original layout: names and shapes match real SD1.5/SD2.1/SDXL checkpoints."""

import pytest
import torch
from accelerate import init_empty_weights
from diffusers import AutoencoderKL, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel

from graphflow.models.convert import (
    append_identity_layer,
    canonical_clip_keys,
    clip_to_ldm,
    drop_last_layer,
    openclip_from_ldm,
    openclip_to_ldm,
    unet_to_ldm,
    vae_to_ldm,
)
from graphflow.models.detect import family_config

# key counts of the published original-layout checkpoints (UNet, VAE)
PUBLISHED_COUNTS = {"sd1": (686, 248), "sd2": (686, 248), "sdxl": (1680, 248)}


@pytest.mark.parametrize("family", ["sd1", "sd2", "sdxl"])
def test_real_size_unet_and_vae_convert_to_the_published_key_layout(family: str) -> None:
    with init_empty_weights():
        unet = UNet2DConditionModel(**family_config(family, "unet"))
        vae = AutoencoderKL(**family_config(family, "vae"))
    unet_keys = unet_to_ldm(unet.state_dict(), unet.config)
    vae_keys = vae_to_ldm(vae.state_dict(), vae.config)
    assert (len(unet_keys), len(vae_keys)) == PUBLISHED_COUNTS[family]
    assert vae_keys["first_stage_model.encoder.mid.attn_1.q.weight"].shape == (512, 512, 1, 1)
    assert "first_stage_model.decoder.up.3.upsample.conv.weight" in vae_keys
    assert "first_stage_model.decoder.up.0.block.2.conv2.weight" in vae_keys
    if family == "sdxl":
        assert unet_keys["model.diffusion_model.label_emb.0.0.weight"].shape == (1280, 2816)
        assert "model.diffusion_model.output_blocks.2.2.conv.weight" in unet_keys
    else:
        assert "model.diffusion_model.output_blocks.2.1.conv.weight" in unet_keys
        assert "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight" in unet_keys


def _tiny_clip(layers: int = 2) -> CLIPTextModel:
    torch.manual_seed(0)
    return CLIPTextModel(
        CLIPTextConfig(
            vocab_size=50,
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=layers,
            num_attention_heads=1,
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
        )
    )


def test_clip_keys_take_the_text_model_prefix_either_way() -> None:
    keys = canonical_clip_keys(
        {"embeddings.token_embedding.weight": torch.zeros(1), "text_model.final_layer_norm.weight": torch.zeros(1)}
    )
    assert sorted(keys) == ["text_model.embeddings.token_embedding.weight", "text_model.final_layer_norm.weight"]
    ldm = clip_to_ldm(_tiny_clip().state_dict(), "cond_stage_model.transformer.")
    assert "cond_stage_model.transformer.text_model.encoder.layers.1.self_attn.q_proj.weight" in ldm


def test_openclip_layout_round_trips_with_fused_qkv() -> None:
    state = _tiny_clip().state_dict()
    ldm = openclip_to_ldm(state, "cond_stage_model.model.")
    assert ldm["cond_stage_model.model.transformer.resblocks.0.attn.in_proj_weight"].shape == (48, 16)
    back = openclip_from_ldm(ldm, "cond_stage_model.model.", layers=2)
    for key, value in canonical_clip_keys(state).items():
        torch.testing.assert_close(back[key], value, rtol=0, atol=0)


def test_identity_layer_leaves_the_hidden_states_unchanged_and_drop_removes_it() -> None:
    model = _tiny_clip().eval()
    ids = torch.tensor([[0, 5, 7, 1]])
    before = model(ids, output_hidden_states=True).hidden_states[-1]
    append_identity_layer(model)
    hidden = model(ids, output_hidden_states=True).hidden_states
    assert model.config.num_hidden_layers == 3 and len(hidden) == 4
    torch.testing.assert_close(hidden[-1], before)
    torch.testing.assert_close(hidden[-2], before)
    assert drop_last_layer(model).config.num_hidden_layers == 2 and model.config.num_hidden_layers == 3
