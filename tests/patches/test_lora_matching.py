"""Matching a LoRA to a model: stacking, strengths, and keys that fit nothing are reported, never dropped silently."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from graphflow.models.tiny import build_tiny
from graphflow.patches import applied
from graphflow.patches.lora import LoraFormatError, LoraMismatchError, match_lora, read_lora
from tests.patches.lora_files import (
    KOHYA,
    TEXT_TARGETS,
    UNET_TARGETS,
    canonical_text_path,
    kohya_stem,
    peft_reference,
    random_lora,
    save_lora,
)

TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def tiny() -> tuple[torch.nn.Module, torch.nn.Module]:
    models = build_tiny("sd1", seed=0)
    return models.unet, models.text_models["clip_l"]


def _run(unet: torch.nn.Module) -> torch.Tensor:
    generator = torch.Generator().manual_seed(3)
    sample, context = torch.randn(1, 4, 8, 8, generator=generator), torch.randn(1, 7, 32, generator=generator)
    with torch.no_grad():
        return unet(sample, torch.tensor([300]), context).sample


def _unet_file(tmp_path: Path, unet: torch.nn.Module, seed: int, name: str, **extra: torch.Tensor):
    lora = random_lora(unet, UNET_TARGETS, rank=4, alpha=2.0, seed=seed)
    return lora, save_lora(tmp_path / name, KOHYA.tensors(lora, kohya_stem("lora_unet_")) | extra)


def test_two_stacked_loras_with_their_own_strengths_match_peft_with_both_adapters_active(tiny, tmp_path):
    unet, _ = tiny
    first, first_file = _unet_file(tmp_path, unet, 1, "first.safetensors")
    second, second_file = _unet_file(tmp_path, unet, 2, "second.safetensors")
    patches = [
        *match_lora(read_lora(first_file), unet=unet, strength_model=1.0).unet,
        *match_lora(read_lora(second_file), unet=unet, strength_model=0.5).unet,
    ]
    expected = _run(peft_reference(unet, [(first, 1.0), (second, 0.5)]))
    with applied(unet, patches):
        assert (_run(unet) - expected).abs().max() <= TOLERANCE


def test_a_negative_strength_matches_peft_scaled_negatively(tiny, tmp_path):
    unet, _ = tiny
    lora, file = _unet_file(tmp_path, unet, 1, "lora.safetensors")
    match = match_lora(read_lora(file), unet=unet, strength_model=-0.7)
    expected = _run(peft_reference(unet, [(lora, -0.7)]))
    with applied(unet, match.unet):
        assert (_run(unet) - expected).abs().max() <= TOLERANCE


def test_strength_zero_gives_no_patches_for_that_part_but_keeps_the_other(tiny, tmp_path):
    unet, text = tiny
    unet_lora = random_lora(unet, ("to_q",), rank=2, alpha=2.0, seed=1)
    text_lora = random_lora(text, TEXT_TARGETS, rank=2, alpha=2.0, seed=2)
    text_lora.factors = {canonical_text_path(p): f for p, f in text_lora.factors.items()}
    tensors = KOHYA.tensors(unet_lora, kohya_stem("lora_unet_")) | KOHYA.tensors(text_lora, kohya_stem("lora_te_"))
    lora = read_lora(save_lora(tmp_path / "both.safetensors", tensors))
    match = match_lora(lora, unet=unet, text={"clip_l": text}, strength_model=0.0, strength_clip=1.0)
    assert match.unet == () and len(match.text["clip_l"]) == len(text_lora.factors) and match.unmatched == ()
    match = match_lora(lora, unet=unet, text={"clip_l": text}, strength_model=1.0, strength_clip=0.0)
    assert len(match.unet) == len(unet_lora.factors) and match.text == {}


def test_text_layers_are_skipped_without_a_report_when_only_the_unet_is_patched(tiny, tmp_path):
    unet, text = tiny
    unet_lora = random_lora(unet, ("to_q",), rank=2, alpha=2.0, seed=1)
    text_lora = random_lora(text, ("q_proj",), rank=2, alpha=2.0, seed=2)
    tensors = KOHYA.tensors(unet_lora, kohya_stem("lora_unet_")) | KOHYA.tensors(text_lora, kohya_stem("lora_te_"))
    match = match_lora(read_lora(save_lora(tmp_path / "both.safetensors", tensors)), unet=unet)
    assert len(match.unet) == len(unet_lora.factors) and match.text == {} and match.unmatched == ()


def test_keys_that_match_nothing_are_reported_by_count_and_example(tiny, tmp_path):
    unet, _ = tiny
    strays = {
        "lora_unet_down_blocks_7_attentions_0_proj_in.lora_down.weight": torch.zeros(2, 32),
        "lora_unet_down_blocks_7_attentions_0_proj_in.lora_up.weight": torch.zeros(32, 2),
        "lora_unet_time_embedding_linear_2.lora_down.weight": torch.zeros(2, 5),  # wrong input width for this UNet
        "lora_unet_time_embedding_linear_2.lora_up.weight": torch.zeros(128, 2),
        "something_else.weight": torch.zeros(1),
        "lora_unet_down_blocks_0_resnets_0_norm1.lora_up.weight": torch.zeros(32, 2),  # its down is missing
    }
    lora, file = _unet_file(tmp_path, unet, 1, "strays.safetensors", **strays)
    match = match_lora(read_lora(file), unet=unet, family="sd1")
    assert sorted(match.unmatched) == sorted(strays)
    assert len(match.unet) == len(lora.factors)
    assert match.considered == 3 * len(lora.factors) + len(strays)
    message = match.describe_unmatched("strays.safetensors")
    assert message.startswith(f"6 of {match.considered} keys in strays.safetensors match nothing")
    assert "lora_unet_down_blocks_7_attentions_0_proj_in.lora_down.weight" in message


def test_a_dora_layer_is_reported_rather_than_applied_as_plain_lora(tiny, tmp_path):
    unet, _ = tiny
    stem = "lora_unet_time_embedding_linear_2"
    dora = {
        f"{stem}.lora_down.weight": torch.zeros(2, 128),
        f"{stem}.lora_up.weight": torch.zeros(128, 2),
        f"{stem}.dora_scale": torch.ones(128, 1),
    }
    _, file = _unet_file(tmp_path, unet, 1, "dora.safetensors", **dora)
    assert sorted(match_lora(read_lora(file), unet=unet).unmatched) == sorted(dora)


def test_a_file_for_another_family_is_refused_naming_the_file_and_the_family_it_seems_made_for(tiny, tmp_path):
    unet, text = tiny
    stem = "lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_k"  # SD1 width 768 on SD1's level-2 block
    tensors = {f"{stem}.lora_down.weight": torch.zeros(4, 768), f"{stem}.lora_up.weight": torch.zeros(320, 4)}
    file = save_lora(tmp_path / "other.safetensors", tensors)
    with pytest.raises(LoraMismatchError, match=r"none of the 2 keys in other\.safetensors match this sd1 model"):
        match_lora(read_lora(file), unet=unet, text={"clip_l": text}, family="sd1")
    sdxl = {
        "lora_te2_text_model_encoder_layers_0_mlp_fc1.lora_down.weight": torch.zeros(4, 1280),
        "lora_te2_text_model_encoder_layers_0_mlp_fc1.lora_up.weight": torch.zeros(5120, 4),
    }
    file = save_lora(tmp_path / "xl.safetensors", sdxl)
    with pytest.raises(LoraMismatchError, match=r"xl\.safetensors .*it seems made for SDXL"):
        match_lora(read_lora(file), unet=unet, text={"clip_l": text}, family="sd1")


def test_the_family_guess_reads_the_cross_attention_width_and_kohya_metadata(tiny, tmp_path):
    unet, _ = tiny
    stem = "lora_unet_down_blocks_2_attentions_0_transformer_blocks_0_attn2_to_k"
    tensors = {f"{stem}.lora_down.weight": torch.zeros(4, 2048), f"{stem}.lora_up.weight": torch.zeros(1280, 4)}
    file = tmp_path / "wide.safetensors"
    save_lora(file, tensors)
    with pytest.raises(LoraMismatchError, match="seems made for SDXL"):
        match_lora(read_lora(file), unet=unet)
    from safetensors.torch import save_file

    save_file(tensors, str(file), metadata={"ss_base_model_version": "sd_v2"})
    with pytest.raises(LoraMismatchError, match="seems made for SD2"):
        match_lora(read_lora(file), unet=unet)


def test_a_text_only_lora_on_the_model_alone_says_it_has_no_unet_layers(tiny, tmp_path):
    unet, text = tiny
    text_lora = random_lora(text, ("q_proj",), rank=2, alpha=2.0, seed=2)
    file = save_lora(tmp_path / "text.safetensors", KOHYA.tensors(text_lora, kohya_stem("lora_te_")))
    with pytest.raises(LoraMismatchError, match=r"text\.safetensors has no UNet layers to apply to this sd1 model"):
        match_lora(read_lora(file), unet=unet, family="sd1")


def test_a_file_without_any_lora_layer_is_refused_naming_it(tmp_path):
    file = save_lora(tmp_path / "checkpoint.safetensors", {"model.diffusion_model.conv_in.weight": torch.zeros(1)})
    with pytest.raises(LoraFormatError, match=r"checkpoint\.safetensors holds no LoRA layers of a known format"):
        read_lora(file)


def test_a_pickled_file_is_not_loaded(tmp_path):
    file = tmp_path / "evil.pt"
    torch.save({"lora_unet_x.lora_down.weight": torch.zeros(1), "object": object()}, file)
    with pytest.raises(ValueError, match="NOT loaded"):
        read_lora(file)
