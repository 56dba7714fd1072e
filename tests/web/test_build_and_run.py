"""Building a pipeline on an empty canvas, running it, and watching progress, previews and outputs."""

from playwright.sync_api import expect


def test_pipeline_built_from_an_empty_canvas_runs_and_shows_its_text(editor, page):
    number = editor.add_node("integer", 60, 80)
    math = editor.add_node("float math", 360, 80)
    text = editor.add_node("number to text", 680, 80)
    save = editor.add_node("save text", 980, 80)
    editor.set_number(number, "value", 7)
    editor.set_number(math, "b", 0.5)
    editor.widget(math, "operation").select_option("multiply")
    editor.wire(number, "result", math, "a")  # INT feeds FLOAT
    editor.wire(math, "result", text, "value")
    editor.wire(text, "result", save, "text")

    assert editor.links() == {
        number: {},
        math: {"a": {"node": number, "output": "result"}},
        text: {"value": {"node": math, "output": "result"}},
        save: {"text": {"node": text, "output": "result"}},
    }
    expect(page.get_by_test_id(f"wire-{save}-text")).to_have_count(1)
    page.keyboard.press("Control+Enter")

    expect(page.get_by_test_id(f"text-{save}")).to_have_text("3.5", timeout=15000)
    expect(page.get_by_test_id("status")).to_contain_text("Finished")
    page.get_by_test_id("tab-history").click()
    expect(page.locator(".history-item.success").first).to_contain_text("3.5")


def test_running_node_shows_progress_and_step_previews_then_its_image(editor, page):
    slow = editor.add_node("slow steps", 80, 80)
    saver = editor.add_node("save test image", 420, 80)
    editor.wire(slow, "result", saver, "value")
    page.get_by_test_id("btn-queue").click()

    node = editor.node(slow)
    expect(node).to_have_class(__import__("re").compile(r"\brunning\b"), timeout=10000)
    expect(page.get_by_test_id(f"preview-{slow}")).to_be_visible(timeout=10000)
    width = node.locator(".node-progress-fill").evaluate("el => parseFloat(el.style.width)")
    assert 0 < width <= 100
    expect(page.get_by_test_id("overall-progress")).to_have_attribute("data-state", "running")
    worker = page.get_by_test_id("worker-worker-1")  # the queue panel shows the worker running the prompt
    expect(worker).to_contain_text("busy")
    expect(worker).to_contain_text("running")

    image = page.get_by_test_id(f"image-{saver}")
    expect(image).to_be_visible(timeout=15000)
    assert image.evaluate("img => img.complete && img.naturalWidth") == 48
    expect(page.get_by_test_id(f"preview-{slow}")).to_have_count(0)
    expect(page.get_by_test_id("overall-progress")).to_have_attribute("data-state", "idle")
    expect(worker).to_contain_text("idle")
    page.get_by_test_id("tab-gallery").click()
    expect(page.get_by_test_id("gallery-item").first).to_be_visible()
