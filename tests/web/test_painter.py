"""The mask and sketch painter, driven with the real mouse and keyboard: a mask painted over shapes.png inpaints only
where it was painted, a sketch on a blank canvas runs sketch-to-image, the painter's tools change the mask as they
should, and pictures dropped or pasted onto a Load Image node land in its widget."""

from __future__ import annotations

import io
import itertools
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from playwright.sync_api import expect

INPUTS = Path(__file__).resolve().parents[2] / "graphflow" / "workflows" / "inputs"
SIDE = 64  # the example inputs are 64 x 64
STROKE = [(14, 20), (30, 24), (48, 20)]  # picture pixels of the test's mask stroke
BRUSH = 8  # the painter's default brush on a 64-pixel picture: a side / 8


def open_example(page: Any, name: str) -> None:
    page.get_by_test_id("examples").select_option(label=f"Example: {name}")
    expect(page.get_by_test_id("status")).to_contain_text(f"Opened {name}")


def image_widget(editor: Any, node: str) -> Any:
    return editor.widget(node, "image")


def choose_picture(editor: Any, node: str, name: str) -> None:
    image_widget(editor, node).locator("select").select_option(name)


def open_painter(editor: Any, node: str, mode: str) -> Any:
    """Click the image widget's Mask… or Sketch… button; returns the painter dialog."""
    image_widget(editor, node).get_by_test_id(f"image-{mode}").click()
    painter = editor.page.get_by_test_id("painter")
    expect(painter).to_be_visible()
    return painter


def paint(page: Any, points: list[tuple[float, float]]) -> None:
    """Drag the mouse through `points` (picture pixels) on the painter's sheet."""
    box = page.get_by_test_id("painter-layer").bounding_box()
    scale = box["width"] / SIDE
    screen = [(box["x"] + (x + 0.5) * scale, box["y"] + (y + 0.5) * scale) for x, y in points]
    page.mouse.move(*screen[0])
    page.mouse.down()
    for point in screen[1:]:
        page.mouse.move(*point, steps=6)
    page.mouse.up()


def coverage(page: Any) -> np.ndarray:
    """The painter layer's alpha (0..255) as [H, W], read back from its canvas."""
    flat = page.evaluate(
        """() => {
            const layer = document.querySelector('[data-testid=painter-layer]');
            const data = layer.getContext('2d').getImageData(0, 0, layer.width, layer.height).data;
            return { w: layer.width, alpha: Array.from(data.filter((_, i) => i % 4 === 3)) };
        }"""
    )
    return np.array(flat["alpha"], dtype=np.int32).reshape(-1, flat["w"])


def distance_to_stroke(points: list[tuple[float, float]]) -> np.ndarray:
    """Each pixel centre's distance to the polyline through `points`."""
    ys, xs = np.mgrid[0:SIDE, 0:SIDE].astype(float)
    best = np.full((SIDE, SIDE), np.inf)
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        dx, dy = x1 - x0, y1 - y0
        t = np.clip(((xs - x0) * dx + (ys - y0) * dy) / (dx * dx + dy * dy), 0, 1)
        best = np.minimum(best, np.hypot(xs - (x0 + t * dx), ys - (y0 + t * dy)))
    return best


def fetch_picture(server: Any, src: str) -> np.ndarray:
    """The picture an <img> shows, as RGB(A) values."""
    url = src if src.startswith("http") else server.url + src
    with urllib.request.urlopen(url, timeout=30) as response:
        return np.asarray(Image.open(io.BytesIO(response.read())))


def run_and_wait(page: Any, output_node: str) -> Any:
    page.get_by_test_id("btn-queue").click()
    picture = page.get_by_test_id(f"image-{output_node}")
    expect(picture).to_be_visible(timeout=180_000)
    return picture


def test_painted_mask_changes_only_the_painted_region(editor, page, server):
    open_example(page, "inpaint.json")
    choose_picture(editor, "load", "shapes.png")
    painter = open_painter(editor, "load", "mask")
    expect(page.get_by_test_id("painter-title")).to_contain_text("shapes.png")
    paint(page, STROKE)
    page.get_by_test_id("painter-save").click()
    expect(painter).to_be_hidden()

    saved = editor.workflow()["nodes"]["load"]["inputs"]["image"]
    assert saved == "shapes-mask.png"
    expect(image_widget(editor, "load").locator("select")).to_have_value(saved)
    stored = np.asarray(Image.open(server.config.settings.input_dir / saved))
    original = np.asarray(Image.open(INPUTS / "shapes.png").convert("RGB"))
    near = distance_to_stroke(STROKE)
    inside, outside = near <= BRUSH / 2 - 1.5, near >= BRUSH / 2 + 1.5
    # ComfyUI's convention: the painted part is transparent (Load Image's MASK is 1 there); the colours are kept
    assert (stored[..., 3][inside] == 0).all() and (stored[..., 3][outside] == 255).all()
    assert (stored[..., :3] == original).all()

    picture = run_and_wait(page, "save")
    result = fetch_picture(server, picture.get_attribute("src"))[..., :3].astype(int)
    change = np.abs(result - original).sum(axis=-1)
    far = near >= BRUSH / 2 + 3
    assert change[far].max() <= 6, "pixels well away from the stroke must stay as they were"
    assert change[inside].mean() > 20, "the painted region is repainted"


def test_sketch_on_a_blank_canvas_runs_sketch_to_image(editor, page, server):
    open_example(page, "sketch_to_image.json")
    open_painter(editor, "load", "sketch")
    page.get_by_test_id("painter-width").fill(str(SIDE))
    page.get_by_test_id("painter-height").fill(str(SIDE))
    page.get_by_test_id("painter-new").click()
    expect(page.get_by_test_id("painter-title")).to_contain_text(f"blank {SIDE}×{SIDE}")
    page.get_by_test_id("painter-swatch-e53935").click()
    for _ in range(3):
        page.keyboard.press("]")  # a bigger brush for blobs
    paint(page, [(14, 22), (20, 40), (12, 34), (16, 28)])
    page.get_by_test_id("painter-swatch-1e88e5").click()
    paint(page, [(40, 24), (54, 24), (54, 40), (40, 40), (46, 32)])
    page.get_by_test_id("painter-fill").click()
    page.get_by_test_id("painter-swatch-43a047").click()
    paint(page, [(2, 60)])  # the fill tool floods the white background
    page.get_by_test_id("painter-save").click()
    expect(page.get_by_test_id("painter")).to_be_hidden()

    saved = editor.workflow()["nodes"]["load"]["inputs"]["image"]
    assert saved == "sketch-blank.png"
    sketch = np.asarray(Image.open(server.config.settings.input_dir / saved).convert("RGB")).astype(int)
    assert sketch.shape == (SIDE, SIDE, 3)
    assert tuple(sketch[28, 15]) == (0xE5, 0x39, 0x35)
    assert tuple(sketch[32, 47]) == (0x1E, 0x88, 0xE5)
    assert tuple(sketch[60, 2]) == (0x43, 0xA0, 0x47) and tuple(sketch[2, 60]) == (0x43, 0xA0, 0x47)

    picture = run_and_wait(page, "save")
    result = fetch_picture(server, picture.get_attribute("src"))
    assert result.shape[:2] == (SIDE, SIDE)
    expect(page.get_by_test_id("status")).to_contain_text("Finished")


def test_eraser_invert_clear_and_undo_change_the_mask_as_expected(editor, page):
    load = editor.add_node("load image", 200, 200, pick="graphflow.image.load")
    choose_picture(editor, load, "shapes.png")
    editor.node(load).locator(".node-header").click()
    page.keyboard.press("Alt+m")  # the keyboard way to the mask painter of the selected node
    expect(page.get_by_test_id("painter-title")).to_contain_text("Mask · shapes.png")
    stage = page.get_by_test_id("painter-stage")
    zoom_before = page.get_by_test_id("painter-zoom").text_content()
    stage.hover()
    page.mouse.wheel(0, -300)  # zoom in at the pointer: painting still lands on the picture's pixels
    expect(page.get_by_test_id("painter-zoom")).not_to_have_text(zoom_before)

    paint(page, [(10, 32), (54, 32)])
    stroke = coverage(page)
    assert stroke[32, 32] == 255 and stroke[32, 12] == 255 and stroke[5, 5] == 0 and stroke[60, 32] == 0

    page.get_by_test_id("painter-eraser").click()
    paint(page, [(30, 32), (34, 32)])
    erased = coverage(page)
    assert erased[32, 32] == 0 and erased[32, 12] == 255

    page.get_by_test_id("painter-undo").click()
    assert (coverage(page) == stroke).all()

    page.get_by_test_id("painter-invert").click()
    assert (coverage(page) == 255 - stroke).all()

    page.get_by_test_id("painter-clear").click()
    assert (coverage(page) == 0).all()

    page.keyboard.press("Control+z")  # the painter's undo, not the graph's
    assert (coverage(page) == 255 - stroke).all()
    page.keyboard.press("Control+z")
    assert (coverage(page) == stroke).all()
    assert load in editor.node_ids()

    # half opacity paints half coverage; a soft brush fades towards its edge
    page.get_by_test_id("painter-brush").click()
    page.get_by_test_id("painter-clear").click()
    opacity = page.get_by_test_id("painter-opacity")
    opacity.focus()
    page.keyboard.press("End")
    for _ in range(50):
        page.keyboard.press("ArrowLeft")
    expect(opacity).to_have_value("50")
    paint(page, [(32, 12)])
    assert abs(coverage(page)[12, 32] - 128) <= 2
    opacity.focus()
    page.keyboard.press("End")
    page.get_by_test_id("painter-hardness").focus()
    page.keyboard.press("Home")
    paint(page, [(32, 50)])
    soft = coverage(page)[50]
    assert soft[32] > soft[35] > soft[37] >= 0 and soft[32] > 200

    page.keyboard.press("Escape")
    expect(page.get_by_test_id("painter")).to_be_hidden()
    assert editor.workflow()["nodes"][load]["inputs"]["image"] == "shapes.png"


def picture_bytes(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 12), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def drop_on(page: Any, selector: str, name: str, data: bytes) -> None:
    """Drop a file on an element the way a desktop drag-and-drop does (Playwright has no OS file drag)."""
    page.evaluate(
        """([selector, name, bytes]) => {
            const target = document.querySelector(selector);
            const r = target.getBoundingClientRect();
            const transfer = new DataTransfer();
            transfer.items.add(new File([new Uint8Array(bytes)], name, { type: 'image/png' }));
            for (const type of ['dragover', 'drop']) {
                target.dispatchEvent(new DragEvent(type, { dataTransfer: transfer, bubbles: true, cancelable: true,
                    clientX: r.left + r.width / 2, clientY: r.top + r.height / 2 }));
            }
        }""",
        [selector, name, list(data)],
    )


def test_dropping_a_picture_on_a_load_image_node_uploads_it_into_the_widget(editor, page, server):
    load = editor.add_node("load image", 200, 150, pick="graphflow.image.load")
    drop_on(page, f'[data-testid="node-{load}"] .node-header', "dropped.png", picture_bytes((200, 40, 40)))
    expect(image_widget(editor, load).locator("select")).to_have_value("dropped.png")
    assert editor.workflow()["nodes"][load]["inputs"]["image"] == "dropped.png"
    stored = Image.open(server.config.settings.input_dir / "dropped.png")
    assert stored.size == (16, 12)
    assert editor.node_ids() == [load]


def test_pasting_a_picture_onto_the_selected_load_image_node_sets_its_widget(editor, page, server):
    load = editor.add_node("load image", 200, 150, pick="graphflow.image.load")
    editor.node(load).locator(".node-header").click()
    page.evaluate(
        """(bytes) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([new Uint8Array(bytes)], 'image.png', { type: 'image/png' }));
            document.body.dispatchEvent(new ClipboardEvent('paste', { clipboardData: transfer, bubbles: true }));
        }""",
        list(picture_bytes((40, 200, 40))),
    )
    expect(image_widget(editor, load).locator("select")).to_have_value("image.png")
    assert np.asarray(Image.open(server.config.settings.input_dir / "image.png"))[0, 0].tolist() == [40, 200, 40]
    assert editor.node_ids() == [load]


def test_picture_without_a_workflow_dropped_on_the_canvas_becomes_a_load_image_node(editor, page):
    drop_on(page, "[data-testid=canvas]", "holiday.png", picture_bytes((30, 30, 160)))
    page.wait_for_function("graphflow.graph.nodes.size === 1")
    (node,) = editor.node_ids()
    assert editor.node_type(node) == "graphflow.image.load"
    expect(image_widget(editor, node).locator("select")).to_have_value("holiday.png")


def test_output_picture_opens_in_the_painter_and_its_mask_becomes_a_new_load_image_node(editor, page, server):
    open_example(page, "inpaint.json")
    picture = run_and_wait(page, "save")
    picture.click(button="right")
    page.get_by_test_id("picture-mask").click()
    expect(page.get_by_test_id("painter-title")).to_contain_text("inpaint_")
    paint(page, STROKE)
    before = set(editor.node_ids())
    page.get_by_test_id("painter-save").click()
    page.wait_for_function(f"graphflow.graph.nodes.size > {len(before)}")
    (new,) = set(editor.node_ids()) - before
    assert editor.node_type(new) == "graphflow.image.load"
    name = editor.workflow()["nodes"][new]["inputs"]["image"]
    stored = np.asarray(Image.open(server.config.settings.input_dir / name))
    assert stored.shape == (SIDE, SIDE, 4) and stored[24, 30, 3] == 0 and stored[60, 60, 3] == 255
