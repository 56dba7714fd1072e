"""The history's run summary: prompt, seed and input pictures read from a stored workflow."""

from __future__ import annotations

import json

import pytest

from graphflow.plugins import build_plugins
from graphflow.registry import Registry
from graphflow.resources import example_workflow
from graphflow.server.run_summary import run_summary
from tests.server.helpers import submit, wait_finished, workflow


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    """The built-in nodes."""
    return build_plugins(tmp_path_factory.mktemp("plugins"), entry_points=False).registry


def example(name: str) -> dict:
    return json.loads(example_workflow(name).read_text())


def test_a_txt2img_summary_names_the_positive_prompt_and_the_seed(registry):
    assert run_summary(example("txt2img"), registry) == {
        "prompt": "a large red triangle at the top",
        "seed": 42,
        "input_images": [],
    }


def test_the_prompt_is_the_one_the_sampler_takes_as_positive_even_when_another_comes_first(registry):
    wf = example("txt2img")
    nodes = wf["nodes"]
    wf["nodes"] = {"negative": nodes.pop("negative") | {"inputs": {"text": "blurry"}}, **nodes}
    assert run_summary(wf, registry)["prompt"] == "a large red triangle at the top"


def test_an_img2img_summary_lists_its_input_picture(registry):
    assert run_summary(example("img2img"), registry)["input_images"] == ["shapes.png"]


def test_unknown_node_types_and_missing_values_give_an_empty_summary(registry):
    wf = {"format": "graphflow.workflow", "version": 1, "nodes": {"x": {"type": "nowhere.node", "inputs": {"seed": 3}}}}
    assert run_summary(wf, registry) == {"prompt": None, "seed": None, "input_images": []}


async def test_history_items_carry_their_summary(client):
    answer = await submit(client, workflow(label="pic"))
    await wait_finished(client, answer["prompt_id"])
    body = await (await client.get("/api/history")).json()
    assert body["items"][0]["summary"] == {"prompt": None, "seed": None, "input_images": []}
