"""The shipped shapes-world x2 upscaler: offered as builtin:shapes-x2, small, and better than bicubic."""

import pytest

from graphflow.demo.upscaler import DEFAULT_FILE, bicubic, pairs, psnr
from graphflow.models.builtin import resolve_upscale_model, upscale_model_choices
from graphflow.upscale import load_upscale_model


def test_the_upscale_loader_offers_the_builtin_model_first(tmp_path):
    assert upscale_model_choices(tmp_path)[0] == "builtin:shapes-x2"
    assert resolve_upscale_model(tmp_path, "builtin:shapes-x2") == DEFAULT_FILE


def test_an_unknown_builtin_upscaler_names_the_available_ones(tmp_path):
    with pytest.raises(FileNotFoundError, match="builtin:shapes-x2"):
        resolve_upscale_model(tmp_path, "builtin:nope")


def test_the_builtin_upscaler_is_a_small_compact_x2_network():
    model = load_upscale_model(DEFAULT_FILE, device="cpu")
    assert (model.spec.arch, model.scale) == ("compact", 2)
    assert DEFAULT_FILE.stat().st_size < 1 << 20


@pytest.mark.parametrize("size", [64, 128])
def test_the_builtin_upscaler_beats_bicubic_on_unseen_scenes(size: int):
    low, high = pairs(8, seed=99, size=size)
    model = load_upscale_model(DEFAULT_FILE, device="cpu")
    upscaled = model.upscale(low.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
    assert psnr(upscaled, high) > psnr(bicubic(low), high) + 3.0
