"""Family, prediction and architecture detection from weights (original and diffusers layouts) and folders."""

import re
from pathlib import Path

import pytest
import torch
from accelerate import init_empty_weights
from diffusers import UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

from graphflow.models.convert import CLIP_PREFIXES, clip_to_ldm, openclip_to_ldm, unet_to_ldm
from graphflow.models.detect import (
    UninferableSettingsError,
    UnknownModelLayoutError,
    detect_folder,
    detect_state_dict,
    family_config,
)
from graphflow.models.files import load_metadata, load_state_dict

EXPECTED = {"sd1": "epsilon", "sd2": "v_prediction", "sdxl": "epsilon"}


def _config_of(model: torch.nn.Module) -> dict:
    return {k: v for k, v in model.config.items() if not k.startswith("_")}


def _same_architecture(derived: dict, reference: dict, skip: tuple[str, ...] = ()) -> None:
    keys = [
        "in_channels",
        "out_channels",
        "block_out_channels",
        "layers_per_block",
        "down_block_types",
        "up_block_types",
        "cross_attention_dim",
        "use_linear_projection",
        "attention_head_dim",
        "addition_embed_type",
        "addition_time_embed_dim",
        "projection_class_embeddings_input_dim",
    ]
    keys = [k for k in keys if k not in skip]
    assert {k: derived.get(k) for k in keys} == {k: reference.get(k) for k in keys}
    depth = reference.get("transformer_layers_per_block", 1)
    assert derived.get("transformer_layers_per_block", 1) in (depth, [depth] * len(reference["block_out_channels"]))


@pytest.mark.parametrize("family", ["sd1", "sd2", "sdxl"])
def test_single_file_checkpoint_family_prediction_and_tiny_config_are_detected(saved_tiny, family: str) -> None:
    tiny = saved_tiny[family]
    found = detect_state_dict(load_state_dict(tiny.checkpoint), load_metadata(tiny.checkpoint))
    assert (found.family, found.prediction, found.layout) == (family, EXPECTED[family], "ldm")
    _same_architecture(found.unet_config, _config_of(tiny.models.unet))
    assert found.vae_config["block_out_channels"] == list(tiny.models.vae.config.block_out_channels)
    for part, model in tiny.models.text_models.items():
        assert found.text_configs[part]["num_hidden_layers"] == model.config.num_hidden_layers
        assert found.text_configs[part]["hidden_size"] == model.config.hidden_size


@pytest.mark.parametrize("family", ["sd1", "sd2", "sdxl"])
def test_diffusers_folder_family_and_prediction_are_detected(saved_tiny, family: str) -> None:
    found = detect_folder(saved_tiny[family].folder)
    assert (found.family, found.prediction, found.layout) == (family, EXPECTED[family], "diffusers")


@pytest.mark.parametrize("family", ["sd1", "sd2", "sdxl"])
def test_diffusers_layout_unet_weights_are_detected_with_their_architecture(saved_tiny, family: str) -> None:
    unet = saved_tiny[family].models.unet
    found = detect_state_dict({"unet." + k: v for k, v in unet.state_dict().items()})
    assert (found.family, found.layout) == (family, "diffusers")
    # without the text encoder the split of SDXL's added embedding (pooled text vs size hints) is assumed
    _same_architecture(found.unet_config, _config_of(unet), skip=("addition_time_embed_dim",))


def _meta_unet(family: str) -> UNet2DConditionModel:
    with init_empty_weights():
        return UNet2DConditionModel(**family_config(family, "unet"))


@pytest.mark.parametrize("family", ["sd1", "sd2", "sdxl"])
def test_real_size_unet_shapes_give_exactly_the_published_config(family: str) -> None:
    unet = _meta_unet(family)  # shapes only, no memory
    state = unet_to_ldm(unet.state_dict(), unet.config)
    found = detect_state_dict(state)
    assert found.family == family
    assert found.unet_config == family_config(family, "unet")


@pytest.mark.parametrize(
    ("family", "component", "part"),
    [("sd1", "text_encoder", "clip_l"), ("sd2", "text_encoder", "clip_h"), ("sdxl", "text_encoder_2", "clip_g")],
)
def test_real_size_text_encoder_shapes_give_the_published_config(family: str, component: str, part: str) -> None:
    published = family_config(family, component)
    config = CLIPTextConfig(**published)
    with init_empty_weights():
        model = (CLIPTextModelWithProjection if part == "clip_g" else CLIPTextModel)(config)
    unet = _meta_unet(family)
    state = unet_to_ldm(unet.state_dict(), unet.config)
    prefix = CLIP_PREFIXES[family][part]
    state |= (
        openclip_to_ldm(model.state_dict(), prefix) if part != "clip_l" else clip_to_ldm(model.state_dict(), prefix)
    )
    derived = detect_state_dict(state).text_configs[part]
    keys = [
        "hidden_size",
        "intermediate_size",
        "num_attention_heads",
        "num_hidden_layers",
        "vocab_size",
        "max_position_embeddings",
        "hidden_act",
    ]
    assert {k: derived[k] for k in keys} == {k: published[k] for k in keys}


def test_v_pred_marker_metadata_and_argument_decide_the_prediction(saved_tiny) -> None:
    state = load_state_dict(saved_tiny["sd1"].checkpoint)
    assert detect_state_dict(state).prediction == "epsilon"
    assert detect_state_dict(state | {"v_pred": torch.zeros(0)}).prediction == "v_prediction"
    assert detect_state_dict(state, {"modelspec.prediction_type": "v"}).prediction == "v_prediction"
    assert detect_state_dict(state | {"v_pred": torch.zeros(0)}, prediction="epsilon").prediction == "epsilon"
    sd2 = {k: v for k, v in load_state_dict(saved_tiny["sd2"].checkpoint).items() if k != "v_pred"}
    assert detect_state_dict(sd2).prediction == "v_prediction"  # the family default
    assert detect_state_dict(sd2, {"modelspec.prediction_type": "epsilon"}).prediction == "epsilon"
    with pytest.raises(ValueError, match="unknown prediction type 'x0'"):
        detect_state_dict(state, prediction="x0")


def test_unknown_layout_says_which_keys_were_expected() -> None:
    with pytest.raises(UnknownModelLayoutError) as error:
        detect_state_dict({"transformer.blocks.0.weight": torch.zeros(1)})
    message = str(error.value)
    assert "model.diffusion_model.input_blocks" in message and "transformer.blocks.0.weight" in message


def test_folder_without_model_index_is_reported(tmp_path: Path) -> None:
    with pytest.raises(UnknownModelLayoutError, match=re.escape("no model_index.json")):
        detect_folder(tmp_path)


def test_unet_weights_whose_settings_cannot_be_inferred_are_refused_saying_what_and_how_to_give_them() -> None:
    config = family_config("sd1", "unet") | {
        "block_out_channels": [16, 32],
        "norm_num_groups": 8,
        "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
        "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"],
        "layers_per_block": 1,
    }
    with init_empty_weights():
        unet = UNet2DConditionModel(**config)  # 16 channels in 8 groups: files do not record the group count
    with pytest.raises(UninferableSettingsError) as error:
        detect_state_dict(unet_to_ldm(unet.state_dict(), unet.config), source="narrow-unet.safetensors")
    message = str(error.value)
    assert message.startswith("narrow-unet.safetensors: the UNet's settings cannot be inferred from its weights")
    assert "(16, 32)" in message and "32 normalisation groups" in message and "diffusers folder" in message
