"""Loading ControlNets and T2I-Adapters offline from every supported layout, with every weight landing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file, save_file

from graphflow.control.detect import UnknownControlLayoutError
from graphflow.control.loader import load_control_model, load_diff_control_model
from graphflow.control.tiny import controlnet_from_unet, save_adapter_file, save_controlnet_file, tiny_adapter
from graphflow.models.tiny import build_tiny


def _same_weights(module: torch.nn.Module, reference: torch.nn.Module, atol: float = 0.0) -> None:
    ours, theirs = module.state_dict(), reference.state_dict()
    assert set(ours) == set(theirs)
    worst = max((ours[k].float() - theirs[k].float()).abs().max().item() for k in theirs)
    assert worst <= atol, worst


@pytest.mark.parametrize(
    "name",
    [
        "tiny-cn",
        "control_tiny_sd15.safetensors",
        "bare_tiny_sd15.safetensors",
        "diffusers_tiny_sd15.safetensors",
    ],
    ids=["diffusers folder", "original file", "original file without prefix", "file in diffusers names"],
)
def test_a_controlnet_loads_with_the_same_weights_from_every_layout(tiny, name):
    control = load_control_model(tiny["root"] / "controlnet" / name, device="cpu")
    assert (control.kind, control.family, control.source) == ("controlnet", "sd1", name)
    assert control.module.config.conditioning_embedding_out_channels == [4, 8, 8, 16]
    _same_weights(control.module, tiny["controlnet"])


@pytest.mark.parametrize("family", ["sd2", "sdxl"])
def test_sd2_and_sdxl_controlnets_in_the_original_layout_are_recognised_from_their_weights(family, tmp_path):
    unet = build_tiny(family).unet
    if family == "sdxl":  # SDXL's six size hints of width 256 (the weights tell the pooled width, not this)
        from diffusers import UNet2DConditionModel

        config = {**unet.config, "addition_time_embed_dim": 256, "projection_class_embeddings_input_dim": 32 + 6 * 256}
        unet = UNet2DConditionModel.from_config(config)
    controlnet = controlnet_from_unet(unet, seed=5)
    path = save_controlnet_file(controlnet, tmp_path / f"control_{family}.safetensors")
    assert any(k.startswith("control_model.label_emb.") for k in load_file(path)) == (family == "sdxl")
    control = load_control_model(path, device="cpu")
    assert control.family == family
    assert control.module.config.attention_head_dim == controlnet.config.attention_head_dim
    _same_weights(control.module, controlnet)


def test_a_config_embedded_in_the_file_wins_over_what_the_weights_suggest(tmp_path):
    from diffusers import UNet2DConditionModel

    unet = UNet2DConditionModel.from_config({**build_tiny("sd1").unet.config, "attention_head_dim": 4})
    controlnet = controlnet_from_unet(unet)
    plain = load_control_model(save_controlnet_file(controlnet, tmp_path / "plain.safetensors"), device="cpu")
    path = save_controlnet_file(controlnet, tmp_path / "embedded.safetensors", embed_config=True)
    assert plain.module.config.attention_head_dim == 8  # SD1's heads: the weights cannot tell
    assert load_control_model(path, device="cpu").module.config.attention_head_dim == 4


def test_a_diff_controlnet_needs_its_base_model_and_then_equals_the_full_controlnet(tiny, diffusion_model):
    path = tiny["root"] / "controlnet" / "diff_control_tiny_sd15.safetensors"
    with pytest.raises(UnknownControlLayoutError, match=r"diff_control_tiny_sd15.safetensors is a diff ControlNet"):
        load_control_model(path, device="cpu")
    control = load_diff_control_model(path, diffusion_model, device="cpu")
    _same_weights(control.module, tiny["controlnet"], atol=1e-6)


def test_an_ordinary_controlnet_loads_through_the_diff_loader_unchanged(tiny, diffusion_model):
    path = tiny["root"] / "controlnet" / "control_tiny_sd15.safetensors"
    _same_weights(load_diff_control_model(path, diffusion_model, device="cpu").module, tiny["controlnet"])


def test_a_diff_controlnet_made_for_another_model_names_the_mismatching_weight(tiny, tmp_path):
    from graphflow.sampling.model import SD2_LATENT_FORMAT, DiffusionModel, ModelSampling

    other = build_tiny("sd2")
    model = DiffusionModel(
        unet=other.unet,
        sampling=ModelSampling.from_betas(),
        family="sd2",
        latent_format=SD2_LATENT_FORMAT,
        device=torch.device("cpu"),
        dtype=torch.float32,
    )
    path = tiny["root"] / "controlnet" / "diff_control_tiny_sd15.safetensors"
    with pytest.raises(ValueError, match=r"diff_control_tiny_sd15.safetensors: the diff ControlNet's .* has shape"):
        load_diff_control_model(path, model, device="cpu")


def test_t2i_adapters_load_from_a_diffusers_folder_an_original_file_and_a_file_in_diffusers_names(tiny, tmp_path):
    folder = load_control_model(tiny["root"] / "controlnet" / "tiny-t2i", device="cpu")
    assert (folder.kind, folder.family, folder.hint_multiple) == ("t2i_adapter", "sd1", 8)
    _same_weights(folder.module, tiny["adapter"])
    original = load_control_model(tiny["root"] / "controlnet" / "t2iadapter_tiny_sd14v1.safetensors", device="cpu")
    assert original.module.config.channels == [32, 64, 64, 64]
    _same_weights(original.module, tiny["adapter_4"])
    named = save_adapter_file(tiny["adapter"], tmp_path / "adapter.safetensors", layout="diffusers")
    _same_weights(load_control_model(named, device="cpu").module, tiny["adapter"])


def test_an_original_sdxl_t2i_adapter_is_told_by_its_sixteenfold_pixel_unshuffle(tmp_path):
    adapter = tiny_adapter((32, 64, 64, 64), kind="full_adapter_xl", in_channels=1)
    control = load_control_model(save_adapter_file(adapter, tmp_path / "t2i-xl.safetensors"), device="cpu")
    assert (control.family, control.hint_multiple, control.hint_channels) == ("sdxl", 16, 1)
    assert control.module.config.adapter_type == "full_adapter_xl"
    _same_weights(control.module, adapter)


def test_an_original_light_t2i_adapter_maps_onto_diffusers_light_adapter(tmp_path):
    adapter = tiny_adapter((16, 32, 64), kind="light_adapter", blocks=2)
    original: dict[str, torch.Tensor] = {}
    for key, value in adapter.state_dict().items():
        original[key.removeprefix("adapter.").replace(".resnets.", ".body.")] = value
    save_file(original, str(tmp_path / "t2iadapter_color_tiny.safetensors"))
    control = load_control_model(tmp_path / "t2iadapter_color_tiny.safetensors", device="cpu")
    assert control.module.config.adapter_type == "light_adapter"
    _same_weights(control.module, adapter)


def _rewritten(source: Path, target: Path, change: Any) -> Path:
    state = load_file(source)
    change(state)
    save_file(state, str(target))
    return target


def test_a_weight_with_no_place_in_the_controlnet_is_an_error_naming_file_and_key(tiny, tmp_path):
    def add_stray(state: dict[str, torch.Tensor]) -> None:
        state["control_model.zero_convs.9.0.weight"] = torch.zeros(1)

    path = _rewritten(
        tiny["root"] / "controlnet" / "control_tiny_sd15.safetensors", tmp_path / "stray.safetensors", add_stray
    )
    with pytest.raises(UnknownControlLayoutError, match=r"stray.safetensors .*1 weights have no place.*zero_convs\.9"):
        load_control_model(path, device="cpu")


def test_a_missing_weight_is_an_error_naming_file_and_key(tiny, tmp_path):
    def drop(state: dict[str, torch.Tensor]) -> None:
        del state["control_model.middle_block_out.0.weight"]

    path = _rewritten(tiny["root"] / "controlnet" / "control_tiny_sd15.safetensors", tmp_path / "gap.safetensors", drop)
    with pytest.raises(ValueError, match=r"gap\.safetensors: ControlNet.*1 missing weights.*controlnet_mid_block"):
        load_control_model(path, device="cpu")


def test_a_missing_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nowhere.safetensors"):
        load_control_model(tmp_path / "nowhere.safetensors", device="cpu")


def test_weights_of_another_kind_are_refused_with_the_file_named(tmp_path):
    save_file(
        {"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(4, 4, 3, 3)}, str(tmp_path / "sd.safetensors")
    )
    with pytest.raises(UnknownControlLayoutError, match=r"sd.safetensors is not a ControlNet or T2I-Adapter"):
        load_control_model(tmp_path / "sd.safetensors", device="cpu")


def test_a_control_lora_is_refused_by_name(tmp_path):
    save_file({"lora_controlnet": torch.zeros(0)}, str(tmp_path / "control-lora-canny.safetensors"))
    with pytest.raises(UnknownControlLayoutError, match=r"control-lora-canny.safetensors is a Control-LoRA"):
        load_control_model(tmp_path / "control-lora-canny.safetensors", device="cpu")


def test_a_diffusers_folder_of_another_model_class_is_refused(tmp_path):
    folder = tmp_path / "sd3-controlnet"
    folder.mkdir()
    (folder / "config.json").write_text('{"_class_name": "SD3ControlNetModel"}')
    with pytest.raises(UnknownControlLayoutError, match=r"sd3-controlnet: .*'SD3ControlNetModel'"):
        load_control_model(folder, device="cpu")


def test_a_loaded_controlnet_is_shared_through_the_model_cache(tiny):
    from graphflow.cache import ModelCache

    cache = ModelCache()
    path = tiny["root"] / "controlnet" / "control_tiny_sd15.safetensors"
    assert load_control_model(path, device="cpu", cache=cache) is load_control_model(path, device="cpu", cache=cache)
