"""Hypernetwork files (A1111's .pt, graphflow's .safetensors) and their hooks on a tiny U-Net's attention."""

import copy
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from diffusers.models.attention_processor import Attention
from safetensors.torch import save_file

from graphflow.models.files import UnsafeCheckpointError
from graphflow.patches.hypernetwork import HypernetworkFormatError, read_hypernetwork
from graphflow.patches.hypernetwork_hooks import HypernetworkPatch, count_hooked, hooked
from tests.sampling.helpers import text, tiny_model, tiny_unet

CONTEXT = 12  # the tiny U-Net's text width; its blocks are 8 and 16 wide


def _layers(width: int, seed: int, layer_norm: bool, bias: bool = True) -> dict[str, torch.Tensor]:
    """One network as A1111 stores it: Linear(w, 2w), [activation], [LayerNorm], Linear(2w, w), [LayerNorm]."""
    generator = torch.Generator().manual_seed(seed)
    randn = lambda *shape: torch.randn(*shape, generator=generator) * 0.3
    zero_or = lambda tensor: tensor if bias else torch.zeros_like(tensor)
    state = {"linear.0.weight": randn(2 * width, width), "linear.0.bias": zero_or(randn(2 * width))}
    if layer_norm:
        state |= {"linear.2.weight": 1 + randn(2 * width), "linear.2.bias": randn(2 * width)}
        state |= {"linear.3.weight": randn(width, 2 * width), "linear.3.bias": randn(width)}
        state |= {"linear.4.weight": 1 + randn(width), "linear.4.bias": randn(width)}
    else:
        state |= {"linear.1.weight": randn(width, 2 * width), "linear.1.bias": zero_or(randn(width))}
    return state


def a1111_file(path: Path, widths=(CONTEXT, 8), activation="linear", layer_norm=False, bias=True, **options) -> Path:
    """Write a hand-made hypernetwork in A1111's .pt layout."""
    data: dict = {w: [_layers(w, 2 * w, layer_norm, bias), _layers(w, 2 * w + 1, layer_norm, bias)] for w in widths}
    data |= {"layer_structure": [1, 2, 1], "activation_func": activation, "is_layer_norm": layer_norm}
    data |= {"use_dropout": False, "activate_output": False, "name": path.stem, "sd_checkpoint_name": "tiny"}
    torch.save({**data, **options}, path)
    return path


def test_an_a1111_file_reads_as_one_key_and_one_value_network_per_width(tmp_path):
    hypernetwork = read_hypernetwork(a1111_file(tmp_path / "h.pt", activation="relu", layer_norm=True))
    assert hypernetwork.widths == (8, CONTEXT) and hypernetwork.activation == "relu"
    state = _layers(CONTEXT, 2 * CONTEXT, layer_norm=True)
    x = torch.randn(3, CONTEXT)
    hidden = F.layer_norm(
        F.relu(F.linear(x, state["linear.0.weight"], state["linear.0.bias"])),
        (2 * CONTEXT,),
        state["linear.2.weight"],
        state["linear.2.bias"],
    )
    expected = F.layer_norm(
        F.linear(hidden, state["linear.3.weight"], state["linear.3.bias"]),
        (CONTEXT,),
        state["linear.4.weight"],
        state["linear.4.bias"],
    )
    keys, values = hypernetwork.layers[CONTEXT]
    assert torch.allclose(keys(x), expected, atol=1e-6)
    assert not torch.allclose(values(x), expected)


def test_the_activation_follows_the_last_layer_only_with_activate_output(tmp_path):
    plain = read_hypernetwork(a1111_file(tmp_path / "a.pt", activation="tanh"))
    activated = read_hypernetwork(a1111_file(tmp_path / "b.pt", activation="tanh", activate_output=True))
    x = torch.randn(2, 8)
    assert torch.allclose(activated.layers[8][0](x), torch.tanh(plain.layers[8][0](x)))


def test_a_safetensors_file_in_graphflows_layout_reads_the_same(tmp_path):
    pt = read_hypernetwork(a1111_file(tmp_path / "h.pt", activation="elu"))
    tensors = {
        f"{width}.{index}.{name}": value
        for width in (CONTEXT, 8)
        for index in (0, 1)
        for name, value in _layers(width, 2 * width + index, layer_norm=False).items()
    }
    save_file(tensors, str(tmp_path / "h.safetensors"), metadata={"activation_func": json.dumps("elu")})
    sft = read_hypernetwork(tmp_path / "h.safetensors")
    x = torch.randn(2, 8)
    assert torch.equal(sft.layers[8][1](x), pt.layers[8][1](x))


def test_unsupported_activation_and_pickled_code_are_refused_naming_the_file(tmp_path):
    with pytest.raises(HypernetworkFormatError, match=r"odd\.pt: activation 'swoosh' is not supported"):
        read_hypernetwork(a1111_file(tmp_path / "odd.pt", activation="swoosh"))
    torch.save({768: [torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)]}, tmp_path / "code.pt")
    with pytest.raises(UnsafeCheckpointError, match=r"code\.pt needs full pickle"):
        read_hypernetwork(tmp_path / "code.pt")
    torch.save({CONTEXT: [_layers(8, 0, False), _layers(8, 1, False)]}, tmp_path / "wrong.pt")
    with pytest.raises(HypernetworkFormatError, match="under width 12 take width 8"):
        read_hypernetwork(tmp_path / "wrong.pt")


def _unet_output(unet: torch.nn.Module, context: torch.Tensor) -> torch.Tensor:
    x = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        return unet(x, torch.tensor([500.0]), encoder_hidden_states=context).sample


def test_hooks_change_the_keys_and_values_each_attention_reads_exactly_as_folded_weights_would(tmp_path):
    """A linear hypernetwork without biases is x -> (I + s B A) x: the same as folding it into to_k and to_v."""
    hypernetwork = read_hypernetwork(a1111_file(tmp_path / "h.pt", bias=False))
    unet, context, strength = tiny_unet(CONTEXT), text(1, width=CONTEXT).context, 0.7
    folded = copy.deepcopy(unet)
    seen = 0
    for module in folded.modules():
        if isinstance(module, Attention):
            for projection, index in ((module.to_k, 0), (module.to_v, 1)):
                pair = hypernetwork.layers.get(projection.in_features)
                if pair is None:  # the 16-wide middle block's self-attention
                    continue
                net = pair[index]
                change = net[1].weight @ net[0].weight
                projection.weight.data = projection.weight.data @ (torch.eye(change.shape[0]) + strength * change)
                seen += 1
    assert seen == count_hooked(unet, hypernetwork) == 14  # all but the middle block's self-attention
    before = _unet_output(unet, context)
    with hooked(unet, [HypernetworkPatch(hypernetwork, strength)]):
        inside = _unet_output(unet, context)
    assert torch.allclose(inside, _unet_output(folded, context), atol=1e-5)
    assert not torch.allclose(inside, before)
    assert torch.equal(_unet_output(unet, context), before)
    assert all(not module._forward_pre_hooks for module in unet.modules())


def test_a_model_carries_its_hypernetworks_into_sampling_only(tmp_path):
    hypernetwork = read_hypernetwork(a1111_file(tmp_path / "h.pt", activation="relu"))
    model = tiny_model(cross_attention_dim=CONTEXT)
    hooked_model = model.with_hooks([HypernetworkPatch(hypernetwork, 1.0)])
    twice = hooked_model.with_patches(()).with_hooks([HypernetworkPatch(hypernetwork, -1.0)])
    assert len(twice.hooks) == 2 and twice.unet is model.unet
    context = text(1, width=CONTEXT).context
    before = _unet_output(model.unet, context)
    with hooked_model.active_unet() as unet:
        assert not torch.allclose(_unet_output(unet, context), before)
    with model.active_unet() as unet:
        assert torch.equal(_unet_output(unet, context), before)
