"""Opening ComfyUI files in the editor: API and UI JSON and ComfyUI PNGs are converted by the server."""

import io
from pathlib import Path

from PIL import Image
from PIL.PngImagePlugin import PngInfo
from playwright.sync_api import expect

EXAMPLES = Path(__file__).resolve().parents[2] / "graphflow" / "workflows" / "comfyui"
CUSTOM = Path(__file__).resolve().parents[1] / "interop" / "data" / "custom_node_api.json"


def test_a_comfyui_api_file_opens_with_its_node_ids_and_links(editor):
    editor.drop_file("txt2img_api.json", (EXAMPLES / "txt2img_api.json").read_bytes(), "application/json")
    expect(editor.node("3")).to_be_visible()
    assert sorted(editor.node_ids()) == ["3", "4", "5", "6", "7", "8", "9"]
    assert editor.links()["3"]["latent"] == {"node": "5", "output": "latent"}
    expect(editor.widget("3", "steps")).to_have_value("20")


def test_a_comfyui_ui_file_opens_laid_out_as_in_comfyui(editor):
    editor.drop_file("hires.json", (EXAMPLES / "hires_fix_workflow.json").read_bytes(), "application/json")
    expect(editor.node("11")).to_be_visible()
    workflow = editor.workflow()
    assert workflow["nodes"]["3"]["type"] == "graphflow.sampling.sample_advanced"
    assert workflow["ui"]["nodes"]["11"]["pos"] == [1550, 186]


def test_a_comfyui_png_opens_from_its_embedded_prompt(editor):
    info = PngInfo()
    info.add_text("prompt", (EXAMPLES / "img2img_api.json").read_text())
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, format="PNG", pnginfo=info)
    editor.drop_file("ComfyUI_00001_.png", buffer.getvalue(), "image/png")
    expect(editor.node("12")).to_be_visible()
    assert editor.links()["12"]["image"] == {"node": "10", "output": "pixels"}


def test_a_comfyui_file_with_custom_nodes_is_refused_naming_them(editor, page):
    editor.drop_file("custom.json", CUSTOM.read_bytes(), "application/json")
    toast = page.get_by_test_id("toast").last
    expect(toast).to_contain_text("FaceDetailer (node 20)")
    expect(toast).to_contain_text("UltimateSDUpscale (node 21)")
    assert editor.node_ids() == []
