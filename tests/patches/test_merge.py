"""Merges as weight patches: ComfyUI's keep * own + take * other on shared weights, nothing changed for good."""

import itertools

import pytest
import torch

from graphflow.patches import WeightPatch, applied
from graphflow.patches.merge import MergeError, blocks_coefficients, merge_patches, unet_block
from tests.sampling.helpers import tiny_unet


def _module(seed: int, widths: tuple[int, ...] = (4, 3, 2)) -> torch.nn.Module:
    torch.manual_seed(seed)
    layers = [torch.nn.Linear(a, b) for a, b in itertools.pairwise(widths)]
    return torch.nn.Sequential(*layers)


def _weights(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


@pytest.mark.parametrize(("keep", "take"), [(0.3, 0.7), (1.0, 1.0), (2.0, -2.0), (0.0, 1.0)])
def test_each_shared_weight_becomes_keep_times_own_plus_take_times_other(keep, take):
    base, other = _module(0), _module(1)
    before, theirs = _weights(base), _weights(other)
    plan = merge_patches(base, other, lambda _: (keep, take))
    assert plan.merged == 4 and not plan.only_in_other and not plan.mismatched
    with applied(base, plan.patches):
        for key, value in base.state_dict().items():
            assert torch.allclose(value, keep * before[key] + take * theirs[key], atol=1e-6), key
    for key, value in base.state_dict().items():
        assert torch.equal(value, before[key]), key
    for key, value in other.state_dict().items():
        assert torch.equal(value, theirs[key]), key


def test_a_ratio_of_one_gives_no_patches_at_all():
    assert merge_patches(_module(0), _module(1), lambda _: (1.0, 0.0)).patches == ()


def test_weights_only_one_model_has_or_of_other_shapes_stay_as_they_are():
    base, other = _module(0, (4, 3, 2)), _module(1, (4, 3, 5, 2))
    before = _weights(base)
    plan = merge_patches(base, other, lambda _: (0.5, 0.5))
    assert plan.merged == 2
    assert set(plan.only_in_other) == {"2.weight", "2.bias"}
    assert set(plan.mismatched) == {"1.weight", "1.bias"}
    with applied(base, plan.patches):
        assert torch.equal(base[1].weight, before["1.weight"])
        assert not torch.equal(base[0].weight, before["0.weight"])


def test_models_sharing_nothing_cannot_be_merged():
    with pytest.raises(MergeError, match="shares no weight"):
        merge_patches(_module(0, (4, 3)), _module(1, (5, 6)), lambda _: (0.5, 0.5), source="model2")


def test_the_other_models_own_patches_count_as_its_weights():
    base, other = _module(0), _module(1)
    before, theirs = _weights(base), _weights(other)
    lora = WeightPatch("0.weight", lambda w: torch.ones_like(w), 0.5)
    plan = merge_patches(base, other, lambda _: (0.0, 1.0), other_patches=[lora])
    with applied(base, plan.patches):
        assert torch.allclose(base[0].weight, theirs["0.weight"] + 0.5)
        assert torch.allclose(base[1].weight, theirs["1.weight"])
    assert torch.equal(base[0].weight, before["0.weight"])


def test_a_patched_model_merged_with_itself_mixes_with_the_unpatched_weights():
    module = _module(0)
    before = _weights(module)
    own = WeightPatch("0.weight", lambda w: torch.ones_like(w), 1.0)
    plan = merge_patches(module, module, lambda _: (0.5, 0.5))
    with applied(module, [own, *plan.patches]):
        assert torch.allclose(module[0].weight, before["0.weight"] + 0.5)  # half of (w + 1) plus half of w
    assert torch.equal(module[0].weight, before["0.weight"])


def test_unet_blocks_are_named_as_model_merge_blocks_names_them():
    unet = tiny_unet()
    blocks = {unet_block(key) for key, _ in unet.named_parameters()}
    assert blocks == {"input", "middle", "out", ""}
    assert unet_block("conv_in.weight") == "input" and unet_block("conv_out.bias") == "out"
    assert unet_block("time_embedding.linear_1.weight") == ""
    coefficients = blocks_coefficients(0.1, 0.2, 0.3)
    assert coefficients("mid_block.resnets.0.conv1.weight") == (0.2, 0.8)
    assert coefficients("up_blocks.1.resnets.0.conv1.weight") == (0.3, 0.7)
    assert coefficients("time_embedding.linear_1.weight") == (0.1, 0.9)
