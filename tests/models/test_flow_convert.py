"""The flow transformers' original <-> diffusers key layouts, checked against diffusers' own converters."""

from __future__ import annotations

import pytest
import torch
from accelerate import init_empty_weights
from diffusers import FluxTransformer2DModel
from diffusers.loaders.single_file_utils import (
    convert_flux_transformer_checkpoint_to_diffusers,
    convert_sd3_transformer_checkpoint_to_diffusers,
)

from graphflow.models.flow_convert import DIFFUSION_PREFIX, from_original, to_original
from graphflow.models.tiny_flow import build_tiny_flow


def _equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)


def test_sd3_files_written_from_diffusers_weights_convert_back_through_diffusers_converter():
    for variant in ("sd3", "sd35"):  # SD3.5: q/k norms and a dual-attention block
        weights = build_tiny_flow(variant).transformer.state_dict()
        original = to_original("sd3", weights, DIFFUSION_PREFIX)
        assert "model.diffusion_model.joint_blocks.1.context_block.adaLN_modulation.1.weight" in original
        assert _equal(convert_sd3_transformer_checkpoint_to_diffusers(dict(original)), weights)
        assert _equal(from_original("sd3", original, weights, "test", DIFFUSION_PREFIX), weights)


def test_flux_layout_matches_diffusers_converter_at_the_real_widths():
    # diffusers' Flux converter assumes Flux's own widths: check the table there, on one-column stand-ins
    with init_empty_weights():
        real = FluxTransformer2DModel(num_layers=1, num_single_layers=1, guidance_embeds=True).state_dict()
    generator = torch.Generator().manual_seed(0)
    narrow = {k: torch.randn(v.shape[0], *([1] * (v.ndim - 1)), generator=generator) for k, v in real.items()}
    original = to_original("flux", narrow)
    assert "single_blocks.0.linear1.weight" in original and "guidance_in.in_layer.weight" in original
    assert _equal(convert_flux_transformer_checkpoint_to_diffusers(dict(original)), narrow)
    assert _equal(from_original("flux", original, narrow, "test"), narrow)


def test_tiny_flux_weights_survive_the_round_trip_through_the_original_layout():
    weights = build_tiny_flow("flux-schnell").transformer.state_dict()
    original = to_original("flux", weights)
    assert not any(k.startswith("guidance_in.") for k in original)
    assert _equal(from_original("flux", original, weights, "test"), weights)


def test_a_file_lacking_weights_is_refused_naming_them():
    weights = build_tiny_flow("flux-dev").transformer.state_dict()
    original = to_original("flux", weights)
    del original["double_blocks.0.img_attn.qkv.weight"]
    with pytest.raises(ValueError, match=r"flux1-dev.safetensors: .* double_blocks\.0\.img_attn\.qkv\.weight"):
        from_original("flux", original, weights, "flux1-dev.safetensors")
