"""ComfyUI files (API and UI formats) become graphflow workflows, and API files export back unchanged."""

from __future__ import annotations

import copy
import json

import pytest

from graphflow.graph import validate
from graphflow.interop import ComfyImportError, detect_format, export_api, import_api, load_any, to_workflow
from graphflow.interop.comfy_ui import ui_to_api
from tests.interop.conftest import DATA, NAMES, example


@pytest.mark.parametrize("name", NAMES)
def test_an_api_file_exported_after_import_is_the_same_graph(name):
    original = json.loads(example(name, "api").read_text())
    assert export_api(import_api(copy.deepcopy(original))) == original


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("fmt", ["api", "workflow"])
def test_every_example_imports_and_validates(name, fmt, plugins, settings):
    workflow = load_any(example(name, fmt), plugins.registry)
    assert validate(workflow, plugins.registry, settings) == []
    assert workflow.meta["comfyui"]["format"] == ("api" if fmt == "api" else "workflow")


@pytest.mark.parametrize("name", ["txt2img", "img2img"])
def test_a_ui_file_becomes_the_same_prompt_as_its_api_twin(name):
    ui, _ = ui_to_api(json.loads(example(name, "workflow").read_text()))
    api = json.loads(example(name, "api").read_text())
    assert {k: (v["class_type"], v["inputs"]) for k, v in ui.items()} == {
        k: (v["class_type"], v["inputs"]) for k, v in api.items()
    }


def test_ui_widgets_skip_the_seed_control_value_and_follow_primitives_and_reroutes():
    prompt, layout = ui_to_api(json.loads(example("txt2img", "workflow").read_text()))
    sampler = prompt["3"]["inputs"]
    assert sampler["seed"] == 156680208700286  # from the primitive node, not the widget's stale 1
    assert (sampler["steps"], sampler["cfg"], sampler["sampler_name"]) == (20, 8, "euler")
    assert prompt["8"]["inputs"]["vae"] == ["4", 2]  # through the reroute
    assert set(prompt) == {"3", "4", "5", "6", "7", "8", "9"}  # reroute, primitive and note are gone
    assert layout["nodes"]["3"]["pos"] == [863, 186] and layout["groups"][0]["title"] == "Prompt"
    assert layout["notes"][0]["text"].startswith("ComfyUI's default")


def test_a_bypassed_node_passes_its_input_through_and_a_muted_node_is_dropped():
    prompt, _ = ui_to_api(json.loads(example("img2img", "workflow").read_text()))
    assert "13" not in prompt and "14" not in prompt
    assert prompt["12"]["inputs"]["pixels"] == ["10", 0]
    assert prompt["10"]["inputs"] == {"image": "example.png"}  # the upload widget's value is UI-only


def test_ksampler_advanced_choices_become_booleans_and_back():
    workflow = load_any(example("hires_fix", "workflow"))
    sampler = workflow.nodes["3"]
    assert sampler.type == "graphflow.sampling.sample_advanced"
    assert sampler.inputs["add_noise"] is True and sampler.inputs["return_with_leftover_noise"] is False
    assert sampler.inputs["noise_seed"] == 7 and sampler.inputs["sampler_name"] == "euler_ancestral"
    exported = export_api(workflow)["3"]["inputs"]
    assert exported["add_noise"] == "enable" and exported["return_with_leftover_noise"] == "disable"


def test_node_ids_titles_and_renamed_inputs_are_kept():
    workflow = load_any(example("inpaint", "api"))
    assert workflow.nodes["3"].links["latent"].node == "15"
    assert workflow.nodes["6"].title == "CLIP Text Encode (Prompt)"
    assert workflow.nodes["14"].inputs == {"pixels": 4, "tapered_corners": True}
    # LoadImageMask on a colour channel is Load Image + Image to Mask, under the ComfyUI id
    assert workflow.nodes["13"].type == "graphflow.mask.from_image"
    assert workflow.nodes["13:image"].inputs == {"image": "mask.png"}


def test_imported_checkpoints_use_comfyuis_whole_timesteps():
    loader = load_any(example("txt2img", "api")).nodes["4"]
    assert loader.inputs == {"checkpoint": "v1-5-pruned-emaonly.safetensors", "timesteps": "discrete"}


def test_unknown_custom_nodes_are_named_in_one_error():
    with pytest.raises(ComfyImportError) as caught:
        load_any(DATA / "custom_node_api.json")
    message = str(caught.value)
    assert "FaceDetailer (node 20)" in message and "UltimateSDUpscale (node 21)" in message
    assert caught.value.unsupported == {"FaceDetailer": ["20"], "UltimateSDUpscale": ["21"]}


def test_unknown_nodes_in_a_ui_file_are_named_in_one_error_but_muted_ones_are_ignored():
    data = json.loads(example("txt2img", "workflow").read_text())
    data["nodes"].append({"id": 30, "type": "WAS_Image_Blend", "mode": 0, "inputs": [], "outputs": []})
    data["nodes"].append({"id": 31, "type": "Impact_Detailer", "mode": 2, "inputs": [], "outputs": []})
    with pytest.raises(ComfyImportError, match=r"WAS_Image_Blend \(node 30\)") as caught:
        to_workflow(data)
    assert "Impact_Detailer" not in str(caught.value)


def test_a_value_without_graphflow_counterpart_and_a_dangling_link_are_reported_together():
    prompt = json.loads(example("hires_fix", "api").read_text())
    prompt["10"]["inputs"]["upscale_method"] = "area"
    prompt["8"]["inputs"]["vae"] = ["99", 2]
    with pytest.raises(ComfyImportError) as caught:
        import_api(prompt)
    assert "'area' is not one of" in str(caught.value) and "node '99'" in str(caught.value)


def test_list_constants_are_unwrapped_and_wrapped_again():
    prompt = {
        "1": {
            "class_type": "SaveImage",
            "inputs": {"filename_prefix": {"__value__": ["a", "b"]}, "images": ["2", 0]},
            "_meta": {"title": "Save"},
        },
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["2", 0]}, "_meta": {"title": "Invert"}},
    }
    workflow = import_api(copy.deepcopy(prompt))
    assert workflow.nodes["1"].inputs["filename_prefix"] == ["a", "b"]
    assert export_api(workflow) == prompt


def test_formats_are_told_apart():
    assert detect_format(json.loads(example("txt2img", "api").read_text())) == "comfyui-api"
    assert detect_format(json.loads(example("txt2img", "workflow").read_text())) == "comfyui-workflow"
    assert detect_format({"format": "graphflow.workflow", "version": 1}) == "graphflow"
    assert detect_format({"hello": 1}) is None and detect_format([]) is None


def test_a_comfyui_png_opens_from_its_prompt_laid_out_like_its_workflow(tmp_path):
    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("prompt", example("txt2img", "api").read_text())
    info.add_text("workflow", example("txt2img", "workflow").read_text())
    Image.new("RGB", (8, 8)).save(tmp_path / "ComfyUI_00001_.png", pnginfo=info)
    workflow = load_any(tmp_path / "ComfyUI_00001_.png")
    assert workflow.nodes["3"].inputs["seed"] == 156680208700286
    assert workflow.ui["nodes"]["9"]["pos"] == [1451, 189]
