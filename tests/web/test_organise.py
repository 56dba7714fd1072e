"""Organising tools: groups, notes, reroute points, bypass and mute, collapse, rename and resize."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.web.editor import centre

COMFY_WORKFLOW = Path(__file__).resolve().parents[2] / "graphflow" / "workflows" / "comfyui" / "txt2img_workflow.json"


def pos(editor, node_id: str) -> list[float]:
    return editor.page.evaluate("(id) => graphflow.graph.nodes.get(id).pos", node_id)


def select(editor, *node_ids: str) -> None:
    """Click the first node's title, Shift+click the others."""
    for n, node_id in enumerate(node_ids):
        editor.node(node_id).locator(".node-id").click(modifiers=["Shift"] if n else [])


def last_run(editor) -> dict[str, Any]:
    """The newest finished prompt record, as the history panel reads it."""
    return editor.page.evaluate("async () => (await (await fetch('api/history?limit=1')).json()).items[0]")


def number_to_text(editor, value: float, y: float, via_math: bool = True) -> dict[str, str]:
    """Float (value) -> [Float Math add 10] -> Number to Text -> Save Text, on row y; returns the node ids."""
    ids = {"number": editor.add_node("float", 40, y, pick="graphflow.primitive.float")}
    editor.set_number(ids["number"], "value", value)
    source = ids["number"]
    if via_math:
        ids["math"] = editor.add_node("float math", 300, y)
        editor.set_number(ids["math"], "b", 10)
        editor.wire(source, "result", ids["math"], "a")
        source = ids["math"]
    ids["text"] = editor.add_node("number to text", 580, y)
    ids["save"] = editor.add_node("save text", 860, y)
    editor.wire(source, "result", ids["text"], "value")
    editor.wire(ids["text"], "result", ids["save"], "text")
    return ids


def save_and_reopen(editor, page) -> dict[str, Any]:
    """Download the workflow with Save, clear the canvas, open the downloaded file; returns its JSON."""
    with page.expect_download() as download:
        page.get_by_test_id("btn-save").click()
    saved = json.loads(Path(download.value.path()).read_text())
    page.get_by_test_id("btn-clear").click()
    expect(page.locator(".node")).to_have_count(0)
    open_file(page, "saved.json", json.dumps(saved).encode())
    return saved


def open_file(page, name: str, data: bytes) -> None:
    with page.expect_file_chooser() as chooser:
        page.get_by_test_id("btn-open").click()
    chooser.value.set_files(files=[{"name": name, "mimeType": "application/json", "buffer": data}])
    expect(page.get_by_test_id("status")).to_contain_text(f"Opened {name}")


def test_a_group_made_around_two_selected_nodes_moves_them_when_dragged_by_its_title(editor, page):
    a = editor.add_node("float", 80, 120, pick="graphflow.primitive.float")
    b = editor.add_node("float", 420, 200, pick="graphflow.primitive.float")
    select(editor, a, b)
    page.keyboard.press("Control+g")
    group = page.get_by_test_id("group-0")
    expect(group).to_be_visible()
    box = group.bounding_box()
    for node_id in (a, b):  # the group surrounds both nodes
        n = editor.node(node_id).bounding_box()
        assert box["x"] < n["x"] and box["y"] < n["y"]
        assert n["x"] + n["width"] < box["x"] + box["width"] and n["y"] + n["height"] < box["y"] + box["height"]
    before = {node_id: pos(editor, node_id) for node_id in (a, b)}

    start = centre(page.get_by_test_id("group-title-0"))
    editor.drag(start, (start[0] + 150, start[1] + 90))
    for node_id in (a, b):
        assert pos(editor, node_id) == [before[node_id][0] + 150, before[node_id][1] + 90]
    assert group.bounding_box()["x"] == box["x"] + 150

    page.keyboard.press("Control+z")  # one undo puts the group and its nodes back
    assert {node_id: pos(editor, node_id) for node_id in (a, b)} == before
    assert page.get_by_test_id("group-0").bounding_box()["x"] == box["x"]


def test_a_group_is_renamed_recoloured_resized_and_deleted(editor, page):
    a = editor.add_node("float", 120, 160, pick="graphflow.primitive.float")
    select(editor, a)
    page.keyboard.press("Control+g")
    page.get_by_test_id("group-title-0").dblclick()
    page.get_by_test_id("inline-edit").fill("Inputs")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("group-title-0")).to_have_text("Inputs")
    page.get_by_test_id("group-colour-0").fill("#a1309b")
    width = page.get_by_test_id("group-0").bounding_box()["width"]
    corner = centre(page.get_by_test_id("group-resize-0"))
    editor.drag(corner, (corner[0] + 60, corner[1] + 40))
    (group,) = editor.workflow()["ui"]["groups"]
    assert group["title"] == "Inputs" and group["color"] == "#a1309b"
    assert group["bounding"][2] == round(width) + 60
    page.get_by_test_id("group-delete-0").click()
    expect(page.get_by_test_id("group-0")).to_have_count(0)
    assert "groups" not in editor.workflow()["ui"]
    expect(editor.node(a)).to_be_visible()  # the nodes stay


def test_a_comfyui_file_with_groups_and_a_note_opens_with_them_drawn(editor, page):
    data = json.loads(COMFY_WORKFLOW.read_text())
    data["groups"] = [{"title": "Prompts", "bounding": [0, 0, 500, 400], "color": "#8A8", "font_size": 24, "flags": {}}]
    note = {"id": 99, "type": "Note", "pos": [600, -200], "size": [300, 120], "mode": 0, "inputs": [], "outputs": []}
    data["nodes"].append({**note, "widgets_values": ["Try a lower cfg for softer pictures"]})
    open_file(page, "comfy.json", json.dumps(data).encode())

    expect(page.get_by_test_id("group-title-0")).to_have_text("Prompts")
    expect(page.get_by_test_id("group-0")).to_have_css("width", "500px")
    notes = page.locator(".note-text")
    expect(notes).to_have_count(2)  # the file's own note and ours
    assert "Try a lower cfg for softer pictures" in [n.input_value() for n in notes.all()]
    ui = editor.workflow()["ui"]
    assert ui["groups"][0]["color"] == "#8A8" and ui["groups"][0]["font_size"] == 24  # kept in ComfyUI's shape


def test_a_note_added_from_the_right_click_menu_is_edited_moved_and_undone(editor, page):
    box = editor.canvas_box()
    page.mouse.click(box["x"] + 300, box["y"] + 200, button="right")
    page.get_by_test_id("context-add-note").click()
    text = page.locator(".note-text")
    text.fill("Remember the seed")
    text.press("Tab")
    (note,) = editor.workflow()["ui"]["notes"]
    assert note["text"] == "Remember the seed"
    bar = centre(page.locator(".note-bar"))
    editor.drag((bar[0] - 40, bar[1]), (bar[0] + 60, bar[1] + 50))
    assert editor.workflow()["ui"]["notes"][0]["pos"] == [note["pos"][0] + 100, note["pos"][1] + 50]
    page.keyboard.press("Control+z")
    assert editor.workflow()["ui"]["notes"][0]["pos"] == note["pos"]
    page.get_by_test_id(f"note-delete-{note['id']}").click()
    expect(page.locator(".note")).to_have_count(0)


def test_a_reroute_point_bends_the_wire_through_it_and_leaves_the_run_unchanged(editor, page):
    ids = number_to_text(editor, 2, 100, via_math=False)
    runnable = {k: v for k, v in editor.workflow().items() if k != "ui"}
    wire = page.get_by_test_id(f"wire-{ids['text']}-value")
    middle = wire.evaluate(
        "p => { const m = p.getPointAtLength(p.getTotalLength() / 2); const r = p.ownerSVGElement.getScreenCTM(); "
        "return [m.x * r.a + r.e, m.y * r.d + r.f]; }"
    )
    page.mouse.dblclick(*middle)
    (reroute,) = editor.workflow()["ui"]["reroutes"]
    assert reroute["link"] == {"node": ids["text"], "input": "value"}
    dot = page.get_by_test_id(f"reroute-{reroute['id']}")
    editor.drag(centre(dot), (centre(dot)[0], centre(dot)[1] + 160))
    moved = editor.workflow()["ui"]["reroutes"][0]["pos"]
    assert moved[1] == reroute["pos"][1] + 160
    assert f"{moved[0]} {moved[1]}" in wire.get_attribute("d")  # one curve ends at the point, the next starts there

    assert {k: v for k, v in editor.workflow().items() if k != "ui"} == runnable
    page.keyboard.press("Control+Enter")
    expect(page.get_by_test_id(f"text-{ids['save']}")).to_have_text("2", timeout=15000)
    assert last_run(editor)["status"] == "success"


def test_a_bypassed_node_passes_its_input_through_and_does_not_run(editor, page):
    ids = number_to_text(editor, 3, 100)
    select(editor, ids["math"])
    page.keyboard.press("Control+b")
    expect(editor.node(ids["math"])).to_have_class(re.compile(r"\bmode-bypass\b"))
    assert editor.workflow()["nodes"][ids["math"]]["mode"] == "bypass"
    page.keyboard.press("Control+Enter")
    expect(page.get_by_test_id(f"text-{ids['save']}")).to_have_text("3", timeout=15000)  # 3, not 3 + 10
    run = last_run(editor)
    assert run["status"] == "success" and ids["math"] not in run["executed"]

    page.keyboard.press("Control+b")  # again: the node runs again
    expect(editor.node(ids["math"])).not_to_have_class(re.compile(r"\bmode-bypass\b"))
    page.keyboard.press("Control+Enter")
    expect(page.get_by_test_id(f"text-{ids['save']}")).to_have_text("13", timeout=15000)


def test_a_muted_output_node_does_not_run_while_the_other_one_does(editor, page):
    ids = number_to_text(editor, 4, 100, via_math=False)
    quiet = editor.add_node("save text", 910, 420)
    editor.wire(ids["text"], "result", quiet, "text")
    editor.node(quiet).locator(".node-id").click(button="right")
    page.get_by_test_id("context-mute").click()
    expect(editor.node(quiet)).to_have_class(re.compile(r"\bmode-mute\b"))
    page.keyboard.press("Control+Enter")
    expect(page.get_by_test_id(f"text-{ids['save']}")).to_have_text("4", timeout=15000)
    run = last_run(editor)
    assert run["status"] == "success" and quiet not in run["executed"] and ids["save"] in run["executed"]
    expect(page.get_by_test_id(f"text-{quiet}")).to_have_count(0)


def test_collapse_rename_and_resize_come_back_after_saving_and_reopening(editor, page):
    a = editor.add_node("float", 80, 120, pick="graphflow.primitive.float")
    b = editor.add_node("float math", 420, 120)
    editor.wire(a, "result", b, "a")
    page.get_by_test_id(f"title-{a}").dblclick()
    page.get_by_test_id("inline-edit").fill("Strength")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id(f"title-{a}")).to_have_text("Strength")
    width = editor.node(b).bounding_box()["width"]
    handle = centre(page.get_by_test_id(f"resize-{b}"))
    editor.drag(handle, (handle[0] + 90, handle[1]))
    assert editor.node(b).bounding_box()["width"] == width + 90
    page.get_by_test_id(f"collapse-{a}").click()
    expect(editor.node(a)).to_have_class(re.compile(r"\bcollapsed\b"))
    expect(page.get_by_test_id(f"widget-{a}-value")).to_be_hidden()
    expect(page.get_by_test_id(f"wire-{b}-a")).to_have_count(1)  # the wire still leaves the collapsed node

    saved = save_and_reopen(editor, page)
    assert saved["nodes"][a]["title"] == "Strength"
    assert saved["ui"]["nodes"][a]["collapsed"] is True and saved["ui"]["nodes"][b]["size"][0] == width + 90
    expect(page.get_by_test_id(f"title-{a}")).to_have_text("Strength")
    expect(editor.node(a)).to_have_class(re.compile(r"\bcollapsed\b"))
    assert editor.node(b).evaluate("el => el.offsetWidth") == width + 90  # reopening fits the view: zoom differs
    expect(page.get_by_test_id(f"wire-{b}-a")).to_have_count(1)

    editor.node(a).locator(".node-id").click()
    page.keyboard.press("Alt+c")  # expands again
    expect(page.get_by_test_id(f"widget-{a}-value")).to_be_visible()


def test_escape_on_the_title_editor_keeps_the_old_title(editor, page):
    a = editor.add_node("float", 80, 120, pick="graphflow.primitive.float")
    page.get_by_test_id(f"title-{a}").dblclick()
    page.get_by_test_id("inline-edit").fill("Not this")
    page.keyboard.press("Escape")
    expect(page.get_by_test_id(f"title-{a}")).to_have_text("Float")
    assert "title" not in editor.workflow()["nodes"][a]


def test_a_wire_dragged_off_and_cancelled_with_escape_is_undone_by_one_ctrl_z(editor, page):
    a = editor.add_node("float", 80, 120, pick="graphflow.primitive.float")
    gone = editor.add_node("float", 80, 420, pick="graphflow.primitive.float")
    b = editor.add_node("float math", 420, 120)
    editor.wire(a, "result", b, "a")
    select(editor, gone)
    page.keyboard.press("Delete")
    box = editor.canvas_box()
    editor.drag(centre(editor.port(b, "in", "a")), (box["x"] + 700, box["y"] + 500))  # off the input, onto the canvas
    expect(page.get_by_test_id("node-menu-search")).to_be_visible()
    page.keyboard.press("Escape")
    assert editor.links()[b] == {}
    page.keyboard.press("Control+z")
    assert editor.links()[b] == {"a": {"node": a, "output": "result"}}
    assert gone not in editor.node_ids()  # the node deleted before stays deleted
