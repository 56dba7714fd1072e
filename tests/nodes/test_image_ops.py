"""Image operation nodes: sizes of every resize method and mode, compositing maths, crops and batches."""

from pathlib import Path

import pytest
import torch

from graphflow.nodes import image_ops as nodes
from tests.running import context_for

CTX = context_for(Path("test-run"))
METHODS = ["nearest", "bilinear", "bicubic", "lanczos", "area"]


def image(height: int, width: int, batch: int = 1, seed: int = 0) -> torch.Tensor:
    return torch.rand(batch, height, width, 3, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    ("size", "width", "height", "crop", "expected"),
    [
        ((4, 6), 9, 5, "disabled", (5, 9)),
        ((4, 6), 3, 7, "center", (7, 3)),
        ((10, 20), 0, 5, "disabled", (5, 10)),
        ((10, 20), 8, 0, "center", (4, 8)),
        ((10, 20), 0, 0, "disabled", (10, 20)),
    ],
)
def test_scale_to_gives_the_asked_size_and_zero_keeps_the_aspect_ratio(method, size, width, height, crop, expected):
    out = nodes.ScaleImageTo().run(
        CTX, image=image(*size, batch=2), method=method, width=width, height=height, crop=crop
    )
    assert out.shape == (2, *expected, 3)
    assert out.min() >= 0.0 and out.max() <= 1.0


@pytest.mark.parametrize("method", METHODS)
def test_scale_by_multiplies_both_sides(method):
    assert nodes.ScaleImageBy().run(CTX, image=image(4, 6), method=method, factor=1.5).shape == (1, 6, 9, 3)
    assert nodes.ScaleImageBy().run(CTX, image=image(4, 6), method=method, factor=0.01).shape == (1, 1, 1, 3)


def test_center_crop_keeps_the_middle_of_a_wide_image():
    wide = image(4, 8)
    out = nodes.ScaleImageTo().run(CTX, image=wide, method="nearest", width=4, height=4, crop="center")
    assert torch.equal(out, wide[:, :, 2:6])


def test_nearest_doubles_pixels_and_area_averages_them():
    row = torch.tensor([[[[0.0, 0.0, 0.0], [1.0, 0.5, 0.25]]]])
    doubled = nodes.ScaleImageBy().run(CTX, image=row, method="nearest", factor=2.0)
    assert torch.equal(doubled[0, 0], torch.stack([row[0, 0, 0], row[0, 0, 0], row[0, 0, 1], row[0, 0, 1]]))
    averaged = nodes.ScaleImageTo().run(CTX, image=row, method="area", width=1, height=1, crop="disabled")
    assert torch.allclose(averaged, torch.tensor([[[[0.5, 0.25, 0.125]]]]))


@pytest.mark.parametrize("method", METHODS)
def test_resizing_a_flat_image_keeps_its_colour(method):
    flat = torch.full((1, 5, 7, 3), 0.3)
    out = nodes.ScaleImageTo().run(CTX, image=flat, method=method, width=11, height=3, crop="disabled")
    assert torch.allclose(out, torch.full((1, 3, 11, 3), 0.3), atol=1e-5)


def test_invert_image():
    assert torch.allclose(
        nodes.InvertImage().run(CTX, image=torch.tensor([[[[0.0, 0.25, 1.0]]]])), torch.tensor([[[[1.0, 0.75, 0.0]]]])
    )


def test_composite_blends_through_the_mask_where_the_source_lands():
    destination = torch.zeros(1, 3, 3, 3)
    source = torch.ones(1, 2, 2, 3)
    mask = torch.tensor([[[0.25, 1.0], [0.5, 0.0]]])
    out = nodes.CompositeImages().run(
        CTX, destination=destination, source=source, x=1, y=1, resize_source=False, mask=mask
    )
    expected = torch.tensor([[0, 0, 0], [0, 0.25, 1.0], [0, 0.5, 0.0]])
    assert torch.equal(out[0], expected[..., None].expand(-1, -1, 3))


def test_composite_without_a_mask_pastes_the_source_and_cuts_what_hangs_over():
    destination = torch.zeros(1, 2, 3, 3)
    source = torch.arange(4.0).reshape(1, 2, 2, 1).expand(-1, -1, -1, 3) / 4
    out = nodes.CompositeImages().run(CTX, destination=destination, source=source, x=-1, y=1, resize_source=False)
    expected = torch.tensor([[0, 0, 0], [0.25, 0, 0]])  # source row 0, column 1
    assert torch.equal(out[0, ..., 0], expected)


def test_composite_stretches_a_mask_to_the_source_and_the_source_to_the_destination_when_asked():
    destination = torch.zeros(1, 4, 4, 3)
    out = nodes.CompositeImages().run(
        CTX,
        destination=destination,
        source=torch.ones(1, 2, 2, 3),
        x=0,
        y=0,
        resize_source=True,
        mask=torch.ones(1, 8, 8),
    )
    assert torch.equal(out, torch.ones(1, 4, 4, 3))


def test_composite_names_mismatched_batches():
    with pytest.raises(ValueError, match="destination has 2, source has 3"):
        nodes.CompositeImages().run(
            CTX, destination=image(2, 2, batch=2), source=image(2, 2, batch=3), x=0, y=0, resize_source=False
        )


def test_crop_image():
    picture = image(4, 5)
    assert torch.equal(nodes.CropImage().run(CTX, image=picture, x=3, y=1, width=4, height=2), picture[:, 1:3, 3:5])
    with pytest.raises(ValueError, match="outside the image, which is 5x4"):
        nodes.CropImage().run(CTX, image=picture, x=0, y=4, width=1, height=1)


def test_batch_joins_images_and_resizes_others_to_the_first():
    first, second, third = image(4, 6), image(4, 6, batch=2, seed=1), image(8, 8, seed=2)
    out = nodes.BatchImages().run(CTX, image1=first, image2=second, image3=third)
    assert out.shape == (4, 4, 6, 3)
    assert torch.equal(out[:3], torch.cat([first, second]))


def test_from_batch_picks_a_range_and_names_the_batch_size_when_out_of_range():
    batch = image(2, 2, batch=3)
    assert torch.equal(nodes.ImagesFromBatch().run(CTX, image=batch, index=1, length=2), batch[1:3])
    with pytest.raises(ValueError, match="the batch has 3 images"):
        nodes.ImagesFromBatch().run(CTX, image=batch, index=3, length=1)
    with pytest.raises(ValueError, match="the batch has 3 images"):
        nodes.ImagesFromBatch().run(CTX, image=batch, index=2, length=2)


def test_repeat_batch_puts_copies_one_after_the_other():
    batch = image(2, 2, batch=2)
    assert torch.equal(nodes.RepeatImageBatch().run(CTX, image=batch, amount=3), torch.cat([batch] * 3))
