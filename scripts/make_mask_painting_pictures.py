"""Draw docs/images/mask_painting.png: painting a mask in the browser editor, step by step, in four panels.

    .venv/bin/python scripts/make_mask_painting_pictures.py [--out docs/images/mask_painting.png]

Starts `graphflow serve` with throwaway folders (as scripts/make_editor_screenshot.py does), opens the inpaint
example in Debian's Chromium through Playwright, picks shapes.png, paints a band in the painter with the mouse,
saves it onto the picture's alpha and runs the workflow. The panels: the painter open on shapes.png, the stroke
painted, the saved mask on the Load Image node, the inpainting result.
"""

from __future__ import annotations

import argparse
import io
import urllib.request
from pathlib import Path
from typing import Any

from make_editor_screenshot import ROOT, served_editor
from PIL import Image, ImageDraw, ImageFont
from playwright.sync_api import expect

VIEWPORT = {"width": 1000, "height": 620}
PANEL_HEIGHT = 420
CAPTION_HEIGHT = 44
SIDE = 64  # shapes.png is 64 x 64
STROKE = [(8, 40), (24, 36), (40, 42), (56, 38)]


def caption_font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """DejaVu Sans where installed, else Pillow's own font."""
    try:
        return ImageFont.truetype("DejaVuSans.ttf", 18)
    except OSError:
        return ImageFont.load_default(18)


def panel(picture: Image.Image, caption: str, pixelated: bool = False) -> Image.Image:
    """`picture` scaled to the panel height under a caption bar."""
    width = round(picture.width * PANEL_HEIGHT / picture.height)
    scaled = picture.convert("RGB").resize((width, PANEL_HEIGHT), Image.NEAREST if pixelated else Image.LANCZOS)
    out = Image.new("RGB", (max(width, 440), PANEL_HEIGHT + CAPTION_HEIGHT), (22, 24, 29))
    out.paste(scaled, ((out.width - width) // 2, CAPTION_HEIGHT))
    ImageDraw.Draw(out).text((14, 12), caption, fill=(216, 220, 228), font=caption_font())
    return out


def side_by_side(panels: list[Image.Image], gap: int = 12) -> Image.Image:
    """The panels in one row with a gap between them."""
    sheet = Image.new("RGB", (sum(p.width for p in panels) + gap * (len(panels) - 1), panels[0].height), (10, 11, 14))
    x = 0
    for p in panels:
        sheet.paste(p, (x, 0))
        x += p.width + gap
    return sheet


def shot(target: Any, **options: Any) -> Image.Image:
    """A screenshot of a page or element as a PIL image."""
    return Image.open(io.BytesIO(target.screenshot(**options)))


def paint_stroke(page: Any) -> None:
    """Drag the mouse through STROKE (picture pixels) on the painter's sheet."""
    box = page.get_by_test_id("painter-layer").bounding_box()
    scale = box["width"] / SIDE
    points = [(box["x"] + (x + 0.5) * scale, box["y"] + (y + 0.5) * scale) for x, y in STROKE]
    page.mouse.move(*points[0])
    page.mouse.down()
    for point in points[1:]:
        page.mouse.move(*point, steps=10)
    page.mouse.up()


def draw_panels(page: Any, url: str) -> list[Image.Image]:
    """Drive the editor through the four steps and take their pictures."""
    page.goto(url)
    page.wait_for_selector("body[data-ready=true]")
    page.get_by_test_id("examples").select_option(label="Example: inpaint.json")
    load = page.get_by_test_id("widget-load-image")
    load.locator("select").select_option("shapes.png")
    load.get_by_test_id("image-mask").click()
    expect(page.get_by_test_id("painter")).to_be_visible()
    opened = shot(page)
    paint_stroke(page)
    page.mouse.move(VIEWPORT["width"] - 40, 40)  # the brush outline out of the way
    painted = shot(page)
    page.get_by_test_id("painter-save").click()
    expect(page.get_by_test_id("painter")).to_be_hidden()
    expect(page.locator(".toast")).to_have_count(0, timeout=30_000)
    node = shot(page.get_by_test_id("node-load"))
    page.get_by_test_id("btn-queue").click()
    picture = page.get_by_test_id("image-save")
    expect(picture).to_be_visible(timeout=480_000)
    src = picture.get_attribute("src")
    with urllib.request.urlopen(src if src.startswith("http") else url + src, timeout=30) as response:
        result = Image.open(io.BytesIO(response.read()))
        result.load()
    return [
        panel(opened, "1. Load Image → Mask…: the painter opens on shapes.png"),
        panel(painted, "2. Paint what to repaint (brush, eraser, invert, undo)"),
        panel(node, "3. Save: the mask is the picture's alpha"),
        panel(result, "4. Queue: the band is inpainted", pixelated=True),
    ]


def main() -> None:
    """Run the steps against a fresh server and write the picture."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "mask_painting.png")
    out = parser.parse_args().out
    with served_editor() as (url, browser):
        panels = draw_panels(browser.new_page(viewport=VIEWPORT, device_scale_factor=2), url)
    side_by_side(panels).save(out, optimize=True)
    print(f"picture written to {out}")


if __name__ == "__main__":
    main()
