"""Opening workflows: PNGs that carry one, JSON files, the server's examples; bad files are refused clearly."""

import io
import json

from PIL import Image
from PIL.PngImagePlugin import PngInfo
from playwright.sync_api import expect

WORKFLOW = {
    "format": "graphflow.workflow",
    "version": 1,
    "nodes": {
        "seven": {"type": "graphflow.primitive.int", "version": "1.0.0", "inputs": {"value": 7}},
        "words": {
            "type": "graphflow.text.format_number",
            "version": "1.0.0",
            "inputs": {"format": "03d"},
            "links": {"value": {"node": "seven", "output": "result"}},
        },
        "keep": {
            "type": "graphflow.text.save",
            "version": "1.0.0",
            "inputs": {"filename_prefix": "dropped"},
            "links": {"text": {"node": "words", "output": "result"}},
        },
    },
    "ui": {
        "nodes": {"seven": {"pos": [0, 0]}, "words": {"pos": [300, 0]}, "keep": {"pos": [600, 0]}},
        "groups": [{"title": "kept as is", "bounds": [0, 0, 10, 10]}],
    },
}


def png_with_workflow(workflow: dict, compressed: bool) -> bytes:
    """A small PNG carrying `workflow` in an iTXt chunk (zlib-compressed or not) named graphflow.workflow."""
    info = PngInfo()
    info.add_itxt("graphflow.workflow", json.dumps(workflow), zip=compressed)
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (30, 60, 90)).save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def test_png_carrying_a_compressed_workflow_opens_when_dropped_on_the_canvas(editor, page):
    editor.drop_file("render.png", png_with_workflow(WORKFLOW, compressed=True), "image/png")

    expect(editor.node("words")).to_be_visible()
    assert editor.links()["keep"] == {"text": {"node": "words", "output": "result"}}
    expect(editor.widget("words", "format")).to_have_value("03d")
    assert editor.workflow()["ui"]["groups"] == WORKFLOW["ui"]["groups"]
    page.keyboard.press("Control+Enter")
    expect(page.get_by_test_id("text-keep")).to_have_text("007", timeout=15000)


def test_png_with_a_plain_text_workflow_chunk_opens_too(editor):
    info = PngInfo()
    info.add_text("graphflow.workflow", json.dumps(WORKFLOW))
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, format="PNG", pnginfo=info)
    editor.drop_file("plain.png", buffer.getvalue(), "image/png")
    expect(editor.node("seven")).to_be_visible()
    expect(editor.widget("seven", "value")).to_have_value("7")


def test_png_without_a_workflow_dropped_on_the_canvas_becomes_a_load_image_node(editor, page):
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, format="PNG")
    editor.drop_file("holiday.png", buffer.getvalue(), "image/png")
    page.wait_for_function("graphflow.graph.nodes.size === 1")
    assert editor.workflow()["nodes"][editor.node_ids()[0]]["inputs"]["image"] == "holiday.png"


def test_dropped_json_workflow_opens_and_saves_back_the_same_graph(editor):
    editor.drop_file("flow.json", json.dumps(WORKFLOW).encode(), "application/json")
    expect(editor.node("keep")).to_be_visible()
    saved = editor.workflow()
    assert {k: {**v, "inputs": v.get("inputs", {})} for k, v in saved["nodes"].items()} == {
        "seven": {
            "type": "graphflow.primitive.int",
            "version": "1.0.0",
            "plugin": "builtin.primitives",
            "inputs": {"value": 7},
        },
        "words": {
            "type": "graphflow.text.format_number",
            "version": "1.0.0",
            "plugin": "builtin.text",
            "inputs": {"format": "03d"},
            "links": {"value": {"node": "seven", "output": "result"}},
        },
        "keep": {
            "type": "graphflow.text.save",
            "version": "1.0.0",
            "plugin": "builtin.text",
            "inputs": {"filename_prefix": "dropped"},
            "links": {"text": {"node": "words", "output": "result"}},
        },
    }
    assert saved["ui"]["nodes"]["words"]["pos"] == [300, 0]


def test_example_workflow_listed_by_the_server_opens_from_the_menu(editor, page):
    page.get_by_test_id("examples").select_option(label="Example: arithmetic.json")
    expect(editor.node("scaled")).to_be_visible()
    expect(editor.widget("scaled", "operation")).to_have_value("multiply")
    expect(page.get_by_test_id("wire-save-text")).to_have_count(1)
