"""Architecture, scale and sizes are read back from weights in every layout real files use."""

import pytest
import torch

from graphflow.upscale import NotAnUpscaleModelError, UpscaleModel, build, detect

from .tiny import compact_spec, in_layout, rrdb_spec, tiny_network

RRDB_SPECS = {
    "x4": rrdb_spec(4),
    "x2plus": rrdb_spec(2, unshuffle=2),
    "x1": rrdb_spec(1, unshuffle=4),
    "bsrgan_x2": rrdb_spec(2, blocks=2),
}
LAYOUTS = ("real-esrgan", "esrgan-trunk", "esrgan-sequential")


def _same_network(a, b, image):
    with torch.no_grad():
        return torch.equal(a(image), b(image))


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name", list(RRDB_SPECS))
def test_rrdbnet_is_detected_in_each_layout_and_computes_the_same(name, layout):
    spec = RRDB_SPECS[name]
    original = tiny_network(spec)
    found, weights = detect(in_layout(original, spec, layout))
    assert (found.arch, found.layout, found.scale, found.unshuffle) == ("esrgan", layout, spec.scale, spec.unshuffle)
    assert (found.features, found.growth, found.blocks) == (spec.features, spec.growth, spec.blocks)
    assert found.in_channels == found.out_channels == 3
    rebuilt = build(found)
    rebuilt.load_state_dict(weights)
    assert _same_network(original, rebuilt.eval(), torch.rand(1, 3, 12, 16))


@pytest.mark.parametrize("scale", [1, 2, 4])
def test_compact_net_is_detected_with_its_scale_and_depth(scale):
    spec = compact_spec(scale, blocks=3)
    found, weights = detect(tiny_network(spec).state_dict())
    assert (found.arch, found.scale, found.blocks, found.features) == ("compact", scale, 3, spec.features)
    assert set(weights) == set(tiny_network(spec).state_dict())


def test_keys_saved_from_a_wrapped_network_are_read():
    spec = rrdb_spec(4)
    wrapped = {f"module.{k}": v for k, v in tiny_network(spec).state_dict().items()}
    assert detect(wrapped)[0].scale == 4


@pytest.mark.parametrize(
    "spec",
    [rrdb_spec(4), rrdb_spec(2, unshuffle=2), rrdb_spec(1, unshuffle=4), compact_spec(2)],
    ids=["x4", "x2plus", "x1", "compact_x2"],
)
def test_output_is_scale_times_larger_even_for_odd_sizes(spec):
    model = UpscaleModel(tiny_network(spec), spec)
    out = model.upscale(torch.rand(2, 7, 9, 3))
    assert out.shape == (2, 7 * spec.scale, 9 * spec.scale, 3)
    assert out.min() >= 0.0 and out.max() <= 1.0


def test_a_diffusion_unet_is_refused_with_the_keys_it_has():
    from diffusers import UNet2DModel

    unet = UNet2DModel(
        sample_size=8,
        block_out_channels=(8, 16),
        norm_num_groups=4,
        layers_per_block=1,
        down_block_types=("DownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "UpBlock2D"),
    )
    with pytest.raises(
        NotAnUpscaleModelError,
        match=r"not an ESRGAN/RRDBNet or Real-ESRGAN compact state dict: "
        r"found keys like conv_in\.weight",
    ):
        detect(unet.state_dict())


def test_a_compact_net_without_prelu_is_refused():
    state = tiny_network(compact_spec(2)).state_dict()
    del state["body.1.weight"]
    with pytest.raises(NotAnUpscaleModelError, match="without PReLU"):
        detect(state)
