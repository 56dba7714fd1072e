"""Tiny SD1, SD2 (v-prediction) and SDXL checkpoints run end to end through `graphflow run`, in both layouts."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from graphflow.workflow import load_workflow
from tests.nodes.conftest import FAMILIES, SIZE, STEPS, checkpoint_name, read_pixels, txt2img_args

LAYOUTS = ("file", "folder")


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("family", FAMILIES)
def test_txt2img_workflow_makes_an_image_from_each_family_and_layout(family, layout, graphflow_cli, tmp_path):
    run = graphflow_cli(*txt2img_args(family, checkpoint_name(family, layout), tmp_path / "out"))
    assert run.status == 0, run.stderr
    [saved] = run.saved
    pixels = read_pixels(saved)
    assert pixels.shape == (SIZE, SIZE, 3)
    assert pixels.std() > 1, "the image is flat"


@pytest.mark.parametrize("family", FAMILIES)
def test_single_file_and_diffusers_folder_give_the_same_image(family, graphflow_cli, tmp_path):
    images = []
    for layout in LAYOUTS:
        run = graphflow_cli(*txt2img_args(family, checkpoint_name(family, layout), tmp_path / layout))
        assert run.status == 0, run.stderr
        images.append(read_pixels(run.saved[0]).astype(int))
    assert np.abs(images[0] - images[1]).max() <= 1


@pytest.mark.parametrize("family", ["sd1", "sdxl"])
def test_saved_png_carries_its_workflow_and_reruns_to_the_identical_image(family, graphflow_cli, tmp_path):
    first = graphflow_cli(*txt2img_args(family, checkpoint_name(family, "file"), tmp_path / "first", seed=7))
    assert first.status == 0, first.stderr
    [png] = first.saved

    embedded = load_workflow(png)
    assert embedded.nodes["checkpoint"].inputs["checkpoint"] == checkpoint_name(family, "file")
    assert embedded.nodes["sampler"].inputs["steps"] == STEPS
    assert embedded.nodes["latent"].inputs["width"] == SIZE
    with Image.open(png) as picture:
        assert f"Steps: {STEPS}" in picture.text["parameters"] and "Seed: 7" in picture.text["parameters"]

    again = graphflow_cli("run", png, "--output", tmp_path / "again", "--quiet")
    assert again.status == 0, again.stderr
    [rerun] = again.saved
    assert np.array_equal(read_pixels(rerun), read_pixels(png))


def test_a_different_seed_gives_a_different_image(graphflow_cli, tmp_path: Path):
    images = []
    for seed in (1, 2):
        run = graphflow_cli(*txt2img_args("sd1", checkpoint_name("sd1", "file"), tmp_path / str(seed), seed=seed))
        images.append(read_pixels(run.saved[0]))
    assert not np.array_equal(*images)
