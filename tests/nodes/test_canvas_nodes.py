"""Canvas nodes as ComfyUI defines them: outpainting pad and its feathered mask, empty images, total-pixel
scaling, stitching, and the mask and compare previews."""

from pathlib import Path

import pytest
import torch

from graphflow.nodes import image_ops, images
from tests.running import context_for

CTX = context_for(Path("test-run"))


def image(height: int, width: int, batch: int = 1, seed: int = 0) -> torch.Tensor:
    return torch.rand(batch, height, width, 3, generator=torch.Generator().manual_seed(seed))


def comfy_feather(
    height: int, width: int, left: int, top: int, right: int, bottom: int, feathering: int
) -> torch.Tensor:
    """ComfyUI's ImagePadForOutpaint mask over the original picture, written as its per-pixel loop."""
    inner = torch.zeros(height, width)
    if feathering > 0 and feathering * 2 < height and feathering * 2 < width:
        for i in range(height):
            for j in range(width):
                d = min(
                    i if top != 0 else height,
                    height - i if bottom != 0 else height,
                    j if left != 0 else width,
                    width - j if right != 0 else width,
                )
                if d < feathering:
                    inner[i, j] = ((feathering - d) / feathering) ** 2
    return inner


@pytest.mark.parametrize(
    ("left", "top", "right", "bottom", "feathering"),
    [(0, 0, 16, 0, 8), (8, 16, 0, 24, 5), (8, 8, 8, 8, 0), (0, 0, 8, 0, 12), (4, 0, 0, 0, 40)],
)
def test_pad_for_outpaint_matches_comfyui_picture_and_feathered_mask(left, top, right, bottom, feathering):
    picture = image(20, 24, batch=2)
    out = image_ops.PadImageForOutpaint().run(
        CTX, image=picture, left=left, top=top, right=right, bottom=bottom, feathering=feathering
    )
    assert out.result.shape == (2, 20 + top + bottom, 24 + left + right, 3)
    assert out.mask.shape == (1, 20 + top + bottom, 24 + left + right)
    assert torch.equal(out.result[:, top : top + 20, left : left + 24], picture)
    border = torch.ones_like(out.mask[0], dtype=torch.bool)
    border[top : top + 20, left : left + 24] = False
    assert (out.result[:, border] == 0.5).all() and (out.mask[0, border] == 1.0).all()
    expected = comfy_feather(20, 24, left, top, right, bottom, feathering)
    assert torch.equal(out.mask[0, top : top + 20, left : left + 24], expected)


def test_pad_without_padding_returns_the_picture_and_an_empty_mask():
    picture = image(8, 8)
    out = image_ops.PadImageForOutpaint().run(CTX, image=picture, left=0, top=0, right=0, bottom=0, feathering=2)
    assert torch.equal(out.result, picture) and not out.mask.any()


def test_empty_image_has_the_size_batch_and_colour():
    out = image_ops.EmptyImage().run(CTX, width=5, height=3, batch_size=2, color=0xFF8000)
    assert out.shape == (2, 3, 5, 3) and out.dtype == torch.float32
    assert torch.equal(out[1, 2, 4], torch.tensor([1.0, 128 / 255, 0.0]))


@pytest.mark.parametrize(
    ("size", "megapixels", "steps", "expected"),
    [((64, 64), 0.015625, 1, (128, 128)), ((48, 96), 0.01, 1, (72, 145)), ((48, 96), 0.01, 8, (72, 144))],
)
def test_scale_to_total_pixels_keeps_the_aspect_and_rounds_to_steps(size, megapixels, steps, expected):
    out = image_ops.ScaleImageToTotalPixels().run(
        CTX, image=image(*size), method="bilinear", megapixels=megapixels, resolution_steps=steps
    )
    assert out.shape == (1, *expected, 3)


@pytest.mark.parametrize(
    ("direction", "shape", "first"),
    [
        ("right", (1, 6, 10, 3), "one"),
        ("left", (1, 6, 10, 3), "two"),
        ("down", (1, 12, 5, 3), "one"),
        ("up", (1, 12, 5, 3), "two"),
    ],
)
def test_stitch_puts_image2_on_the_asked_side(direction, shape, first):
    one, two = torch.zeros(1, 6, 5, 3), torch.ones(1, 6, 5, 3)
    out = image_ops.StitchImages().run(
        CTX, image1=one, direction=direction, match_image_size=True, spacing_width=0, spacing_color="white", image2=two
    )
    assert out.shape == shape
    assert out[0, 0, 0, 0].item() == (0.0 if first == "one" else 1.0)


def test_stitch_matches_image2_to_image1_height_keeping_its_aspect():
    out = image_ops.StitchImages().run(
        CTX,
        image1=image(8, 8),
        direction="right",
        match_image_size=True,
        spacing_width=0,
        spacing_color="white",
        image2=image(4, 6, seed=1),
    )
    assert out.shape == (1, 8, 8 + 12, 3)


def test_stitch_without_matching_pads_the_smaller_evenly_with_the_spacing_grey_and_spaces_evenly():
    one, two = torch.full((1, 7, 4, 3), 0.3), torch.full((1, 4, 2, 3), 0.6)
    out = image_ops.StitchImages().run(
        CTX, image1=one, direction="right", match_image_size=False, spacing_width=3, spacing_color="black", image2=two
    )
    assert out.shape == (1, 7, 4 + 4 + 2, 3)
    assert (out[0, :, 4:8] == 0.0).all()  # spacing 3 rounded up to 4
    column = out[0, :, 8, 0]
    assert torch.equal(column, torch.tensor([0.0, 0.6, 0.6, 0.6, 0.6, 0.0, 0.0]))  # 1 above, 2 below


def test_stitch_spacing_in_a_colour_and_batches_repeat_their_last_image():
    one, two = image(4, 4, batch=3), image(4, 4, batch=1, seed=2)
    out = image_ops.StitchImages().run(
        CTX, image1=one, direction="down", match_image_size=True, spacing_width=2, spacing_color="red", image2=two
    )
    assert out.shape == (3, 10, 4, 3)
    assert torch.equal(out[:, 4:6], torch.tensor([1.0, 0.0, 0.0]).expand(3, 2, 4, 3))
    assert torch.equal(out[2, 6:], two[0])


def test_stitch_without_image2_returns_image1():
    one = image(3, 3)
    out = image_ops.StitchImages().run(
        CTX, image1=one, direction="up", match_image_size=False, spacing_width=8, spacing_color="blue"
    )
    assert out is one


def test_mask_preview_writes_grey_pictures_to_the_temp_folder(tmp_path):
    ctx = context_for(tmp_path)
    images.PreviewMask().run(ctx, mask=torch.tensor([[[0.0, 1.0]]]).expand(2, 2, 2))
    refs = ctx.ui["images"]
    assert len(refs) == 2 and all(ref["type"] == "temp" for ref in refs)
    assert (tmp_path / "temp" / refs[0]["filename"]).is_file()
    assert not (tmp_path / "output").exists() or not any((tmp_path / "output").iterdir())


def test_compare_shows_each_given_image_under_its_own_key(tmp_path):
    ctx = context_for(tmp_path)
    images.CompareImages().run(ctx, image_a=image(4, 4), image_b=image(4, 4, batch=2))
    assert len(ctx.ui["a_images"]) == 1 and len(ctx.ui["b_images"]) == 2
    only_b = context_for(tmp_path)
    images.CompareImages().run(only_b, image_b=image(4, 4))
    assert "a_images" not in only_b.ui and len(only_b.ui["b_images"]) == 1
