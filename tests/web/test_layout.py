"""The editor's layout from a wide desktop down to a phone: the toolbar fits, nothing overlaps, Queue is reachable."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.web.conftest import ARTIFACTS

SIZES = [(1440, 900), (1024, 700), (400, 800)]
TOOLBAR_CONTROLS = "#toolbar :is(button, input, select, #status)"


@pytest.fixture
def open_editor(browser, server, request) -> Iterator[Callable[[int, int], Any]]:
    """Open the editor in a fresh browser context of the given viewport size; screenshots and script errors are
    checked at the end, as the shared `page` fixture does."""
    opened: list[tuple[Any, Any, list[str]]] = []

    def open_at(width: int, height: int) -> Any:
        context = browser.new_context(viewport={"width": width, "height": height})
        tab = context.new_page()
        errors: list[str] = []
        tab.on("pageerror", lambda exc: errors.append(str(exc)))
        tab.goto(server.url)
        tab.wait_for_selector("body[data-ready=true]", timeout=15000)
        opened.append((context, tab, errors))
        return tab

    yield open_at
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for context, tab, errors in opened:
        size = tab.viewport_size
        tab.screenshot(path=str(ARTIFACTS / f"{request.node.name}-{size['width']}x{size['height']}.png"))
        context.close()
        assert not errors, f"script errors in the page: {errors}"


def visible_boxes(page: Any, selector: str) -> list[dict[str, Any]]:
    """Each visible element matching `selector` with its test id and its box on the screen."""
    return page.evaluate(
        """(selector) => [...document.querySelectorAll(selector)].filter((el) => el.checkVisibility()).map((el) => {
            const r = el.getBoundingClientRect();
            return { id: el.dataset.testid || el.id, left: r.left, right: r.right, top: r.top, bottom: r.bottom };
        })""",
        selector,
    )


def overlapping(boxes: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Pairs of boxes that share some area."""
    return [
        (a["id"], b["id"])
        for i, a in enumerate(boxes)
        for b in boxes[i + 1 :]
        if min(a["right"], b["right"]) - max(a["left"], b["left"]) > 0.5
        and min(a["bottom"], b["bottom"]) - max(a["top"], b["top"]) > 0.5
    ]


def is_hit_by_a_click(page: Any, testid: str) -> bool:
    """Whether a click at the element's centre lands on the element itself (nothing covers it)."""
    return page.evaluate(
        """(testid) => {
            const el = document.querySelector(`[data-testid="${testid}"]`);
            const r = el.getBoundingClientRect();
            return el.contains(document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2));
        }""",
        testid,
    )


def open_example(page: Any, name: str) -> None:
    """Pick an example from the toolbar's Examples list, through the ☰ menu when the toolbar is folded."""
    if page.get_by_test_id("btn-more").is_visible():
        page.get_by_test_id("btn-more").click()
    page.get_by_test_id("examples").select_option(label=f"Example: {name}")
    expect(page.get_by_test_id("status")).to_contain_text(f"Opened {name}")


@pytest.mark.parametrize(("width", "height"), SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_every_toolbar_control_is_on_screen_apart_from_the_others_and_queue_runs_the_workflow(
    open_editor, width, height
):
    page = open_editor(width, height)
    open_example(page, "arithmetic.json")

    boxes = visible_boxes(page, TOOLBAR_CONTROLS)
    toolbar = page.get_by_test_id("toolbar").bounding_box()
    assert {"btn-queue", "status"} <= {b["id"] for b in boxes}
    for box in boxes:
        assert box["left"] >= 0 and box["right"] <= width, f"{box['id']} is off the screen: {box}"
        assert toolbar["y"] <= box["top"] and box["bottom"] <= toolbar["y"] + toolbar["height"], f"{box['id']} wrapped"
    assert overlapping(boxes) == []
    assert is_hit_by_a_click(page, "btn-queue")

    page.get_by_test_id("btn-queue").click()
    expect(page.get_by_test_id("text-save")).to_have_text("upscaled width: 768", timeout=20000)


def test_at_1024x700_the_whole_toolbar_shows_on_one_line_with_the_status(open_editor):
    page = open_editor(1024, 700)
    open_example(page, "arithmetic.json")

    ids = {b["id"] for b in visible_boxes(page, TOOLBAR_CONTROLS)}
    tools = {"btn-open", "btn-save", "workflow-name", "examples", "btn-add", "btn-undo", "btn-redo", "btn-fit"}
    assert tools | {"btn-clear", "btn-help", "btn-settings", "btn-queue"} <= ids
    assert not page.get_by_test_id("btn-more").is_visible()
    status = page.get_by_test_id("status").bounding_box()
    assert status["width"] >= 90
    assert page.get_by_test_id("panel").is_visible()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "layout_1024x700.png"))


def test_below_900_px_the_side_panel_is_a_drawer_opened_by_the_panel_button(open_editor):
    page = open_editor(860, 700)
    panel, button = page.get_by_test_id("panel"), page.get_by_test_id("btn-panel")
    expect(panel).to_be_hidden()
    assert page.get_by_test_id("canvas").bounding_box()["width"] == 860

    button.click()
    expect(panel).to_be_visible()
    expect(button).to_have_attribute("aria-expanded", "true")
    expect(page.get_by_test_id("tab-queue")).to_be_focused()
    assert page.get_by_test_id("canvas").bounding_box()["width"] == 860, "the drawer opens over the canvas"
    page.get_by_test_id("tab-history").click()
    expect(page.get_by_test_id("history-list")).to_be_visible()

    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(button).to_have_attribute("aria-expanded", "false")
    expect(button).to_be_focused()

    button.click()
    canvas = page.get_by_test_id("canvas").bounding_box()
    page.mouse.click(canvas["x"] + 40, canvas["y"] + canvas["height"] - 40)
    expect(panel).to_be_hidden()


def test_on_a_phone_the_tools_fold_into_a_menu_that_closes_once_used(open_editor):
    page = open_editor(400, 800)
    more, tools = page.get_by_test_id("btn-more"), page.get_by_test_id("toolbar-tools")
    expect(tools).to_be_hidden()
    assert page.get_by_test_id("canvas").bounding_box()["width"] == 400

    more.click()
    expect(more).to_have_attribute("aria-expanded", "true")
    expect(tools).to_be_visible()
    expect(page.get_by_test_id("btn-open")).to_be_focused()
    assert overlapping(visible_boxes(page, "#toolbar-tools :is(button, input, select)")) == []
    assert all(b["right"] <= 400 for b in visible_boxes(page, "#toolbar-tools :is(button, input, select)"))
    page.keyboard.press("Escape")
    expect(tools).to_be_hidden()
    expect(more).to_be_focused()

    more.click()
    page.get_by_role("button", name="Settings").click()
    expect(page.get_by_test_id("settings-dialog")).to_be_visible()
    expect(tools).to_be_hidden()
