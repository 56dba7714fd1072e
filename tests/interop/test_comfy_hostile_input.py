"""ComfyUI files written carelessly or with hostile intent end in ComfyImportError problems naming the node and
input at fault (issue 14's cases as written there), in messages short enough to read."""

from __future__ import annotations

import copy
import json
import math
import re

import pytest

from graphflow.graph import validate
from graphflow.interop import ComfyImportError, export_api, import_api, load_any, to_workflow
from graphflow.interop.comfy_schema import prompt_errors
from graphflow.interop.comfy_ui import ui_to_api
from graphflow.settings import Settings
from graphflow.workflow import WorkflowFileError
from tests.interop.conftest import DATA, example

PROMPT = json.loads(example("txt2img", "api").read_text())
UI = json.loads(example("txt2img", "workflow").read_text())


def prompt_with(change):
    prompt = copy.deepcopy(PROMPT)
    change(prompt)
    return prompt


def ui_with(change):
    data = copy.deepcopy(UI)
    change(data)
    return data


def issues(caught):
    return [(i.node_id, i.input, i.kind) for i in caught.value.issues]


@pytest.mark.parametrize("index", [math.nan, math.inf, -math.inf, 1.5])
def test_a_link_to_output_nan_or_a_fraction_names_the_node_and_input(index):
    with pytest.raises(ComfyImportError) as caught:
        import_api(prompt_with(lambda p: p["3"]["inputs"].update(model=["4", index])), source="p.json")
    assert issues(caught) == [("3", "model", "invalid_link")]
    assert str(caught.value) == (
        f"p.json: node '3', input 'model': links to output {index!r}, not a whole number [invalid_link]"
    )


def test_a_link_to_output_two_point_zero_is_output_two():
    workflow = import_api(prompt_with(lambda p: p["8"]["inputs"].update(vae=["4", 2.0])))
    assert workflow.nodes["8"].links["vae"].output == "vae"


def test_a_thousand_bad_links_are_summarised_as_the_first_twenty_and_how_many_more():
    prompt = {str(i): {"class_type": "ImageInvert", "inputs": {"image": [f"ghost{i}", 0]}} for i in range(1000)}
    with pytest.raises(ComfyImportError) as caught:
        import_api(prompt, source="p.json")
    message = str(caught.value)
    assert len(caught.value.issues) == 1000 and len(message) < 5_000
    assert message.startswith("p.json: 1,000 problems: node '0', input 'image': links to node 'ghost0'")
    assert message.endswith("; and 980 more of this kind [missing_node]")


def test_a_thousand_unsupported_node_types_are_named_in_a_short_message():
    prompt = {str(i): {"class_type": f"Custom{i}", "inputs": {}} for i in range(1000)}
    with pytest.raises(ComfyImportError) as caught:
        import_api(prompt)
    assert len(str(caught.value)) < 2_000 and "; and 980 more types." in str(caught.value)
    assert len(caught.value.unsupported) == 1000 and caught.value.issues[0].kind == "unknown_node_type"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda p: p["3"].update(inputs=[1, 2]), ("3", None, "invalid_node")),
        (lambda p: p["3"].update(_meta="KSampler"), None),  # a title that is not an object is only ignored
        (lambda p: p["3"].pop("class_type"), ("3", None, "invalid_node")),
        (lambda p: p["3"]["inputs"].update(sampler_name=["euler"]), None),  # a value: the validator's business
        (lambda p: p.update({"10": 5}), ("10", None, "invalid_node")),
    ],
)
def test_api_nodes_of_the_wrong_shape_name_the_node(change, expected):
    prompt = prompt_with(change)
    if expected is None:
        import_api(prompt)
        return
    with pytest.raises(ComfyImportError) as caught:
        import_api(prompt)
    assert expected in issues(caught)


def test_a_value_map_given_a_list_is_a_choice_problem_not_a_type_error():
    prompt = json.loads(example("hires_fix", "api").read_text())
    prompt["10"]["inputs"]["upscale_method"] = ["nearest-exact"]
    with pytest.raises(ComfyImportError) as caught:
        import_api(prompt)
    assert issues(caught) == [("10", "upscale_method", "not_in_choices")]


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda d: d.update(nodes=5), "'nodes' must be a list, not int"),
        (lambda d: d.update(links={"1": 2}), "'links' must be a list, not dict"),
        (lambda d: d["nodes"][0].update(inputs="abc"), "'inputs' must be a list, not str"),
        (lambda d: d["nodes"][0].update(widgets_values=7), "'widgets_values' must be a list or an object, not int"),
        (lambda d: d["links"][0].__setitem__(2, "two"), "origin_slot must be a whole number >= 0, not 'two'"),
        (lambda d: d["links"][0].__setitem__(4, math.nan), "target_slot must be a whole number >= 0, not nan"),
        (lambda d: d["links"][0].__setitem__(2, -1), "origin_slot must be a whole number >= 0, not -1"),
        (lambda d: d.update(definitions=[1]), "'definitions' must be an object, not list"),
        (lambda d: d.update(extra={"groupNodes": [1]}), "'extra.groupNodes' must be an object, not list"),
    ],
)
def test_ui_files_of_the_wrong_shape_say_which_part(change, fragment):
    with pytest.raises(ComfyImportError, match=re.escape(fragment)):
        ui_to_api(ui_with(change), "w.json")


def test_odd_but_harmless_ui_values_are_read_as_comfyui_would():
    def change(data):
        data["nodes"][0]["inputs"] = [5, "x", None]  # slots that are not objects hold nothing
        data["nodes"][0]["pos"] = ["left", None]  # a position that is not numbers lends no layout
        data["nodes"][0]["graphflow_widgets"] = 5  # graphflow's own key is never read from a file
        data["groups"] = "not a list"

    prompt, _ = ui_to_api(ui_with(change), "w.json")
    assert set(prompt) == {"3", "4", "5", "6", "7", "8", "9"}


def test_a_group_node_with_garbage_links_names_the_group_node():
    data = json.loads((DATA / "group_node_ui.json").read_text())
    definition = next(iter(data["extra"]["groupNodes"].values()))
    definition["links"] = [["a", 0, 1, 0, 1, "MODEL"]]
    outer = next(n for n in data["nodes"] if str(n.get("type", "")).startswith("workflow"))
    with pytest.raises(ComfyImportError) as caught:
        ui_to_api(data, "g.json")
    assert issues(caught) == [(str(outer["id"]), None, "invalid_node")]
    assert "group link 0 must be a whole number >= 0, not 'a'" in str(caught.value)


def test_a_deeply_nested_comfyui_file_is_refused_before_it_is_walked():
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(ComfyImportError, match="nested too deeply"):
        to_workflow(prompt_with(lambda p: p["3"]["inputs"].update(seed=deep)), source="p.json")
    with pytest.raises(ComfyImportError, match="nested too deeply"):
        to_workflow(ui_with(lambda d: d.update(extra={"deep": deep})), source="w.json")


def test_a_png_whose_prompt_chunk_is_garbage_names_the_chunk(tmp_path):
    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("prompt", "{" * 3)
    Image.new("RGB", (4, 4)).save(tmp_path / "c.png", pnginfo=info)
    with pytest.raises(WorkflowFileError, match=r"c\.png: its 'prompt' text chunk: not valid JSON \("):
        load_any(tmp_path / "c.png")


def test_a_png_whose_workflow_chunk_cannot_be_read_still_opens_from_its_prompt(tmp_path):
    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("prompt", json.dumps(PROMPT))
    info.add_text("workflow", json.dumps({"nodes": 5, "links": "x", "version": 0.4}))
    Image.new("RGB", (4, 4)).save(tmp_path / "c.png", pnginfo=info)
    workflow = load_any(tmp_path / "c.png")
    assert set(workflow.nodes) == set(PROMPT) and workflow.ui == {}


@pytest.mark.parametrize(
    "record",
    [[1], "comfyui", {"class_types": {"3": ["KSampler"]}, "helpers": 5, "dropped": {"3": 7}}],
)
def test_a_garbage_comfyui_record_in_meta_is_ignored_by_export_and_error_bodies(record, plugins):
    workflow = import_api(copy.deepcopy(PROMPT))
    workflow.meta["comfyui"] = record
    exported = export_api(workflow)
    assert exported["3"]["class_type"] == "KSampler" and exported["3"]["inputs"]["model"] == ["4", 0]
    workflow.nodes["3"].inputs["cfg"] = math.nan
    body = prompt_errors(validate(workflow, plugins.registry, Settings()), workflow, plugins.registry)
    assert body["node_errors"]["3"]["class_type"] == "graphflow.sampling.sample"  # the record is lost
    assert body["node_errors"]["3"]["errors"][0]["details"] == "cfg: nan is not a finite number"


def test_exporting_a_link_to_a_missing_node_keeps_it_as_output_zero():
    workflow = import_api(copy.deepcopy(PROMPT))
    workflow.nodes["3"].links["model"].node = "ghost"
    assert export_api(workflow)["3"]["inputs"]["model"] == ["ghost", 0]
