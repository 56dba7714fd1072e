"""LyCORIS layers (LoHa, LoKr, LoCon with a Tucker core, full diffs) change weights by their published formulas."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from graphflow.models.tiny import build_tiny
from graphflow.patches import applied
from graphflow.patches.lora import match_lora, read_lora
from tests.patches.lora_files import save_lora

LINEAR = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q"  # 32 x 32
CONV = "down_blocks.0.resnets.0.conv1"  # 32 x 32 x 3 x 3
STRENGTH = 0.7


@pytest.fixture(scope="module")
def unet() -> torch.nn.Module:
    return build_tiny("sd1", seed=0).unet


def _random(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed)) * 0.3


def _kohya(path: str) -> str:
    return "lora_unet_" + path.replace(".", "_")


def _patched_weight(unet: torch.nn.Module, tmp_path: Path, tensors: dict[str, torch.Tensor], path: str) -> torch.Tensor:
    file = save_lora(tmp_path / "lycoris.safetensors", tensors)
    match = match_lora(read_lora(file), unet=unet, strength_model=STRENGTH)
    assert match.unmatched == () and len(match.unet) == 1
    with applied(unet, match.unet):
        return unet.get_parameter(f"{path}.weight").detach().clone()


def _tucker(core: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """LyCORIS' Tucker rebuild, by mode products: out[p, q, k, l] = sum_ij core[i, j, k, l] a[i, p] b[j, q]."""
    by_a = torch.tensordot(core, a, dims=([0], [0]))  # [j, k, l, p]
    by_b = torch.tensordot(by_a, b, dims=([0], [0]))  # [k, l, p, q]
    return by_b.permute(2, 3, 0, 1)


def _kron_by_blocks(w1: torch.Tensor, w2: torch.Tensor) -> torch.Tensor:
    """The Kronecker product written out block by block: block (i, j) is w1[i, j] * w2."""
    rows = [torch.cat([w1[i, j] * w2 for j in range(w1.shape[1])], dim=1) for i in range(w1.shape[0])]
    return torch.cat(rows, dim=0)


def test_a_loha_linear_layer_adds_the_hadamard_product_of_two_low_rank_products(unet, tmp_path):
    w1a, w1b, w2a, w2b = _random(32, 4, seed=1), _random(4, 32, seed=2), _random(32, 4, seed=3), _random(4, 32, seed=4)
    stem = _kohya(LINEAR)
    tensors = {f"{stem}.hada_w1_a": w1a, f"{stem}.hada_w1_b": w1b, f"{stem}.hada_w2_a": w2a, f"{stem}.hada_w2_b": w2b}
    tensors[f"{stem}.alpha"] = torch.tensor(2.0)
    base = unet.get_parameter(f"{LINEAR}.weight").detach().clone()
    expected = base + STRENGTH * (2.0 / 4) * ((w1a @ w1b) * (w2a @ w2b))
    assert torch.allclose(_patched_weight(unet, tmp_path, tensors, LINEAR), expected, atol=1e-6)


def test_a_loha_convolution_with_tucker_cores_rebuilds_each_factor_through_its_core(unet, tmp_path):
    rank = 3
    t1, t2 = _random(rank, rank, 3, 3, seed=1), _random(rank, rank, 3, 3, seed=2)
    w1a, w1b, w2a, w2b = (_random(rank, 32, seed=s) for s in (3, 4, 5, 6))  # Tucker form: [rank, out] and [rank, in]
    stem = _kohya(CONV)
    tensors = {
        f"{stem}.hada_t1": t1,
        f"{stem}.hada_t2": t2,
        f"{stem}.hada_w1_a": w1a,
        f"{stem}.hada_w1_b": w1b,
        f"{stem}.hada_w2_a": w2a,
        f"{stem}.hada_w2_b": w2b,
        f"{stem}.alpha": torch.tensor(1.5),
    }
    base = unet.get_parameter(f"{CONV}.weight").detach().clone()
    expected = base + STRENGTH * (1.5 / rank) * (_tucker(t1, w1a, w1b) * _tucker(t2, w2a, w2b))
    assert torch.allclose(_patched_weight(unet, tmp_path, tensors, CONV), expected, atol=1e-6)


def test_a_lokr_linear_layer_adds_the_kronecker_product_and_scales_by_the_factored_rank(unet, tmp_path):
    w1 = _random(4, 4, seed=1)
    w2a, w2b = _random(8, 2, seed=2), _random(2, 8, seed=3)
    stem = _kohya(LINEAR)
    tensors = {
        f"{stem}.lokr_w1": w1,
        f"{stem}.lokr_w2_a": w2a,
        f"{stem}.lokr_w2_b": w2b,
        f"{stem}.alpha": torch.tensor(1.0),
    }
    base = unet.get_parameter(f"{LINEAR}.weight").detach().clone()
    expected = base + STRENGTH * (1.0 / 2) * _kron_by_blocks(w1, w2a @ w2b)
    assert torch.allclose(_patched_weight(unet, tmp_path, tensors, LINEAR), expected, atol=1e-6)


def test_a_lokr_convolution_with_a_whole_kernel_factor_scales_by_the_other_factors_rank(unet, tmp_path):
    w1a, w1b = _random(2, 1, seed=1), _random(1, 4, seed=2)
    w2 = _random(16, 8, 3, 3, seed=3)
    stem = _kohya(CONV)
    tensors = {f"{stem}.lokr_w1_a": w1a, f"{stem}.lokr_w1_b": w1b, f"{stem}.lokr_w2": w2}
    tensors[f"{stem}.alpha"] = torch.tensor(8.0)  # w2 is whole, so alpha is divided by w1's factored rank
    base = unet.get_parameter(f"{CONV}.weight").detach().clone()
    w1 = w1a @ w1b
    blocks = torch.cat([torch.cat([w1[i, j] * w2 for j in range(4)], dim=1) for i in range(2)], dim=0)
    expected = base + STRENGTH * (8.0 / 1) * blocks
    assert torch.allclose(_patched_weight(unet, tmp_path, tensors, CONV), expected, atol=1e-5)


def test_a_lokr_of_two_whole_matrices_has_no_scale(unet, tmp_path):
    w1, w2 = _random(8, 2, seed=1), _random(4, 16, seed=2)
    stem = _kohya(LINEAR)
    tensors = {f"{stem}.lokr_w1": w1, f"{stem}.lokr_w2": w2, f"{stem}.alpha": torch.tensor(5.0)}
    base = unet.get_parameter(f"{LINEAR}.weight").detach().clone()
    expected = base + STRENGTH * _kron_by_blocks(w1, w2)
    assert torch.allclose(_patched_weight(unet, tmp_path, tensors, LINEAR), expected, atol=1e-6)


def test_a_locon_with_a_tucker_mid_acts_as_down_then_mid_then_up_convolutions(unet, tmp_path):
    down, mid, up = _random(4, 32, 1, 1, seed=1), _random(4, 4, 3, 3, seed=2), _random(32, 4, 1, 1, seed=3)
    stem = _kohya(CONV)
    tensors = {f"{stem}.lora_down.weight": down, f"{stem}.lora_mid.weight": mid, f"{stem}.lora_up.weight": up}
    base = unet.get_parameter(f"{CONV}.weight").detach().clone()
    delta = (_patched_weight(unet, tmp_path, tensors, CONV) - base) / STRENGTH  # no alpha: scale 1
    x = _random(1, 32, 6, 6, seed=4)
    chained = F.conv2d(F.conv2d(F.conv2d(x, down), mid, padding=1), up)
    assert torch.allclose(F.conv2d(x, delta, padding=1), chained, atol=1e-5)


def test_full_weight_and_bias_differences_are_added_as_they_are(unet, tmp_path):
    diff, diff_b = _random(32, 32, seed=1), _random(32, seed=2)
    stem = _kohya("down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_out.0")
    file = save_lora(tmp_path / "full.safetensors", {f"{stem}.diff": diff, f"{stem}.diff_b": diff_b})
    module = unet.get_submodule("down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_out.0")
    weight, bias = module.weight.detach().clone(), module.bias.detach().clone()
    match = match_lora(read_lora(file), unet=unet, strength_model=-1.0)
    with applied(unet, match.unet):
        assert torch.allclose(module.weight, weight - diff, atol=1e-6)
        assert torch.allclose(module.bias, bias - diff_b, atol=1e-6)
    assert torch.equal(module.weight, weight) and torch.equal(module.bias, bias)
