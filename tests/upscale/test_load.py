"""Upscale models load from .safetensors and weights-only .pth files, with clear errors for other files."""

import pytest
import torch
from safetensors.torch import save_file

from graphflow.cache import ModelCache
from graphflow.upscale import NotAnUpscaleModelError, load_upscale_model

from .tiny import compact_spec, in_layout, rrdb_spec, tiny_network

CASES = {
    "x4plus": (rrdb_spec(4), "real-esrgan"),
    "x2plus": (rrdb_spec(2, unshuffle=2), "real-esrgan"),
    "bsrgan": (rrdb_spec(4), "esrgan-trunk"),
    "old_esrgan": (rrdb_spec(4), "esrgan-sequential"),
    "compact": (compact_spec(4), "real-esrgan-compact"),
}


def _save(state, path):
    if path.suffix == ".safetensors":
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    else:
        torch.save(state, path)
    return path


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
@pytest.mark.parametrize("name", list(CASES))
def test_a_saved_model_loads_back_with_its_arch_and_scale_and_same_output(tmp_path, name, suffix):
    spec, layout = CASES[name]
    original = tiny_network(spec)
    path = _save(in_layout(original, spec, layout), tmp_path / f"{name}{suffix}")
    model = load_upscale_model(path, device="cpu", cache=ModelCache())
    assert (model.spec.arch, model.spec.layout, model.scale) == (spec.arch, layout, spec.scale)
    image = torch.rand(1, 8, 8, 3)
    with torch.no_grad():
        expected = original(image.permute(0, 3, 1, 2)).clamp(0, 1).permute(0, 2, 3, 1)
    torch.testing.assert_close(model.upscale(image), expected)


def test_a_loaded_model_is_shared_while_the_file_is_unchanged(tmp_path):
    path = _save(tiny_network(compact_spec(2)).state_dict(), tmp_path / "c.safetensors")
    cache = ModelCache()
    assert load_upscale_model(path, "cpu", cache) is load_upscale_model(path, "cpu", cache)


def test_a_unet_file_is_refused_naming_the_file(tmp_path):
    state = {
        "model.diffusion_model.input_blocks.0.0.weight": torch.randn(8, 4, 3, 3),
        "model.diffusion_model.out.2.weight": torch.randn(4, 8, 3, 3),
    }
    path = _save(state, tmp_path / "sd_unet.safetensors")
    with pytest.raises(
        NotAnUpscaleModelError,
        match=r"sd_unet\.safetensors: not an ESRGAN/RRDBNet .* found keys like "
        r"model\.diffusion_model\.input_blocks",
    ):
        load_upscale_model(path, "cpu", ModelCache())


def test_weights_that_do_not_fit_the_detected_network_are_refused(tmp_path):
    state = tiny_network(rrdb_spec(4)).state_dict()
    del state["conv_hr.weight"]
    path = _save(state, tmp_path / "broken.pth")
    with pytest.raises(NotAnUpscaleModelError, match=r"broken\.pth: looks like ESRGAN/RRDBNet x4 .* do not fit"):
        load_upscale_model(path, "cpu", ModelCache())


def test_a_pickled_object_file_is_not_loaded(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"weights": torch.zeros(1), "extra": object()}, path)
    with pytest.raises(Exception, match="NOT loaded"):
        load_upscale_model(path, "cpu", ModelCache())
