"""Latent editing nodes: upscale (nearest, bilinear, bislerp), composite, blend, batch utilities."""

from pathlib import Path

import pytest
import torch

from graphflow.context import Context
from graphflow.nodes.latent_ops import (
    BatchLatents,
    BlendLatents,
    CompositeLatent,
    LatentFromBatch,
    RepeatLatentBatch,
    UpscaleLatent,
    UpscaleLatentBy,
)
from graphflow.plugins import build_plugins
from graphflow.sampling.latent import Latent
from graphflow.sampling.noise import prepare_noise
from graphflow.sampling.slerp import bislerp
from tests.running import context_for


@pytest.fixture
def ctx(tmp_path: Path) -> Context:
    return context_for(tmp_path, "n")


def randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def test_every_latent_editing_node_is_registered():
    registry = build_plugins(entry_points=False).registry
    assert not registry.problems
    for type_id in (
        "graphflow.latent.upscale",
        "graphflow.latent.upscale_by",
        "graphflow.latent.composite",
        "graphflow.latent.blend",
        "graphflow.latent.batch",
        "graphflow.latent.from_batch",
        "graphflow.latent.repeat_batch",
        "graphflow.inpaint.set_noise_mask",
        "graphflow.inpaint.vae_encode",
        "graphflow.interpolate.invert",
        "graphflow.interpolate.latents",
        "graphflow.interpolate.conditioning",
        "graphflow.interpolate.frames",
        "graphflow.conditioning.class_label",
        "graphflow.image.save_animated",
    ):
        assert type_id in registry.specs, type_id


def test_nearest_upscale_by_two_repeats_each_latent_pixel(ctx):
    samples = randn(1, 4, 3, 5)
    result = UpscaleLatentBy().run(ctx, Latent(samples), "nearest", 2.0).samples
    assert torch.equal(result, samples.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3))


@pytest.mark.parametrize("method", ["nearest", "bilinear", "bislerp"])
def test_upscaling_a_uniform_latent_keeps_it_uniform(ctx, method):
    vector = torch.tensor([0.5, -1.0, 2.0, 0.25]).reshape(1, 4, 1, 1)
    result = UpscaleLatent().run(ctx, Latent(vector.expand(2, 4, 4, 6).clone()), method, 80, 56, "disabled").samples
    assert result.shape == (2, 4, 7, 10)
    assert torch.allclose(result, vector.expand_as(result), atol=1e-6)


def per_pixel_norm(samples: torch.Tensor) -> float:
    return float(samples.norm(dim=1).mean())


def test_bislerp_keeps_the_length_of_noise_vectors_that_bilinear_shrinks(ctx):
    noise = Latent(randn(1, 4, 8, 8))
    slerped = UpscaleLatentBy().run(ctx, noise, "bislerp", 2.0).samples
    averaged = UpscaleLatentBy().run(ctx, noise, "bilinear", 2.0).samples
    assert per_pixel_norm(slerped) == pytest.approx(per_pixel_norm(noise.samples), rel=0.05)
    assert per_pixel_norm(averaged) < 0.85 * per_pixel_norm(noise.samples)


def test_bislerp_at_the_same_size_changes_nothing():
    samples = randn(2, 4, 5, 7)
    assert torch.equal(bislerp(samples, 5, 7), samples)


def test_bislerp_between_two_columns_follows_the_great_circle():
    left, right = torch.tensor([1.0, 0.0, 0.0, 0.0]), torch.tensor([0.0, 1.0, 0.0, 0.0])
    samples = torch.stack([left, right]).T.reshape(1, 4, 1, 2)
    result = bislerp(samples, 1, 4)[0, :, 0]  # output centres at 0, 0.25, 0.75, 1 of the way
    assert torch.allclose(result.norm(dim=0), torch.ones(4), atol=1e-6)
    angle = torch.atan2(result[1], result[0])
    assert torch.allclose(angle, torch.tensor([0.0, 0.25, 0.75, 1.0]) * torch.pi / 2, atol=1e-5)


def test_a_zero_side_keeps_the_aspect_ratio(ctx):
    result = UpscaleLatent().run(ctx, Latent(torch.zeros(1, 4, 4, 8)), "bilinear", 0, 64, "disabled").samples
    assert result.shape[-2:] == (8, 16)


def test_center_crop_takes_the_middle_before_resizing(ctx):
    samples = randn(1, 4, 4, 8)
    result = UpscaleLatent().run(ctx, Latent(samples), "nearest", 32, 32, "center").samples
    assert torch.equal(result, samples[:, :, :, 2:6])


def test_the_noise_mask_follows_an_upscale(ctx):
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., :2] = 1.0
    result = UpscaleLatentBy().run(ctx, Latent(torch.zeros(1, 4, 4, 4), noise_mask=mask), "nearest", 2.0)
    assert result.noise_mask.shape == (1, 1, 8, 8)
    assert float(result.noise_mask[..., :4].min()) == 1.0 and float(result.noise_mask[..., 4:].max()) == 0.0


def test_a_size_that_is_not_a_multiple_of_eight_is_refused(ctx):
    with pytest.raises(ValueError, match="width 100 is not a multiple of 8; use 96 or 104"):
        UpscaleLatent().run(ctx, Latent(torch.zeros(1, 4, 4, 4)), "nearest", 100, 64, "disabled")


def test_composite_pastes_the_source_at_the_pixel_position(ctx):
    result = (
        CompositeLatent()
        .run(ctx, Latent(torch.zeros(1, 4, 8, 8)), Latent(torch.ones(1, 4, 2, 2)), x=16, y=8, feather=0)
        .samples
    )
    expected = torch.zeros(1, 4, 8, 8)
    expected[:, :, 1:3, 2:4] = 1.0
    assert torch.equal(result, expected)


def test_composite_feathers_only_the_edges_inside_the_destination(ctx):
    result = (
        CompositeLatent()
        .run(ctx, Latent(torch.zeros(1, 1, 8, 8)), Latent(torch.ones(1, 1, 8, 4)), x=0, y=16, feather=8)
        .samples[0, 0]
    )
    assert float(result[:2].abs().max()) == 0.0  # above the paste
    assert torch.allclose(result[2, :3], torch.full((3,), 0.5))  # top edge is inside: ramped
    assert torch.allclose(result[4, :3], torch.ones(3))  # left and bottom edges touch the border: not ramped
    assert torch.allclose(result[4, 3], torch.tensor(0.5))  # right edge is inside: ramped


def test_composite_outside_the_destination_is_refused(ctx):
    with pytest.raises(ValueError, match=r"paste position \(64, 0\) pixels lies outside the destination \(64x64\)"):
        CompositeLatent().run(ctx, Latent(torch.zeros(1, 4, 8, 8)), Latent(torch.ones(1, 4, 2, 2)), 64, 0, 0)


def test_blend_mixes_by_the_factor(ctx):
    a, b = randn(1, 4, 4, 4, seed=1), randn(1, 4, 4, 4, seed=2)
    assert torch.allclose(BlendLatents().run(ctx, Latent(a), Latent(b), 0.25).samples, 0.25 * a + 0.75 * b)
    with pytest.raises(ValueError, match="upscale one to the other's size"):
        BlendLatents().run(ctx, Latent(a), Latent(randn(1, 4, 4, 8)), 0.5)


def test_a_batch_gives_each_latent_the_noise_it_would_get_alone(ctx):
    first, second = Latent(randn(1, 4, 4, 4, seed=1)), Latent(randn(2, 4, 4, 4, seed=2))
    batch = BatchLatents().run(ctx, first, second)
    assert torch.equal(batch.samples, torch.cat([first.samples, second.samples]))
    noise = prepare_noise(batch, seed=7)
    assert torch.equal(noise[:1], prepare_noise(first, 7)) and torch.equal(noise[1:], prepare_noise(second, 7))


def test_batching_a_masked_and_an_unmasked_latent_masks_the_second_fully(ctx):
    mask = torch.zeros(1, 1, 4, 4)
    batch = BatchLatents().run(ctx, Latent(torch.zeros(1, 4, 4, 4), noise_mask=mask), Latent(torch.zeros(1, 4, 4, 4)))
    assert torch.equal(batch.noise_mask, torch.cat([mask, torch.ones(1, 1, 4, 4)]))


def test_batching_latents_of_different_sizes_names_the_input(ctx):
    with pytest.raises(ValueError, match="latent 'third' has shape"):
        BatchLatents().run(
            ctx, Latent(torch.zeros(1, 4, 4, 4)), Latent(torch.zeros(1, 4, 4, 4)), third=Latent(torch.zeros(1, 4, 8, 4))
        )


def test_a_latent_taken_from_a_batch_keeps_its_noise(ctx):
    full = Latent(randn(4, 4, 4, 4))
    part = LatentFromBatch().run(ctx, full, batch_index=2, length=2)
    assert torch.equal(part.samples, full.samples[2:]) and part.batch_index == [2, 3]
    assert torch.equal(prepare_noise(part, 5), prepare_noise(full, 5)[2:])


def test_a_batch_index_out_of_range_names_the_batch_size(ctx):
    with pytest.raises(ValueError, match=r"batch_index 4 is out of range: the batch holds 4 latents \(0 to 3\)"):
        LatentFromBatch().run(ctx, Latent(torch.zeros(4, 4, 4, 4)), batch_index=4, length=1)
    with pytest.raises(ValueError, match="at most 1 can be taken"):
        LatentFromBatch().run(ctx, Latent(torch.zeros(4, 4, 4, 4)), batch_index=3, length=2)


def test_repeated_copies_get_their_own_noise(ctx):
    part = Latent(randn(2, 4, 4, 4), batch_index=[2, 3])
    repeated = RepeatLatentBatch().run(ctx, part, amount=3)
    assert repeated.samples.shape[0] == 6 and repeated.batch_index == [2, 3, 4, 5, 6, 7]
    noise = prepare_noise(repeated, 1)
    assert not torch.allclose(noise[:2], noise[2:4])
