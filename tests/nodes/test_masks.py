"""Mask nodes on hand-made masks give exactly the expected masks."""

from pathlib import Path

import pytest
import torch

from graphflow.imaging.masks import gaussian_kernel
from graphflow.nodes import masks as nodes
from graphflow.plugins import build_plugins
from graphflow.workflow import parse_workflow
from tests.running import context_for, executor_for

CTX = context_for(Path("test-run"))


def t(rows) -> torch.Tensor:
    """A one-item MASK batch from nested lists."""
    return torch.tensor(rows, dtype=torch.float32)[None]


def test_solid_mask_has_the_size_and_value():
    assert torch.equal(nodes.SolidMask().run(CTX, value=0.25, width=3, height=2), torch.full((1, 2, 3), 0.25))


def test_image_channel_becomes_the_mask():
    image = torch.tensor([[[[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]]])
    assert torch.equal(nodes.ImageToMask().run(CTX, image=image, channel="green"), t([[0.2, 0.5]]))


def test_alpha_of_an_rgba_image_is_read_and_of_an_rgb_image_is_a_clear_error():
    rgba = torch.tensor([[[[0.1, 0.2, 0.3, 0.75]]]])
    assert torch.equal(nodes.ImageToMask().run(CTX, image=rgba, channel="alpha"), t([[0.75]]))
    with pytest.raises(ValueError, match="3 channels, so it has no alpha channel"):
        nodes.ImageToMask().run(CTX, image=rgba[..., :3], channel="alpha")


def test_colour_mask_marks_exactly_matching_pixels():
    image = torch.tensor([[[[1.0, 0.0, 0.0], [1.0, 0.0, 0.01], [0.0, 0.0, 0.0]]]])
    assert torch.equal(nodes.ImageColorToMask().run(CTX, image=image, color=0xFF0000), t([[1.0, 0.0, 0.0]]))


def test_mask_to_image_repeats_the_mask_in_every_channel():
    image = nodes.MaskToImage().run(CTX, mask=t([[0.0, 0.5]]))
    assert torch.equal(image, torch.tensor([[[[0.0, 0.0, 0.0], [0.5, 0.5, 0.5]]]]))


def test_threshold_and_invert():
    mask = t([[0.2, 0.5, 0.7]])
    assert torch.equal(nodes.ThresholdMask().run(CTX, mask=mask, value=0.5), t([[0.0, 0.0, 1.0]]))
    assert torch.allclose(nodes.InvertMask().run(CTX, mask=mask), t([[0.8, 0.5, 0.3]]))


DOT = t([[0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 1, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]])


@pytest.mark.parametrize(
    ("pixels", "tapered", "expected"),
    [
        (1, True, [[0, 0, 0, 0, 0], [0, 0, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 0, 0], [0, 0, 0, 0, 0]]),
        (1, False, [[0, 0, 0, 0, 0], [0, 1, 1, 1, 0], [0, 1, 1, 1, 0], [0, 1, 1, 1, 0], [0, 0, 0, 0, 0]]),
        (2, True, [[0, 0, 1, 0, 0], [0, 1, 1, 1, 0], [1, 1, 1, 1, 1], [0, 1, 1, 1, 0], [0, 0, 1, 0, 0]]),
        (2, False, [[1] * 5] * 5),
    ],
)
def test_grow_makes_diamonds_with_tapered_corners_and_squares_without(pixels, tapered, expected):
    assert torch.equal(nodes.GrowMask().run(CTX, mask=DOT, pixels=pixels, tapered_corners=tapered), t(expected))


@pytest.mark.parametrize("tapered", [True, False])
def test_negative_grow_shrinks_a_square_to_its_centre(tapered):
    square = nodes.GrowMask().run(CTX, mask=DOT, pixels=1, tapered_corners=False)
    assert torch.equal(nodes.GrowMask().run(CTX, mask=square, pixels=-1, tapered_corners=tapered), DOT)


def test_shrinking_does_not_eat_in_from_the_image_border():
    full = torch.ones(1, 4, 4)
    assert torch.equal(nodes.GrowMask().run(CTX, mask=full, pixels=-2, tapered_corners=False), full)


def test_feather_ramps_each_edge_and_multiplies_in_corners():
    out = nodes.FeatherMask().run(CTX, mask=torch.ones(1, 3, 4), left=2, top=3, right=0, bottom=0, blur_radius=0)
    rows = torch.tensor([1 / 3, 2 / 3, 1.0])
    cols = torch.tensor([0.5, 1.0, 1.0, 1.0])
    assert torch.allclose(out[0], rows[:, None] * cols[None, :])
    right = nodes.FeatherMask().run(CTX, mask=torch.ones(1, 1, 4), left=0, top=0, right=4, bottom=0, blur_radius=0)
    assert torch.allclose(right, t([[1.0, 0.75, 0.5, 0.25]]))


def test_feather_blur_spreads_a_dot_as_a_gaussian_with_sigma_a_third_of_the_radius():
    dot = torch.zeros(1, 9, 9)
    dot[0, 4, 4] = 1.0
    out = nodes.FeatherMask().run(CTX, mask=dot, left=0, top=0, right=0, bottom=0, blur_radius=3)
    weights = torch.exp(-0.5 * torch.arange(-3.0, 4.0) ** 2)  # sigma 1
    weights /= weights.sum()
    expected = torch.zeros(9, 9)
    expected[1:8, 1:8] = weights[:, None] * weights[None, :]
    assert torch.allclose(out[0], expected, atol=1e-7)
    assert torch.allclose(gaussian_kernel(3), weights)


def test_blurring_a_full_mask_keeps_it_full():
    full = torch.ones(1, 5, 6)
    out = nodes.FeatherMask().run(CTX, mask=full, left=0, top=0, right=0, bottom=0, blur_radius=4)
    assert torch.allclose(out, full)


@pytest.mark.parametrize(
    ("operation", "expected"),
    [
        ("multiply", [0.6, 0.12, 0.54]),
        ("add", [0.6, 0.8, 1.0]),
        ("subtract", [0.6, 0.4, 0.0]),
        ("min", [0.6, 0.2, 0.6]),
        ("max", [0.6, 0.6, 0.9]),
        ("and", [0.6, 0.0, 1.0]),
        ("or", [0.6, 1.0, 1.0]),
        ("xor", [0.6, 1.0, 0.0]),
    ],
)
def test_composite_operations_apply_only_under_the_source(operation, expected):
    out = nodes.CompositeMasks().run(
        CTX, destination=t([[0.6, 0.6, 0.6]]), source=t([[0.2, 0.9]]), x=1, y=0, operation=operation
    )
    assert torch.allclose(out, t([expected]))


def test_composite_cuts_a_source_hanging_over_any_edge():
    destination = torch.zeros(1, 2, 3)
    source = t([[0.1, 0.2], [0.3, 0.4]])
    out = nodes.CompositeMasks().run(CTX, destination=destination, source=source, x=-1, y=1, operation="add")
    assert torch.allclose(out, t([[0, 0, 0], [0.2, 0, 0]]))
    far = nodes.CompositeMasks().run(CTX, destination=destination, source=source, x=3, y=0, operation="add")
    assert torch.equal(far, destination)


def test_composite_broadcasts_a_single_mask_and_names_mismatched_batches():
    out = nodes.CompositeMasks().run(
        CTX, destination=torch.zeros(3, 2, 2), source=torch.ones(1, 1, 1), x=0, y=0, operation="max"
    )
    assert out.shape == (3, 2, 2) and torch.equal(out[:, 0, 0], torch.ones(3))
    with pytest.raises(ValueError, match="destination has 2, source has 3"):
        nodes.CompositeMasks().run(
            CTX, destination=torch.zeros(2, 2, 2), source=torch.ones(3, 2, 2), x=0, y=0, operation="add"
        )


def test_crop_cuts_at_the_far_edges_and_refuses_to_start_outside():
    mask = torch.arange(12.0).reshape(1, 3, 4)
    assert torch.equal(nodes.CropMask().run(CTX, mask=mask, x=1, y=1, width=2, height=5), mask[:, 1:, 1:3])
    with pytest.raises(ValueError, match="starts outside the mask, which is 4x3"):
        nodes.CropMask().run(CTX, mask=mask, x=4, y=0, width=1, height=1)


def test_mask_nodes_run_in_a_workflow(tmp_path):
    executor = executor_for(build_plugins(entry_points=False), tmp_path)
    workflow = parse_workflow(
        {
            "format": "graphflow.workflow",
            "version": 1,
            "nodes": {
                "solid": {"type": "graphflow.mask.solid", "inputs": {"value": 1.0, "width": 6, "height": 4}},
                "crop": {
                    "type": "graphflow.mask.crop",
                    "inputs": {"x": 0, "y": 0, "width": 2, "height": 2},
                    "links": {"mask": {"node": "solid", "output": "mask"}},
                },
                "blank": {"type": "graphflow.mask.solid", "inputs": {"value": 0.0, "width": 6, "height": 4}},
                "paste": {
                    "type": "graphflow.mask.composite",
                    "inputs": {"x": 2, "y": 1, "operation": "add"},
                    "links": {
                        "destination": {"node": "blank", "output": "mask"},
                        "source": {"node": "crop", "output": "result"},
                    },
                },
                "image": {"type": "graphflow.mask.to_image", "links": {"mask": {"node": "paste", "output": "result"}}},
            },
        }
    )
    result = executor.run(workflow, targets=["image"])
    assert result.status == "success", result.error
    expected = torch.zeros(1, 4, 6)
    expected[:, 1:3, 2:4] = 1.0
    assert torch.equal(result.outputs["image"]["image"], expected[..., None].expand(-1, -1, -1, 3))
