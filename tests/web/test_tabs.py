"""Workflow tabs: opening never replaces work, tabs and their undo survive a reload, unsaved marks, server saves."""

import json
import re

from playwright.sync_api import expect

from tests.web.editor import centre


def tab(page, name):
    """The tab whose name contains `name`."""
    return page.get_by_test_id("workflow-tab").filter(has_text=name)


def tab_names(page):
    return page.get_by_test_id("workflow-tab").locator(".wf-tab-label").all_text_contents()


def focus_canvas(editor, page):
    box = editor.canvas_box()
    page.mouse.click(box["x"] + box["width"] - 30, box["y"] + box["height"] - 30)


def test_opening_an_example_over_an_edited_graph_keeps_both_in_tabs(editor, page):
    mine = editor.add_node("integer", 80, 80)
    page.get_by_test_id("examples").select_option(label="Example: arithmetic.json")
    expect(editor.node("scaled")).to_be_visible()
    assert tab_names(page) == ["untitled.json", "arithmetic.json"]
    expect(tab(page, "arithmetic.json")).to_have_class(re.compile(r"\bactive\b"))
    expect(tab(page, "untitled.json").get_by_test_id("unsaved-mark")).to_be_visible()
    expect(tab(page, "arithmetic.json").get_by_test_id("unsaved-mark")).to_be_hidden()

    tab(page, "untitled.json").get_by_test_id("workflow-tab-open").click()
    assert editor.node_ids() == [mine]
    expect(page.get_by_test_id("workflow-name")).to_have_value("untitled.json")
    tab(page, "arithmetic.json").get_by_test_id("workflow-tab-open").click()
    expect(editor.node("scaled")).to_be_visible()
    assert mine not in editor.node_ids()


def test_every_tab_and_its_undo_history_come_back_after_a_reload(editor, page):
    first = editor.add_node("integer", 80, 80)
    second = editor.add_node("float", 80, 300)
    page.get_by_test_id("examples").select_option(label="Example: arithmetic.json")
    expect(editor.node("scaled")).to_be_visible()
    added = editor.add_node("text", 700, 500)

    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    assert tab_names(page) == ["untitled.json", "arithmetic.json"]
    expect(tab(page, "arithmetic.json")).to_have_class(re.compile(r"\bactive\b"))
    assert added in editor.node_ids()
    focus_canvas(editor, page)
    page.keyboard.press("Control+z")
    expect(editor.node(added)).to_have_count(0)
    expect(editor.node("scaled")).to_be_visible()

    tab(page, "untitled.json").get_by_test_id("workflow-tab-open").click()
    assert sorted(editor.node_ids()) == sorted([first, second])
    focus_canvas(editor, page)
    page.keyboard.press("Control+z")
    assert editor.node_ids() == [first]


def test_unsaved_mark_appears_after_an_edit_and_goes_after_save_to_server(editor, page):
    mark = tab(page, "untitled.json").get_by_test_id("unsaved-mark")
    expect(mark).to_be_hidden()
    number = editor.add_node("integer", 80, 80)
    expect(mark).to_be_visible()
    expect(tab(page, "untitled.json").get_by_test_id("workflow-tab-open")).to_have_attribute(
        "title", "untitled.json: unsaved changes"
    )
    page.get_by_test_id("workflow-name").fill("counting.json")
    page.get_by_test_id("btn-save-server").click()
    saved_mark = tab(page, "counting.json").get_by_test_id("unsaved-mark")
    expect(saved_mark).to_be_hidden()
    editor.set_number(number, "value", 7)
    expect(saved_mark).to_be_visible()


def test_workflow_saved_to_the_server_is_listed_and_opens_in_a_new_tab(editor, page):
    number = editor.add_node("integer", 80, 80)
    editor.set_number(number, "value", 12)
    page.get_by_test_id("workflow-name").fill("twelve.json")
    page.get_by_test_id("btn-save-server").click()
    examples = page.get_by_test_id("examples")
    expect(examples.locator("option", has_text="Saved: twelve.json")).to_have_count(1)
    editor.add_node("float", 80, 300)  # the open tab moves on from what was saved

    examples.select_option(label="Saved: twelve.json")
    expect(page.get_by_test_id("workflow-tab")).to_have_count(2)
    opened = page.get_by_test_id("workflow-tab").nth(1)
    expect(opened).to_have_class(re.compile(r"\bactive\b"))
    expect(opened.get_by_test_id("unsaved-mark")).to_be_hidden()
    assert editor.node_ids() == [number]
    expect(editor.widget(number, "value")).to_have_value("12")


def test_closing_a_tab_with_unsaved_changes_asks_first(editor, page):
    editor.add_node("integer", 80, 80)
    page.keyboard.press("Control+Alt+n")
    expect(page.get_by_test_id("workflow-tab")).to_have_count(2)
    assert editor.node_ids() == []
    page.keyboard.press("Control+Alt+w")  # an untouched tab closes without a question
    expect(page.get_by_test_id("workflow-tab")).to_have_count(1)
    expect(page.get_by_test_id("ask-dialog")).to_have_count(0)

    edited = tab(page, "untitled.json")
    edited.get_by_test_id("workflow-tab-close").click()
    expect(page.get_by_test_id("ask-dialog")).to_contain_text("unsaved changes")
    page.get_by_test_id("ask-cancel").click()
    expect(page.get_by_test_id("ask-dialog")).to_have_count(0)
    assert len(editor.node_ids()) == 1

    edited.click(button="middle")
    page.get_by_test_id("ask-accept").click()
    expect(page.get_by_test_id("workflow-tab")).to_have_count(1)  # a fresh empty tab takes its place
    assert editor.node_ids() == []
    expect(tab(page, "untitled.json").get_by_test_id("unsaved-mark")).to_be_hidden()


def test_undo_after_a_wire_picked_off_and_dropped_with_escape_restores_only_that_wire(editor, page):
    number = editor.add_node("integer", 60, 40)
    math = editor.add_node("float math", 60, 200)
    editor.wire(number, "result", math, "a")
    doomed = [editor.add_node("integer", 60, 420), editor.add_node("float", 60, 560)]
    for node in doomed:
        page.mouse.click(*centre(editor.node(node).locator(".node-header")))
        page.keyboard.press("Delete")
    # Pick the wire off its input end, drop it on the empty canvas and cancel the node menu it offers.
    start = centre(editor.port(math, "in", "a"))
    editor.drag(start, (start[0] + 600, start[1] + 200))
    expect(page.get_by_test_id("node-menu")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("node-menu")).to_have_count(0)
    assert editor.links()[math] == {}

    page.keyboard.press("Control+z")
    assert editor.links()[math] == {"a": {"node": number, "output": "result"}}
    assert sorted(editor.node_ids()) == sorted([number, math])
    page.keyboard.press("Control+z")
    assert sorted(editor.node_ids()) == sorted([number, math, doomed[1]])


def fill_storage_leaving(page, free_chars):
    """Fill the page's localStorage with a filler item until only about `free_chars` characters fit."""
    page.evaluate(
        """(free) => {
            let [fits, fails] = [0, 8_000_000];
            while (fails - fits > 256) {
                const size = Math.floor((fits + fails) / 2);
                try { localStorage.setItem("filler", "x".repeat(size)); fits = size; } catch { fails = size; }
            }
            localStorage.setItem("filler", "x".repeat(Math.max(0, fits - free)));
        }""",
        free_chars,
    )


def test_a_full_browser_storage_drops_the_oldest_undo_steps_but_keeps_the_graph(editor, page):
    fill_storage_leaving(page, 6000)
    number = editor.add_node("integer", 80, 80)
    for value in range(1, 41):
        editor.set_number(number, "value", value)

    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    expect(editor.widget(number, "value")).to_have_value("40")
    stored = page.evaluate("JSON.parse(localStorage.getItem('graphflow.editor.tabs')).tabs[0].history.past.length")
    assert 0 < stored < 41
    focus_canvas(editor, page)
    page.keyboard.press("Control+z")
    expect(editor.widget(number, "value")).to_have_value("39")
    expect(page.get_by_test_id("toast")).to_have_count(0)


def test_a_workflow_kept_by_the_editor_before_tabs_comes_back_as_an_unsaved_tab(editor, page):
    number = editor.add_node("integer", 80, 80)
    editor.set_number(number, "value", 5)
    workflow = editor.workflow()
    # What an editor before tabs left behind, in place before the page's scripts run.
    page.add_init_script(
        f"""localStorage.removeItem("graphflow.editor.tabs");
        localStorage.setItem("graphflow.editor.workflow", {json.dumps(json.dumps(workflow))});"""
    )
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    assert tab_names(page) == ["workflow.json"]
    expect(tab(page, "workflow.json").get_by_test_id("unsaved-mark")).to_be_visible()
    expect(editor.widget(number, "value")).to_have_value("5")
    assert page.evaluate("localStorage.getItem('graphflow.editor.workflow')") is None
