"""The image-editing examples run (on the demo model when shipped, else tiny SD1) and do what they promise."""

import numpy as np
import pytest
from PIL import Image

from graphflow.demo.checker import find_objects
from tests.workflows.conftest import INPUTS, correlation, needs_demo, read_frames, read_rgb

REDRAWS = [("img2img", "shapes.png"), ("sketch_to_image", "sketch.png")]


@pytest.mark.parametrize(("example", "source"), REDRAWS)
def test_image_to_image_redraws_its_input_at_its_size(run_example, example, source):
    output = read_rgb(run_example(example))
    original = read_rgb(INPUTS / source)
    assert output.shape == original.shape
    assert np.abs(output - original).mean() > 0.01


@needs_demo
@pytest.mark.parametrize(("example", "source"), REDRAWS)
def test_image_to_image_keeps_its_input_layout(run_example, example, source):
    output, other = read_rgb(run_example(example)), read_rgb(INPUTS / "shapes_b.png")
    assert correlation(output, read_rgb(INPUTS / source)) > correlation(output, other) + 0.2


def test_inpaint_changes_only_the_transparent_region(run_example):
    output = read_rgb(run_example("inpaint"))
    with Image.open(INPUTS / "inpaint.png") as picture:
        rgba = np.asarray(picture.convert("RGBA"))
    kept = rgba[..., 3] == 255
    assert 0 < kept.mean() < 1
    assert np.array_equal(np.round(output[kept] * 255), rgba[..., :3][kept].astype(np.float64))
    assert np.abs(output[~kept] - rgba[..., :3][~kept] / 255.0).mean() > 0.02


def test_hires_fix_doubles_the_size(run_example):
    assert read_rgb(run_example("hires_fix")).shape == (128, 128, 3)


def test_upscale_model_doubles_the_size_with_the_builtin_upscaler(run_example):
    assert read_rgb(run_example("upscale_model")).shape == (128, 128, 3)


def test_interpolate_saves_an_eight_frame_animation(run_example):
    path = run_example("interpolate")
    assert path.suffix == ".webp"
    frames = read_frames(path)
    assert len(frames) == 8 and frames[0].shape == (64, 64, 3)
    assert np.abs(frames[0] - frames[-1]).mean() > 0.01


@needs_demo
def test_interpolate_starts_at_the_first_picture_and_ends_at_the_second(run_example):
    frames = read_frames(run_example("interpolate"))
    first, second = read_rgb(INPUTS / "shapes.png"), read_rgb(INPUTS / "shapes_b.png")
    assert correlation(frames[0], first) > correlation(frames[0], second)
    assert correlation(frames[-1], second) > correlation(frames[-1], first)


@pytest.mark.parametrize("shape", ["circle", "square", "triangle"])
def test_class_conditional_draws_the_shape_it_is_given(run_example, shape):
    objects = find_objects(read_rgb(run_example("class_conditional", **{"shape.class_name": shape})))
    assert objects and objects[0].shape == shape
