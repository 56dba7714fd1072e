"""Editing on the canvas: pan and zoom, wires refused by type, literal inputs as ports, selection, undo, paste."""

import re

from playwright.sync_api import expect

from tests.web.editor import centre


def screen_pos(editor, node_id):
    box = editor.node(node_id).bounding_box()
    return box["x"], box["y"]


def test_wheel_zooms_around_the_pointer_and_dragging_the_background_pans(editor, page):
    node = editor.add_node("float math", 300, 200)
    canvas = editor.canvas_box()
    x0, y0 = screen_pos(editor, node)
    pointer = (canvas["x"] + 300, canvas["y"] + 200)
    page.mouse.move(*pointer)
    page.mouse.wheel(0, -400)
    zoom = float(page.get_by_test_id("canvas").get_attribute("data-zoom"))
    assert zoom > 1.2
    x1, y1 = screen_pos(editor, node)
    # The node's corner was at the pointer, so zooming about the pointer keeps it there.
    assert abs(x1 - x0) < 2 and abs(y1 - y0) < 2
    editor.drag((canvas["x"] + 700, canvas["y"] + 500), (canvas["x"] + 600, canvas["y"] + 450))
    x2, y2 = screen_pos(editor, node)
    assert (round(x2 - x1), round(y2 - y1)) == (-100, -50)
    assert editor.workflow()["ui"]["nodes"][node]["pos"] == [300, 200]


def test_wire_between_incompatible_types_is_refused(editor, page):
    text = editor.add_node("text", 60, 80)
    math = editor.add_node("float math", 420, 80)
    editor.wire(text, "result", math, "a")
    expect(page.get_by_test_id("toast").last).to_contain_text("cannot connect STRING to FLOAT")
    assert editor.links()[math] == {}
    expect(page.locator(".wire")).to_have_count(0)


def test_integer_wire_into_a_float_input_is_coloured_by_its_type(editor, page):
    number = editor.add_node("integer", 60, 80)
    math = editor.add_node("float math", 420, 80)
    editor.wire(number, "result", math, "b")
    wire = page.get_by_test_id(f"wire-{math}-b")
    assert wire.get_attribute("stroke") == editor.port(number, "out", "result").evaluate(
        "el => getComputedStyle(el).getPropertyValue('--port').trim()"
    )
    expect(editor.widget(math, "b")).to_have_count(0)  # the wired input shows as a port, not a widget


def test_literal_input_turns_into_a_port_and_back_into_its_widget(editor, page):
    math = editor.add_node("float math", 200, 100)
    editor.set_number(math, "a", 2.5)
    editor.port(math, "in", "a").click()
    expect(editor.widget(math, "a")).to_have_count(0)
    expect(page.get_by_test_id(f"to-widget-{math}-a")).to_be_visible()
    assert "a" not in editor.workflow()["nodes"][math]["inputs"]
    assert editor.workflow()["ui"]["nodes"][math]["ports"] == ["a"]
    page.get_by_test_id(f"to-widget-{math}-a").click()
    expect(editor.widget(math, "a")).to_have_value("2.5")


def test_box_selection_with_shift_then_delete_removes_the_nodes_inside(editor, page):
    first = editor.add_node("integer", 60, 60)
    second = editor.add_node("float", 60, 220)
    outside = editor.add_node("text", 600, 60)
    canvas = editor.canvas_box()
    editor.drag((canvas["x"] + 30, canvas["y"] + 30), (canvas["x"] + 400, canvas["y"] + 400), modifier="Shift")
    expect(editor.node(first)).to_have_class(re.compile(r"\bselected\b"))
    expect(editor.node(second)).to_have_class(re.compile(r"\bselected\b"))
    page.keyboard.press("Delete")
    assert editor.node_ids() == [outside]


def test_shift_click_adds_to_the_selection_and_dragging_moves_all_selected(editor, page):
    a = editor.add_node("integer", 60, 60)
    b = editor.add_node("float", 400, 60)
    page.mouse.click(*centre(editor.node(a).locator(".node-header")))
    page.keyboard.down("Shift")
    page.mouse.click(*centre(editor.node(b).locator(".node-header")))
    page.keyboard.up("Shift")
    start = centre(editor.node(a).locator(".node-header"))
    editor.drag(start, (start[0] + 40, start[1] + 100))
    positions = editor.workflow()["ui"]["nodes"]
    assert positions[a]["pos"] == [100, 160] and positions[b]["pos"] == [440, 160]


def test_undo_and_redo_step_through_adding_wiring_and_editing(editor, page):
    number = editor.add_node("integer", 60, 80)
    math = editor.add_node("float math", 420, 80)
    editor.wire(number, "result", math, "a")
    editor.set_number(number, "value", 42)
    page.mouse.click(editor.canvas_box()["x"] + 700, editor.canvas_box()["y"] + 600)  # focus the canvas

    page.keyboard.press("Control+z")
    expect(editor.widget(number, "value")).to_have_value("0")
    page.keyboard.press("Control+z")
    assert editor.links()[math] == {}
    page.keyboard.press("Control+z")
    assert editor.node_ids() == [number]
    page.keyboard.press("Control+Shift+z")
    page.keyboard.press("Control+Shift+z")
    page.keyboard.press("Control+Shift+z")
    assert editor.links()[math] == {"a": {"node": number, "output": "result"}}
    expect(editor.widget(number, "value")).to_have_value("42")


def test_copied_nodes_paste_at_the_pointer_with_new_ids_and_their_inner_wire(editor, page):
    number = editor.add_node("integer", 60, 80)
    text = editor.add_node("number to text", 380, 80)
    editor.wire(number, "result", text, "value")
    editor.set_number(number, "value", 5)
    canvas = editor.canvas_box()
    editor.drag((canvas["x"] + 20, canvas["y"] + 20), (canvas["x"] + 700, canvas["y"] + 300), modifier="Shift")
    page.keyboard.press("Control+c")
    page.mouse.move(canvas["x"] + 100, canvas["y"] + 400)
    page.keyboard.press("Control+v")

    ids = editor.node_ids()
    assert len(ids) == 4
    new_number, new_text = [i for i in ids if i not in (number, text)]
    workflow = editor.workflow()
    assert workflow["nodes"][new_number]["inputs"] == {"value": 5}
    assert workflow["nodes"][new_text]["links"] == {"value": {"node": new_number, "output": "result"}}
    assert workflow["ui"]["nodes"][new_number]["pos"] == [100, 400]
    expect(editor.node(new_number)).to_have_class(re.compile(r"\bselected\b"))
