import numpy as np
import pytest
from scipy import ndimage

from graphflow.demo.checker import check, find_objects, score
from graphflow.demo.world import Scene, Thing, caption, dataset, render


def test_checker_reads_every_attribute_of_real_dataset_images():
    data = dataset(120, seed=11)
    images = [image for _, image in data]
    result = score(images, [caption(scene) for scene, _ in data])
    assert all(value == 1.0 for value in result.values()), result
    assert {"colour", "shape", "two_colour", "two_shape"} <= set(result)


@pytest.mark.parametrize("shape", ["circle", "square", "triangle"])
@pytest.mark.parametrize("size", ["small", "large"])
def test_shape_is_told_apart_at_both_sizes(shape, size):
    r = {"small": 6.5, "large": 12.0}[size]
    scene = Scene((240, 240, 240), (Thing(shape, "purple", "center", size, 32.0, 32.0, r),))
    (found,) = find_objects(render(scene))
    assert (found.shape, found.size, found.position, found.colour) == (shape, size, "center", "purple")


def test_a_wrong_prompt_is_caught_attribute_by_attribute():
    scene = Scene((240, 240, 240), (Thing("circle", "red", "left", "large", 17.0, 32.0, 12.0),))
    result = check(render(scene), "a small blue circle on the left")
    assert result == {"colour": False, "position": True, "shape": True, "size": False, "count": True, "all": False}


def test_an_empty_image_fails_every_stated_attribute():
    blank = np.full((64, 64, 3), 0.95, dtype=np.float32)
    result = check(blank, "a red square and a blue circle")
    assert not any(result.values())


def test_two_thing_prompts_match_things_in_any_order():
    scene = Scene(
        (240, 240, 240),
        (
            Thing("circle", "red", "left", "large", 17.0, 32.0, 12.0),
            Thing("square", "yellow", "right", "small", 47.0, 32.0, 6.5),
        ),
    )
    assert check(render(scene), "a yellow square and a red circle")["all"]


def test_score_refuses_mismatched_lengths():
    with pytest.raises(ValueError, match="2 images for 1 prompts"):
        score([np.zeros((8, 8, 3))] * 2, ["a red circle"])


def test_touching_things_of_different_colours_are_read_separately():
    scene = Scene(
        (240, 240, 240),
        (
            Thing("triangle", "yellow", "top", "large", 32.0, 19.0, 12.0),
            Thing("circle", "blue", "bottom", "large", 32.0, 43.0, 12.0),
        ),
    )
    result = check(render(scene), "a large yellow triangle at the top and a large blue circle at the bottom")
    assert result["all"] and result["count"]


def test_blurred_edges_keep_their_objects_colour():
    scene = Scene((240, 240, 240), (Thing("square", "blue", "center", "large", 32.0, 32.0, 12.0),))
    blurred = ndimage.uniform_filter(np.asarray(render(scene), dtype=np.float32) / 255, size=(5, 5, 1))
    assert [(f.colour, f.shape) for f in find_objects(blurred)] == [("blue", "square")]
