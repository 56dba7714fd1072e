"""Accessibility of the editor: an axe-core audit in the page, controls named in words, keyboard use with a visible
focus, and enough contrast."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

axe_playwright = pytest.importorskip("axe_playwright_python.sync_playwright", reason="needs axe-playwright-python")

BLOCKING = {"critical", "serious"}


def audit(page: Any, where: str) -> list[str]:
    """Run axe-core on the page, print every violation found, return the critical and serious ones as lines."""
    violations = axe_playwright.Axe().run(page).response["violations"]
    lines = [
        f"{where}: {v['impact']} {v['id']} ({v['help']}) at {', '.join(str(n['target']) for n in v['nodes'][:6])}"
        for v in violations
    ]
    print("\n".join(lines) or f"{where}: no violations")
    return [line for line, v in zip(lines, violations, strict=True) if v["impact"] in BLOCKING]


def open_example(page: Any, name: str) -> None:
    page.get_by_test_id("examples").select_option(label=f"Example: {name}")
    expect(page.get_by_test_id("status")).to_contain_text(f"Opened {name}")


def contrast(first: list[float], second: list[float]) -> float:
    """WCAG contrast ratio of two sRGB colours given as 0-255 channels."""

    def luminance(rgb: list[float]) -> float:
        c = [v / 255 for v in rgb[:3]]
        c = [v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4 for v in c]
        return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]

    light, dark = sorted([luminance(first), luminance(second)], reverse=True)
    return (light + 0.05) / (dark + 0.05)


def computed_colours(page: Any, testid: str, *properties: str) -> list[list[float]]:
    """The element's computed colours for each CSS property, as [r, g, b] (opaque colours only)."""
    return page.evaluate(
        """([testid, properties]) => {
            const style = getComputedStyle(document.querySelector(`[data-testid="${testid}"]`));
            return properties.map((p) => style.getPropertyValue(p).match(/[\\d.]+/g).slice(0, 3).map(Number));
        }""",
        [testid, list(properties)],
    )


def test_empty_main_screen_has_no_critical_or_serious_axe_violations(page):
    assert audit(page, "empty editor") == []


def test_main_screen_with_an_example_open_has_no_critical_or_serious_axe_violations(page):
    open_example(page, "txt2img.json")
    assert audit(page, "txt2img example") == []


def test_dialogs_drawer_and_tools_menu_have_no_critical_or_serious_axe_violations(page):
    open_example(page, "arithmetic.json")
    page.keyboard.press("?")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
    problems = audit(page, "shortcuts dialog")
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Settings").click()
    expect(page.get_by_role("dialog", name="Settings")).to_be_visible()
    problems += audit(page, "settings dialog")
    page.keyboard.press("Escape")
    page.set_viewport_size({"width": 420, "height": 800})
    page.get_by_test_id("btn-panel").click()
    expect(page.get_by_test_id("panel")).to_be_visible()
    problems += audit(page, "panel drawer at 420 px")
    page.get_by_test_id("btn-more").click()
    expect(page.get_by_test_id("toolbar-tools")).to_be_visible()
    problems += audit(page, "tools menu at 420 px")
    assert problems == []


def test_toolbar_and_panel_controls_are_named_in_words(page):
    for name in ["Open", "Save", "Add a node", "Undo", "Redo", "Fit view", "Clear the canvas", "Keyboard shortcuts"]:
        expect(page.get_by_role("button", name=name, exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Settings", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Queue", exact=True)).to_be_visible()
    expect(page.get_by_role("textbox", name="Workflow file name")).to_be_visible()
    expect(page.get_by_role("combobox", name="Open an example workflow")).to_be_visible()
    expect(page.get_by_role("img", name="Connected to the server")).to_be_attached()
    expect(page.get_by_role("heading", level=1)).to_have_text("graphflow")
    expect(page.get_by_role("tablist", name="Side panel")).to_be_visible()


def test_tab_reaches_every_toolbar_control_and_shows_a_focus_ring(page):
    wanted = set(
        page.evaluate(
            "[...document.querySelectorAll('#toolbar :is(button, input, select)')]"
            ".filter((el) => el.checkVisibility()).map((el) => el.dataset.testid)"
        )
    )
    reached: set[str] = set()
    for _ in range(40):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            """() => {
                const el = document.activeElement, style = getComputedStyle(el);
                return { id: el.dataset.testid, outline: style.outlineStyle, width: parseFloat(style.outlineWidth) };
            }"""
        )
        if focused["id"] in wanted:
            reached.add(focused["id"])
            assert focused["outline"] != "none" and focused["width"] >= 2, f"no focus ring on {focused['id']}"
        if reached == wanted:
            break
    assert reached == wanted


def test_panel_tabs_are_a_tab_list_that_arrow_keys_move_through(page):
    queue, history, gallery = (page.get_by_role("tab", name=n) for n in ["Queue", "History", "Gallery"])
    expect(queue).to_have_attribute("aria-selected", "true")
    expect(history).to_have_attribute("tabindex", "-1")
    queue.focus()
    page.keyboard.press("ArrowRight")
    expect(history).to_be_focused()
    expect(history).to_have_attribute("aria-selected", "true")
    expect(queue).to_have_attribute("aria-selected", "false")
    expect(page.get_by_role("tabpanel", name="History")).to_be_visible()
    page.keyboard.press("End")
    expect(gallery).to_have_attribute("aria-selected", "true")
    page.keyboard.press("ArrowRight")
    expect(queue).to_have_attribute("aria-selected", "true")
    queue.click()
    page.get_by_test_id("tab-gallery").click()
    expect(gallery).to_have_attribute("aria-selected", "true")
    expect(gallery).to_have_attribute("tabindex", "0")


def test_queue_text_and_field_borders_have_enough_contrast(page):
    text, background = computed_colours(page, "btn-queue", "color", "background-color")
    assert contrast(text, background) >= 4.5
    (toolbar,) = computed_colours(page, "toolbar", "background-color")
    for field in ["workflow-name", "examples"]:
        border, inside = computed_colours(page, field, "border-top-color", "background-color")
        assert contrast(border, toolbar) >= 3 and contrast(border, inside) >= 3, field
