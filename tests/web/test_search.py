"""Finding things: node types in the add-node menu by any of their names, and nodes in the graph with Ctrl+F."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.web.editor import centre

ENCODE = "graphflow.conditioning.encode"
SAMPLER = "graphflow.sampling.sample"


def menu_types(editor, query: str) -> list[str]:
    """Open the add-node menu on the canvas, type `query`, and read the node types it lists, best first."""
    page = editor.page
    box = editor.canvas_box()
    if not page.get_by_test_id("node-menu").is_visible():
        page.mouse.dblclick(box["x"] + 200, box["y"] + 150)
    page.get_by_test_id("node-menu-search").fill(query)
    return page.locator("[data-testid=node-menu] .node-menu-item").evaluate_all("els => els.map((e) => e.dataset.type)")


def test_menu_finds_encode_prompt_by_its_comfyui_names_and_the_sampler_as_ksampler(editor):
    assert menu_types(editor, "cliptextencode")[0] == ENCODE
    assert menu_types(editor, "clip text encode")[0] == ENCODE
    assert menu_types(editor, "CLIPTextEncode")[0] == ENCODE
    assert menu_types(editor, "KSampler")[0] == SAMPLER


def test_int_ranks_integer_above_interpolate_conditioning(editor):
    found = menu_types(editor, "int")
    assert found[0] == "graphflow.primitive.int"
    interpolate = next(t for t in found if "interpolate" in t or "conditioning" in t)
    assert found.index("graphflow.primitive.int") < found.index(interpolate)


def test_arrow_keys_and_enter_add_the_highlighted_match(editor, page):
    menu_types(editor, "encode prompt")
    page.keyboard.press("ArrowDown")
    second = page.locator("[data-testid=node-menu] .node-menu-item.active").get_attribute("data-type")
    page.keyboard.press("Enter")
    page.wait_for_function("graphflow.graph.nodes.size === 1")
    assert editor.node_type(editor.node_ids()[0]) == second != ENCODE


def test_ctrl_f_finds_a_node_by_title_selects_it_and_centres_the_view_on_it(editor, page):
    editor.add_node("integer", 60, 60)
    target = editor.add_node("encode prompt", 360, 260, pick=ENCODE)
    editor.add_node("save image", 700, 60)
    box = editor.canvas_box()
    editor.drag((box["x"] + 900, box["y"] + 600), (box["x"] + 200, box["y"] + 100))  # pan it out of the middle
    page.get_by_test_id("canvas").click(position={"x": 1000, "y": 700})

    page.keyboard.press("Control+f")
    page.get_by_test_id("find-search").fill("encode")
    expect(page.get_by_test_id(f"find-result-{target}")).to_be_visible()
    page.keyboard.press("Enter")

    expect(page.get_by_test_id("find-box")).to_have_count(0)
    expect(editor.node(target)).to_have_class(re.compile(r"\bselected\b"))
    x, y = centre(editor.node(target))
    assert abs(x - (box["x"] + box["width"] / 2)) < 4 and abs(y - (box["y"] + box["height"] / 2)) < 4


def test_clicking_a_find_result_jumps_to_that_node(editor, page):
    first = editor.add_node("integer", 60, 60)
    second = editor.add_node("integer", 900, 600)
    page.keyboard.press("Control+f")
    page.get_by_test_id("find-search").fill(second)
    page.get_by_test_id(f"find-result-{second}").click()
    expect(editor.node(second)).to_have_class(re.compile(r"\bselected\b"))
    expect(editor.node(first)).not_to_have_class(re.compile(r"\bselected\b"))
