"""Weight patches are added only inside the block and the weights come back bit for bit."""

import pytest
import torch

from graphflow.patches import WeightPatch, applied


def _module(dtype: torch.dtype) -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2)).to(dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_patches_apply_inside_the_block_and_the_weights_return_bit_identical(dtype):
    module = _module(dtype)
    before = {k: v.clone() for k, v in module.state_dict().items()}
    delta = torch.full((3, 4), 0.25)
    patches = [WeightPatch("0.weight", lambda w: delta, 2.0), WeightPatch("0.weight", lambda w: delta, -1.0)]
    with applied(module, patches) as inside:
        assert inside is module
        expected = (before["0.weight"].float() + 2.0 * delta).to(dtype).float() - 0.25
        assert torch.allclose(module[0].weight.float(), expected, atol=1e-2)
        assert torch.equal(module[1].weight, before["1.weight"])
    for key, value in module.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_weights_are_restored_when_the_block_raises():
    module = _module(torch.float32)
    before = module[0].weight.clone()
    with pytest.raises(RuntimeError, match="inside"), applied(module, [WeightPatch("0.weight", torch.ones_like, 1)]):
        raise RuntimeError("inside")
    assert torch.equal(module[0].weight, before)


def test_a_patch_for_a_weight_the_model_lacks_names_it_and_its_source():
    module = _module(torch.float32)
    before = module[0].weight.clone()
    patches = [WeightPatch("0.weight", torch.ones_like, 1), WeightPatch("9.weight", torch.ones_like, 1, "x.sft")]
    with pytest.raises(KeyError, match=r"from x\.sft targets '9\.weight'"), applied(module, patches):
        pass
    assert torch.equal(module[0].weight, before)
