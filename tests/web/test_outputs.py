"""Looking at outputs: the picture viewer (size, zoom, download, before/after), history rows, cache marks after a run,
and the seed's control after generate. Runs the example workflows on the demo model with few steps."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from graphflow.models.builtin import builtin_checkpoints

pytestmark = pytest.mark.skipif(
    "builtin:shapes-demo" not in builtin_checkpoints(), reason="the demo model is not installed"
)

STEPS = 3
PROMPT = "a large red triangle at the top"  # the txt2img example's prompt
SIDE = 64  # the examples' picture size


def run_example(page, editor, name: str) -> None:
    """Open example `name`, lower its sampler's steps, queue it and wait until it has finished."""
    page.get_by_test_id("examples").select_option(label=f"Example: {name}.json")
    expect(page.get_by_test_id("node-sampler")).to_be_visible()
    editor.set_number("sampler", "steps", STEPS)
    queue_and_wait(page)


def queue_and_wait(page) -> None:
    """Press Queue and wait for the run's end (the status line is emptied when queueing)."""
    page.get_by_test_id("btn-queue").click()
    expect(page.get_by_test_id("status")).to_contain_text("Finished", timeout=120000)


def shown_width(locator) -> float:
    return locator.bounding_box()["width"]


def serious_violations(page, selector: str) -> list[str]:
    """Critical and serious axe-core violations inside the elements `selector` finds."""
    axe = pytest.importorskip("axe_playwright_python.sync_playwright", reason="needs axe-playwright-python")
    violations = axe.Axe().run(page, context={"include": [[selector]]}).response["violations"]
    return [
        f"{v['id']} ({v['help']}) at {[n['target'] for n in v['nodes'][:4]]}"
        for v in violations
        if v["impact"] in ("critical", "serious")
    ]


def test_clicking_a_nodes_picture_shows_it_large_zoomable_and_downloadable(editor, page, screenshot):
    run_example(page, editor, "txt2img")
    picture = page.get_by_test_id("image-save")
    expect(picture).to_be_visible()
    picture.click()

    viewer = page.get_by_role("dialog", name="Picture viewer")
    expect(viewer).to_be_visible()
    image = page.get_by_test_id("viewer-image")
    expect(image).to_have_js_property("naturalWidth", SIDE)
    assert shown_width(image) >= 256, "a 64 px picture is enlarged to fit the window"
    assert image.evaluate("img => getComputedStyle(img).imageRendering") == "pixelated"
    expect(page.get_by_test_id("viewer-info")).to_contain_text(f"{SIDE} × {SIDE} px")
    screenshot("outputs-viewer")

    fitted = shown_width(image)
    page.get_by_test_id("viewer-zoom-in").click()
    assert shown_width(image) == pytest.approx(fitted * 1.25, abs=1)
    page.get_by_test_id("viewer-actual-size").click()
    assert shown_width(image) == pytest.approx(SIDE, abs=1)
    expect(image).not_to_have_css("image-rendering", "pixelated")
    page.keyboard.press("0")  # fit again
    assert shown_width(image) == pytest.approx(fitted, abs=1)
    box = page.get_by_test_id("viewer-stage").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, -300)
    assert shown_width(image) > fitted

    link = page.get_by_test_id("viewer-download")
    expect(link).to_have_attribute("download", re.compile(r"^txt2img_\d+_\.png$"))
    with page.expect_download() as download:
        link.click()
    assert re.fullmatch(r"txt2img_\d+_\.png", download.value.suggested_filename)
    assert Path(download.value.path()).read_bytes().startswith(b"\x89PNG")

    page.keyboard.press("Delete")  # the editor's keys do not act behind the viewer (the clicked node is selected)
    assert "save" in editor.node_ids()
    page.keyboard.press("Escape")
    expect(viewer).to_be_hidden()


def test_the_viewer_keeps_the_focus_inside_until_closed(editor, page):
    page.evaluate("graphflow.openViewer(['api/view?filename=shapes.png&type=input'])")
    dialog = page.get_by_test_id("viewer")
    expect(dialog).to_be_visible()
    for _ in range(12):
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.closest('[data-testid=viewer]') !== null")
    page.get_by_test_id("viewer-close").click()
    expect(dialog).to_be_hidden()


def test_history_rows_show_when_how_long_prompt_seed_and_picture_and_open_the_run(editor, page, screenshot):
    run_example(page, editor, "txt2img")
    page.get_by_test_id("tab-history").click()
    row = page.locator("#history-list .history-item").first
    expect(row).to_contain_text(PROMPT)
    expect(row).to_contain_text("seed 42")
    expect(row.locator(".history-duration")).to_have_text(re.compile(r"^\d+\.\d s$"))
    expect(row.locator("time")).to_have_attribute("datetime", re.compile(r"^\d{4}-\d\d-\d\dT"))
    thumbnail = row.locator(".history-view img")
    expect(thumbnail).to_have_attribute("src", re.compile(r"filename=txt2img_\d+_\.png"))
    assert thumbnail.evaluate("img => img.decode().then(() => img.naturalWidth)") == SIDE
    screenshot("outputs-history")
    assert serious_violations(page, "#history-list") == []

    row.locator(".history-view").click()
    expect(page.get_by_test_id("viewer")).to_be_visible()
    expect(page.get_by_test_id("viewer-name")).to_have_text(re.compile(r"^txt2img_\d+_\.png$"))
    page.keyboard.press("Escape")

    editor.set_text("prompt", "text", "something else")
    row.click()
    expect(page.get_by_test_id("node-sampler")).to_be_visible()
    page.wait_for_function(f"graphflow.graph.nodes.get('prompt')?.values.text === {PROMPT!r}")


def test_nodes_from_the_cache_keep_a_mark_after_the_run_until_the_graph_changes(editor, page, screenshot):
    run_example(page, editor, "txt2img")
    queue_and_wait(page)  # the same graph again: everything before the Save node comes from the cache
    for node in ("checkpoint", "prompt", "sampler", "decode"):
        expect(editor.node(node)).to_have_class(re.compile(r"\bcached\b"))
        expect(page.get_by_test_id(f"cached-{node}")).to_have_attribute("title", "from the cache")
    screenshot("outputs-cached")
    assert serious_violations(page, "#nodes") == []

    header = editor.node("decode").locator(".node-header")
    box = header.bounding_box()
    editor.drag((box["x"] + 20, box["y"] + box["height"] / 2), (box["x"] + 60, box["y"] + 40))
    expect(page.get_by_test_id("cached-decode")).to_be_visible()  # moving a node changes nothing that runs

    editor.set_number("sampler", "steps", STEPS + 1)
    expect(page.locator(".cached-badge")).to_have_count(0)
    expect(page.locator("#nodes .node.cached")).to_have_count(0)


def test_seed_increment_after_queueing_makes_the_next_run_differ(editor, page):
    page.get_by_test_id("examples").select_option(label="Example: txt2img.json")
    editor.set_number("sampler", "steps", STEPS)
    control = page.get_by_test_id("seed-control-sampler")
    expect(control).to_have_value("fixed")
    control.select_option("increment")
    assert editor.workflow()["ui"]["seed_control"] == {"sampler": "increment"}
    seed = editor.widget("sampler", "seed").locator("input")
    expect(seed).to_have_value("42")

    queue_and_wait(page)
    expect(seed).to_have_value("43")
    assert editor.workflow()["nodes"]["sampler"]["inputs"]["seed"] == 43
    page.get_by_test_id("tab-history").click()
    expect(page.locator("#history-list .history-item").first).to_contain_text("seed 42")  # the run used 42

    control.select_option("randomize")
    queue_and_wait(page)
    assert editor.workflow()["nodes"]["sampler"]["inputs"]["seed"] != 43
    control.select_option("fixed")
    before = editor.workflow()["nodes"]["sampler"]["inputs"]["seed"]
    queue_and_wait(page)
    assert editor.workflow()["nodes"]["sampler"]["inputs"]["seed"] == before
    assert "seed_control" not in editor.workflow()["ui"]


def test_an_img2img_result_compares_with_its_input_picture(editor, page, screenshot):
    run_example(page, editor, "img2img")
    page.get_by_test_id("image-save").click()
    slider = page.get_by_test_id("viewer-compare")
    expect(slider).to_be_visible()
    before = page.get_by_test_id("viewer-before")
    expect(before).to_have_attribute("src", re.compile(r"filename=shapes\.png.*type=input"))
    assert shown_width(before) == pytest.approx(shown_width(page.get_by_test_id("viewer-image")), abs=1)
    frame = page.locator(".viewer-frame")
    expect(frame).to_have_attribute("style", re.compile(r"--wipe: 50%"))
    slider.focus()
    page.keyboard.press("End")
    expect(frame).to_have_attribute("style", re.compile(r"--wipe: 100%"))
    page.keyboard.press("Home")
    expect(frame).to_have_attribute("style", re.compile(r"--wipe: 0%"))
    screenshot("outputs-compare")
    assert serious_violations(page, ".viewer") == []
    page.keyboard.press("Escape")

    page.get_by_test_id("tab-history").click()
    page.locator("#history-list .history-item").first.locator(".history-view").click()
    expect(page.get_by_test_id("viewer-compare")).to_be_visible()
    page.get_by_test_id("viewer-close").click()

    # without an input picture there is nothing to compare with
    page.evaluate("graphflow.openViewer([document.querySelector('[data-testid=image-save]').src])")
    expect(page.get_by_test_id("viewer-compare")).to_be_hidden()


def test_gallery_pictures_page_through_in_the_viewer_and_offer_mask_editing(editor, page, server):
    run_example(page, editor, "txt2img")
    queue_and_wait(page)  # the Save node runs again: a second picture
    page.get_by_test_id("tab-gallery").click()
    # the panel redraws history and gallery together: once the newest run's row is there, the gallery is final
    [newest] = page.request.get(f"{server.url}api/history?limit=1").json()["items"]
    expect(page.get_by_test_id(f"history-item-{newest['prompt_id']}")).to_be_attached()
    items = page.get_by_test_id("gallery-item")
    expect(items.nth(1)).to_be_visible()
    total = items.count()
    items.first.get_by_role("button").click()
    count = page.get_by_test_id("viewer-count")
    expect(count).to_have_text(f"1 / {total}")
    name = page.get_by_test_id("viewer-name")
    first = name.text_content()
    page.keyboard.press("ArrowRight")
    expect(count).to_have_text(f"2 / {total}")
    expect(name).not_to_have_text(first)
    page.get_by_test_id("viewer-prev").click()
    expect(count).to_have_text(f"1 / {total}")
    page.get_by_test_id("viewer-prev").click()  # round to the last
    expect(count).to_have_text(f"{total} / {total}")

    page.get_by_test_id("viewer-edit-mask").click()
    expect(page.get_by_test_id("viewer")).to_be_hidden()
    expect(page.get_by_test_id("painter")).to_be_visible()
