"""Tiled upscaling matches whole-image upscaling, reports each tile, and keeps its memory flat."""

import pytest
import torch

from graphflow.imaging.tiling import edge_ramp, tile_starts
from graphflow.upscale import UpscaleModel

from .tiny import compact_spec, rrdb_spec, tiny_network

SPECS = {"esrgan_x4": rrdb_spec(4), "x2plus": rrdb_spec(2, unshuffle=2), "compact_x2": compact_spec(2)}


def test_tiles_cover_the_length_and_share_the_overlap():
    assert tile_starts(100, 40, 10) == [0, 30, 60]
    assert tile_starts(30, 40, 10) == [0]


def test_ramps_rise_and_fall_only_on_shared_edges():
    assert torch.equal(edge_ramp(5, 2, rise=True, fall=False), torch.tensor([1 / 3, 2 / 3, 1, 1, 1]))
    assert torch.equal(edge_ramp(5, 2, rise=False, fall=True), torch.tensor([1, 1, 1, 2 / 3, 1 / 3]))


@pytest.mark.parametrize("name", list(SPECS))
def test_tiled_upscale_equals_untiled_within_tolerance(name):
    spec = SPECS[name]
    model = UpscaleModel(tiny_network(spec), spec)
    image = torch.rand(1, 41, 50, 3, generator=torch.Generator().manual_seed(0))
    whole = model.upscale(image, tile_size=4096)
    tiled = model.upscale(image, tile_size=32, overlap=24)
    misplaced = model.upscale(image.roll(1, dims=2), tile_size=4096).roll(-spec.scale, dims=2)
    assert tiled.shape == whole.shape
    assert (tiled - whole).abs().max() < 2e-2
    # far closer than the same network's output one input pixel off
    assert (tiled - whole).abs().mean() < 0.25 * (misplaced - whole).abs().mean()


def test_progress_is_reported_once_per_tile_of_every_image():
    model = UpscaleModel(tiny_network(compact_spec(2)), compact_spec(2))
    calls = []
    model.upscale(
        torch.rand(2, 20, 30, 3), tile_size=16, overlap=8, progress=lambda done, total: calls.append((done, total))
    )
    per_image = len(tile_starts(20, 16, 8)) * len(tile_starts(30, 16, 8))
    assert calls == [(i, 2 * per_image) for i in range(1, 2 * per_image + 1)]


def _largest_intermediate(model: UpscaleModel, image: torch.Tensor, tile_size: int) -> int:
    largest = 0

    def record(module, inputs, output):
        nonlocal largest
        largest = max(largest, output.numel())

    hooks = [m.register_forward_hook(record) for m in model.network.modules()]
    try:
        model.upscale(image, tile_size=tile_size, overlap=8)
    finally:
        for hook in hooks:
            hook.remove()
    return largest


@pytest.mark.parametrize("name", ["esrgan_x4", "compact_x2"])
def test_largest_intermediate_tensor_does_not_grow_with_the_image(name):
    model = UpscaleModel(tiny_network(SPECS[name]), SPECS[name])
    small = _largest_intermediate(model, torch.rand(1, 32, 32, 3), tile_size=32)
    large = _largest_intermediate(model, torch.rand(1, 96, 128, 3), tile_size=32)
    untiled = _largest_intermediate(model, torch.rand(1, 96, 128, 3), tile_size=4096)
    assert large == small
    assert untiled >= 12 * small  # the measure does see image size when there is no tiling
