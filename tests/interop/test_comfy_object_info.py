"""/object_info matches ComfyUI's published node definitions field by field, in ComfyUI's input order, so
clients that build calls by position (comfy-script) and ComfyUI's own frontend work against graphflow.

The reference is `data/comfyui_object_info.json`: ComfyUI's entries for every mapped node type, written
down from its nodes.py INPUT_TYPES and comfy_extras schemas. Bounds (min/max/step) and choice lists are
graphflow's own (what it validates and offers), so they are not compared; everything else is.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from graphflow.graph import validate
from graphflow.interop import import_api
from graphflow.interop.comfy_nodes import SUPPORTED
from graphflow.interop.comfy_schema import object_info
from tests.interop.conftest import DATA

COMFYUI = json.loads((DATA / "comfyui_object_info.json").read_text())["nodes"]
NODE_FIELDS = ("name", "description", "python_module", "category", "output_node", "output", "output_name")
WIDGET_OPTIONS = ("control_after_generate", "image_upload", "multiline")


@pytest.fixture(scope="module")
def info(plugins) -> dict[str, Any]:
    from graphflow.settings import Settings

    return object_info(plugins.registry, Settings())


def _is_combo(kind: Any) -> bool:
    return isinstance(kind, list) or kind == "COMBO"


def _options(spec: list[Any]) -> dict[str, Any]:
    return spec[1] if len(spec) > 1 else {}


def test_the_reference_covers_every_mapped_node_type():
    assert set(COMFYUI) == set(SUPPORTED)


@pytest.mark.parametrize("name", sorted(COMFYUI))
def test_node_facts_are_comfyuis(info, name):
    ours, theirs = info[name], COMFYUI[name]
    for key in NODE_FIELDS:
        assert ours[key] == theirs[key], f"{name}.{key}"
    assert ours["display_name"] == (theirs["display_name"] or name)  # ComfyUI's V3 nodes may leave it null
    assert ours["output_is_list"] == theirs["output_is_list"] == [False] * len(theirs["output"])
    for flag in ("deprecated", "experimental"):
        assert ours[flag] == theirs.get(flag, False), f"{name}.{flag}"


@pytest.mark.parametrize("name", sorted(COMFYUI))
def test_inputs_come_in_comfyuis_order_with_graphflow_only_inputs_optional_and_last(info, name):
    ours, theirs = info[name], COMFYUI[name]
    assert ours["input_order"] == {section: list(inputs) for section, inputs in ours["input"].items()}
    assert ours["input_order"]["required"] == theirs["input_order"]["required"]
    assert ours["input"].get("hidden") == theirs["input"].get("hidden")
    comfy_optional = theirs["input_order"].get("optional", [])
    our_optional = ours["input_order"].get("optional", [])
    assert our_optional[: len(comfy_optional)] == comfy_optional
    known = {n for inputs in theirs["input"].values() for n in inputs}
    assert not known & set(our_optional[len(comfy_optional) :])


# ComfyUI-only inputs graphflow ignores keep ComfyUI's default (comfy_schema); these are combos in ComfyUI, the CLIP
# loaders' `device` ("default"/"cpu"), shown as combos of their default.
IGNORED_COMBOS = (("CLIPLoader", "device"), ("DualCLIPLoader", "device"))


@pytest.mark.parametrize("name", sorted(COMFYUI))
def test_each_input_has_comfyuis_type_widget_options_and_default(info, name):
    for section in ("required", "optional"):
        for input_name, theirs in COMFYUI[name]["input"].get(section, {}).items():
            ours = info[name]["input"][section][input_name]
            where = f"{name}.{input_name}"
            if _is_combo(theirs[0]):
                assert isinstance(ours[0], list), f"{where} is a combo in ComfyUI"
            else:
                assert ours[0] == theirs[0], where
                if "default" in _options(theirs):
                    assert _options(ours).get("default") == _options(theirs)["default"], f"{where} default"
            for option in WIDGET_OPTIONS:  # V3 schemas write false flags out ("multiline": false), V1 leaves them out
                assert bool(_options(ours).get(option)) == bool(_options(theirs).get(option)), f"{where} {option}"


@pytest.mark.parametrize(("name", "input_name"), IGNORED_COMBOS)
def test_an_ignored_comfyui_combo_is_shown_as_a_combo_with_comfyuis_default(info, name, input_name):
    ours = info[name]["input"]["optional"][input_name]
    assert isinstance(ours[0], list) and ours[1]["default"] == "default"


def test_checkpoint_loader_takes_only_its_checkpoint_name_and_offers_graphflows_settings_as_optional(info):
    loader = info["CheckpointLoaderSimple"]
    assert loader["input_order"] == {"required": ["ckpt_name"], "optional": ["prediction", "timesteps"]}
    assert loader["input"]["optional"]["timesteps"][1]["default"] == "discrete"  # ComfyUI's whole timesteps


def _positional(info: dict[str, Any], class_type: str, *args: Any) -> dict[str, Any]:
    """A node built as comfy-script builds it: arguments matched to /object_info's input order by position."""
    order = info[class_type]["input_order"]
    names = order["required"] + order.get("optional", [])
    return {"class_type": class_type, "inputs": dict(zip(names, args, strict=False))}


def test_a_client_building_calls_by_position_gets_a_valid_prompt(info, plugins, settings):
    # comfy-script's README example, node by node, with links as [node id, output index]
    prompt = {
        "4": _positional(info, "CheckpointLoaderSimple", "v1-5-pruned-emaonly.safetensors"),
        "6": _positional(info, "CLIPTextEncode", "beautiful scenery nature glass bottle landscape", ["4", 1]),
        "7": _positional(info, "CLIPTextEncode", "text, watermark", ["4", 1]),
        "5": _positional(info, "EmptyLatentImage", 512, 512, 1),
        "3": _positional(
            info, "KSampler", ["4", 0], 156680208700286, 20, 8, "euler", "normal", ["6", 0], ["7", 0], ["5", 0], 1
        ),
        "8": _positional(info, "VAEDecode", ["3", 0], ["4", 2]),
        "9": _positional(info, "SaveImage", ["8", 0], "ComfyUI"),
    }
    workflow = import_api(prompt, registry=plugins.registry)
    assert validate(workflow, plugins.registry, settings) == []
    assert workflow.nodes["4"].inputs == {"checkpoint": "v1-5-pruned-emaonly.safetensors", "timesteps": "discrete"}
    assert workflow.nodes["3"].inputs["steps"] == 20 and workflow.nodes["3"].links["latent"].node == "5"
