"""The keyboard shortcuts dialog (`?`) and the Settings dialog: what they list, how they open and close, and that
each preference is kept and takes effect."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect


def shortcut_row(dialog: Any, label: str) -> Any:
    """The dialog's table row for the action named `label`."""
    return dialog.get_by_role("row").filter(has=dialog.page.get_by_role("rowheader", name=label, exact=True))


def open_settings(page: Any) -> Any:
    """Open the Settings dialog from the toolbar's gear button."""
    page.get_by_role("button", name="Settings").click()
    dialog = page.get_by_role("dialog", name="Settings")
    expect(dialog).to_be_visible()
    return dialog


def test_question_mark_lists_every_shortcut_by_group_and_escape_closes_it(page):
    page.evaluate(
        """import("./shortcuts.js").then((m) => m.addShortcut("Alt+K", "Knit the selection", () => {},
            { group: "Knitting" }))"""
    )
    page.get_by_test_id("canvas").click(position={"x": 50, "y": 50})
    page.keyboard.press("?")

    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_be_visible()
    expect(dialog).to_have_attribute("aria-modal", "true")
    expect(page.get_by_test_id("shortcuts-dialog-close")).to_be_focused()
    headings = dialog.get_by_role("heading", level=3).all_inner_texts()
    assert [h.lower() for h in headings[:4]] == ["workflow", "editing", "view", "help"]
    assert {"knitting", "mouse"} <= {h.lower() for h in headings}
    expect(shortcut_row(dialog, "Undo")).to_contain_text("Ctrl+Z")
    expect(shortcut_row(dialog, "Redo")).to_contain_text("Ctrl+Shift+Z or Ctrl+Y")
    expect(shortcut_row(dialog, "Knit the selection")).to_contain_text("Alt+K")
    expect(shortcut_row(dialog, "Show the keyboard shortcuts")).to_contain_text("?")

    page.keyboard.press("f")  # shortcuts are off while a modal dialog is open
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()


def test_help_button_opens_the_shortcuts_and_closing_returns_the_focus_to_it(page):
    button = page.get_by_role("button", name="Keyboard shortcuts")
    button.click()
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_be_visible()
    page.get_by_test_id("shortcuts-dialog-close").click()
    expect(dialog).to_be_hidden()
    expect(button).to_be_focused()

    button.press("Enter")
    expect(dialog).to_be_visible()
    page.mouse.click(5, 5)  # the backdrop
    expect(dialog).to_be_hidden()


def test_turning_off_single_key_shortcuts_stops_the_question_mark_and_is_remembered(page):
    dialog = open_settings(page)
    choice = dialog.get_by_label("Single-key shortcuts (F, ?)")
    expect(choice).to_be_checked()
    choice.uncheck()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    page.get_by_test_id("canvas").click(position={"x": 50, "y": 50})
    page.keyboard.press("?")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_hidden()
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    expect(open_settings(page).get_by_label("Single-key shortcuts (F, ?)")).not_to_be_checked()


def test_reduce_motion_turns_transitions_off(page):
    dialog = open_settings(page)
    dialog.get_by_label("Reduce motion").check()
    expect(page.locator("html")).to_have_attribute("data-motion", "reduce")
    bar = "document.querySelector('#overall-progress')"
    assert page.evaluate(f"getComputedStyle({bar}, '::after').transitionDuration") == "0s"
    dialog.get_by_label("Reduce motion").uncheck()
    expect(page.locator("html")).to_have_attribute("data-motion", "full")


def test_undocking_the_panel_gives_a_wide_screen_canvas_the_whole_width(page):
    canvas_width = page.get_by_test_id("canvas").bounding_box()["width"]
    open_settings(page).get_by_label("Keep the queue panel beside the canvas on wide screens").uncheck()
    page.keyboard.press("Escape")

    expect(page.get_by_test_id("panel")).to_be_hidden()
    assert page.get_by_test_id("canvas").bounding_box()["width"] > canvas_width
    page.get_by_test_id("btn-panel").click()
    expect(page.get_by_test_id("panel")).to_be_visible()


def test_a_setting_registered_by_another_module_is_listed_and_read_back(page):
    page.evaluate(
        """import("./settings.js").then((m) => m.registerSetting({ key: "test.wires", label: "Wire style",
            type: "choice", default: "curved", group: "Canvas",
            choices: [{ value: "curved", label: "Curved" }, { value: "straight", label: "Straight" }] }))"""
    )
    dialog = open_settings(page)
    expect(dialog.get_by_role("group", name="Canvas")).to_be_visible()
    wires = dialog.get_by_label("Wire style")
    expect(wires).to_have_value('"curved"')
    wires.select_option(label="Straight")
    assert page.evaluate("graphflow.settings.get('test.wires')") == "straight"
    assert page.evaluate("JSON.parse(localStorage.getItem('graphflow.settings'))['test.wires']") == "straight"
