"""Problems are shown on the node at fault: validation issues before running, and failures while running."""

import re

from playwright.sync_api import expect


def test_missing_input_is_shown_on_the_node_at_fault_and_nothing_runs(editor, page):
    number = editor.add_node("integer", 60, 80)
    needy = editor.add_node("needs value", 380, 80)
    saver = editor.add_node("save test image", 700, 80)
    editor.wire(needy, "result", saver, "value")
    page.get_by_test_id("btn-queue").click()

    expect(editor.node(needy)).to_have_class(re.compile(r"\bhas-error\b"))
    expect(page.get_by_test_id(f"node-error-{needy}")).to_contain_text("value")
    expect(editor.node(needy).locator(".widget-row.input-error")).to_have_attribute("data-input", "value")
    expect(editor.node(number)).not_to_have_class(re.compile(r"\bhas-error\b"))
    expect(editor.node(saver)).not_to_have_class(re.compile(r"\bhas-error\b"))
    expect(page.get_by_test_id("status")).to_contain_text("Cannot run: 1 problem")

    editor.wire(number, "result", needy, "value")
    page.get_by_test_id("btn-queue").click()
    expect(page.get_by_test_id(f"image-{saver}")).to_be_visible(timeout=15000)
    expect(editor.node(needy)).not_to_have_class(re.compile(r"\bhas-error\b"))


def test_node_that_fails_while_running_gets_the_error_message(editor, page):
    math = editor.add_node("float math", 60, 80)
    text = editor.add_node("number to text", 400, 80)
    save = editor.add_node("save text", 720, 80)
    editor.widget(math, "operation").select_option("divide")
    editor.set_number(math, "a", 1)
    editor.wire(math, "result", text, "value")
    editor.wire(text, "result", save, "text")
    page.keyboard.press("Control+Enter")

    expect(editor.node(math)).to_have_class(re.compile(r"\bhas-error\b"), timeout=15000)
    expect(page.get_by_test_id(f"node-error-{math}")).not_to_be_empty()
    expect(page.get_by_test_id("status")).to_contain_text(f"Run failed at node {math}")
    expect(editor.node(save)).not_to_have_class(re.compile(r"\bhas-error\b"))
