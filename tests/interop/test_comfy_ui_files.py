"""ComfyUI UI-format files as ComfyUI writes them: the classic default workflow (whatever its "control after
generate" slot holds), subgraphs and group nodes expanded to their inner nodes, and PNGs whose `workflow`
chunk holds nodes graphflow does not know."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, PngImagePlugin

from graphflow.graph import validate
from graphflow.interop import ComfyImportError, load_any, to_workflow
from graphflow.interop.comfy_ui import name_widgets, ui_to_api
from tests.interop.conftest import DATA

DEFAULT = DATA / "default_workflow_ui.json"
SUBGRAPH = DATA / "subgraph_ui.json"
GROUP_NODE = DATA / "group_node_ui.json"


def _read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def _png(path: Path, **chunks: Any) -> Path:
    info = PngImagePlugin.PngInfo()
    for key, value in chunks.items():
        info.add_text(key, json.dumps(value))
    Image.new("RGB", (8, 8)).save(path, pnginfo=info)
    return path


@pytest.mark.parametrize("control", [True, False, "randomize", "fixed", "increment", "decrement"])
def test_the_classic_default_workflow_imports_and_validates_whatever_its_control_slot_holds(
    control, plugins, settings, tmp_path
):
    data = _read(DEFAULT)
    sampler = next(n for n in data["nodes"] if n["type"] == "KSampler")
    sampler["widgets_values"][1] = control
    (tmp_path / "default.json").write_text(json.dumps(data))
    workflow = load_any(tmp_path / "default.json", plugins.registry)
    assert validate(workflow, plugins.registry, settings) == []
    inputs = workflow.nodes["3"].inputs
    assert (inputs["seed"], inputs["steps"], inputs["cfg"]) == (156680208700286, 20, 8)
    assert (inputs["sampler_name"], inputs["scheduler"], inputs["denoise"]) == ("euler", "normal", 1)
    assert workflow.nodes["5"].inputs == {"width": 512, "height": 512, "batch_size": 1}


def test_a_widget_list_without_the_control_slot_is_read_as_it_is():
    values = [7, 20, 8, "euler", "normal", 1]  # files from before "control after generate" existed
    assert name_widgets("KSampler", values) == {
        "seed": 7,
        "steps": 20,
        "cfg": 8,
        "sampler_name": "euler",
        "scheduler": "normal",
        "denoise": 1,
    }


def test_the_upload_slot_is_skipped_only_when_the_list_has_room_for_it():
    assert name_widgets("LoadImage", ["a.png", "image"]) == {"image": "a.png"}
    assert name_widgets("LoadImage", ["a.png"]) == {"image": "a.png"}
    assert name_widgets("LoadImageMask", ["a.png", "red", "image"]) == {"image": "a.png", "channel": "red"}


def test_a_subgraph_is_expanded_with_its_links_rewired_through_its_inputs_and_outputs(plugins, settings):
    workflow = load_any(SUBGRAPH, plugins.registry)
    assert validate(workflow, plugins.registry, settings) == []
    sampler, decode = workflow.nodes["10:1"], workflow.nodes["10:2"]
    assert sampler.type == "graphflow.sampling.sample" and decode.type == "graphflow.vae.decode"
    assert {name: link.node for name, link in sampler.links.items()} == {
        "model": "4",
        "positive": "6",
        "negative": "7",
        "latent": "5",
    }
    assert sampler.inputs["seed"] == 42  # the subgraph input's widget value, set on the outer node
    assert (decode.links["latent"].node, decode.links["vae"].node) == ("10:1", "4")
    assert workflow.nodes["9"].links["images"].node == "10:2"
    assert "10" not in workflow.nodes
    assert workflow.meta["comfyui"]["class_types"]["10:1"] == "KSampler"
    assert workflow.ui["nodes"]["10:1"]["pos"] == [863, 186]  # inner nodes are placed where the subgraph was


def test_nodes_inside_a_subgraph_that_graphflow_lacks_are_named_by_their_own_class():
    data = _read(SUBGRAPH)
    inner = data["definitions"]["subgraphs"][0]["nodes"]
    inner.append({"id": 3, "type": "FaceDetailer", "mode": 0, "inputs": [], "outputs": []})
    with pytest.raises(ComfyImportError) as caught:
        to_workflow(data)
    assert caught.value.unsupported == {"FaceDetailer": ["10:3"]}
    assert "2f54c6a4" not in str(caught.value)


def test_subgraphs_nest_and_a_muted_subgraph_runs_nothing():
    data = _read(SUBGRAPH)
    definition = data["definitions"]["subgraphs"][0]
    outer = copy.deepcopy(definition)
    outer["id"] = "0d7a1f0e-1111-4222-8333-444455556666"
    outer_instance = copy.deepcopy(next(n for n in data["nodes"] if n["id"] == 10))
    outer_instance["id"], outer_instance["type"] = 1, definition["id"]
    # the outer definition holds one node: an instance of the inner subgraph, wired input to input
    outer["nodes"] = [outer_instance]
    outer["links"] = [
        {"id": 200 + i, "origin_id": -10, "origin_slot": i, "target_id": 1, "target_slot": i, "type": "*"}
        for i in range(5)
    ] + [{"id": 210, "origin_id": 1, "origin_slot": 0, "target_id": -20, "target_slot": 0, "type": "IMAGE"}]
    for i, slot in enumerate(outer_instance["inputs"][:5]):
        slot["link"] = 200 + i
    outer_instance["inputs"] = outer_instance["inputs"][:5]
    data["definitions"]["subgraphs"].append(outer)
    instance = next(n for n in data["nodes"] if n["id"] == 10)
    instance["type"] = outer["id"]
    prompt, _ = ui_to_api(data)
    assert prompt["10:1:1"]["class_type"] == "KSampler" and prompt["10:1:1"]["inputs"]["model"] == ["4", 0]
    assert prompt["9"]["inputs"]["images"] == ["10:1:2", 0]
    instance["mode"] = 2
    prompt, _ = ui_to_api(data)
    assert not any(node_id.startswith("10") for node_id in prompt) and "images" not in prompt["9"]["inputs"]


def test_a_group_node_is_expanded_with_its_widget_values_and_slots(plugins, settings):
    workflow = load_any(GROUP_NODE, plugins.registry)
    assert validate(workflow, plugins.registry, settings) == []
    sampler, decode = workflow.nodes["10:0"], workflow.nodes["10:1"]
    assert (sampler.inputs["seed"], sampler.inputs["steps"], sampler.inputs["scheduler"]) == (77, 12, "karras")
    assert (sampler.links["model"].node, sampler.links["latent"].node) == ("4", "5")
    assert (decode.links["latent"].node, decode.links["vae"].node) == ("10:0", "4")
    assert workflow.nodes["9"].links["images"].node == "10:1"


def test_nodes_inside_a_group_node_that_graphflow_lacks_are_named_by_their_own_class():
    data = _read(GROUP_NODE)
    data["extra"]["groupNodes"]["Sample and decode"]["nodes"][1]["type"] = "IP2PSampler"
    with pytest.raises(ComfyImportError) as caught:
        to_workflow(data)
    assert caught.value.unsupported == {"IP2PSampler": ["10:1"]}
    assert "workflow>" not in str(caught.value)


def test_a_png_whose_workflow_chunk_has_frontend_only_nodes_imports_from_its_prompt(plugins, settings, tmp_path):
    workflow_chunk = _read(DEFAULT)
    workflow_chunk["nodes"].append(
        {
            "id": 999,
            "type": "Label (rgthree)",
            "pos": [0, 0],
            "mode": 0,
            "inputs": [],
            "outputs": [],
            "widgets_values": [],
        }
    )
    prompt, _ = ui_to_api(_read(DEFAULT))
    path = _png(tmp_path / "ComfyUI_00001_.png", prompt=prompt, workflow=workflow_chunk)
    workflow = load_any(path, plugins.registry)
    assert validate(workflow, plugins.registry, settings) == []
    assert workflow.meta["comfyui"]["format"] == "api"
    assert workflow.ui["nodes"]["3"]["pos"] == [863, 186]  # the layout still comes from the workflow chunk


def test_a_png_whose_workflow_chunk_does_not_match_its_prompt_gets_no_layout_from_it(plugins, tmp_path):
    prompt, _ = ui_to_api(_read(DEFAULT))
    other = _read(DEFAULT)
    next(n for n in other["nodes"] if n["id"] == 3)["type"] = "KSamplerAdvanced"
    path = _png(tmp_path / "mismatch.png", prompt=prompt, workflow=other)
    workflow = load_any(path, plugins.registry)
    assert workflow.nodes["3"].type == "graphflow.sampling.sample" and workflow.ui == {}


def test_a_png_with_subgraphs_in_its_workflow_chunk_is_laid_out_by_the_inner_nodes(plugins, tmp_path):
    prompt, _ = ui_to_api(_read(SUBGRAPH))  # what ComfyUI's frontend sends: compound ids such as 10:1
    path = _png(tmp_path / "subgraph.png", prompt=prompt, workflow=_read(SUBGRAPH))
    workflow = load_any(path, plugins.registry)
    assert workflow.ui["nodes"]["10:1"]["pos"] == [863, 186]


def test_a_png_with_only_a_workflow_chunk_is_imported_from_it(plugins, tmp_path):
    path = _png(tmp_path / "workflow_only.png", workflow=_read(DEFAULT))
    assert load_any(path, plugins.registry).meta["comfyui"]["format"] == "workflow"
