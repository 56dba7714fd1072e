"""The area-composition example draws each prompt in its own half of a picture twice the demo model's width."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from graphflow.demo.checker import find_objects
from graphflow.workflow import parse_workflow
from tests.running import executor_for
from tests.workflows.conftest import WORKFLOWS, needs_demo

SEEDS = (0, 1, 2, 3)


def _decoded(plugins, tmp_path: Path, seed: int, areas: bool = True) -> np.ndarray:
    data = json.loads((WORKFLOWS / "area_composition.json").read_text())
    data["nodes"]["sampler"]["inputs"] |= {"seed": seed, "steps": 12}
    if not areas:  # the same prompts for the whole picture, no areas
        for side in ("left", "right"):
            data["nodes"][f"{side}_area"]["inputs"] |= {"width": 128, "x": 0}
    result = executor_for(plugins, tmp_path).run(parse_workflow(data), targets=["decode"])
    assert result.status == "success", result.error
    image: torch.Tensor = result.outputs["decode"]["image"]
    return image[0].numpy()


def _largest_colour(pixels: np.ndarray) -> str | None:
    found = find_objects(pixels)
    return found[0].colour if found else None


@needs_demo
def test_each_half_shows_its_prompts_colour_over_several_seeds(plugins, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    for seed in SEEDS:
        picture = _decoded(plugins, tmp_path, seed)
        assert picture.shape == (64, 128, 3)
        left, right = _largest_colour(picture[:, :64]), _largest_colour(picture[:, 64:])
        assert (left, right) == ("red", "blue"), f"seed {seed}: left {left}, right {right}"


@needs_demo
def test_without_areas_the_halves_do_not_follow_their_prompts(plugins, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    placed = [
        (_largest_colour(p[:, :64]), _largest_colour(p[:, 64:]))
        for p in (_decoded(plugins, tmp_path, seed, areas=False) for seed in SEEDS)
    ]
    assert placed.count(("red", "blue")) < len(SEEDS)


@pytest.mark.parametrize("node", ["left_area", "right_area"])
def test_the_areas_split_the_picture_in_halves(node: str) -> None:
    data = json.loads((WORKFLOWS / "area_composition.json").read_text())
    inputs, latent = data["nodes"][node]["inputs"], data["nodes"]["latent"]["inputs"]
    assert inputs["width"] * 2 == latent["width"] and inputs["height"] == latent["height"]
