"""Draw the example workflows' input images into graphflow/workflows/inputs (same bytes every run).

.venv/bin/python scripts/make_example_inputs.py [--out graphflow/workflows/inputs]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw

from graphflow.demo.world import COLOURS, POSITIONS, SIZES, Scene, Thing, render

OUT = Path(__file__).resolve().parent.parent / "graphflow" / "workflows" / "inputs"
BACKGROUND = (240, 238, 232)
SIZE = 64
REPAINT_BOX = (32, 8, 64, 56)  # inpaint.png: the transparent (repainted) region, left, top, right, bottom


def thing(shape: str, colour: str, position: str, size: str) -> Thing:
    """A shape at its position's exact centre, with its size's exact half-extent."""
    x, y = POSITIONS[position]
    return Thing(shape, colour, position, size, x, y, SIZES[size])


def scene(*things: Thing) -> Image.Image:
    """A shapes-world picture of `things` on the light background."""
    return render(Scene(BACKGROUND, things), SIZE)


def sketch() -> Image.Image:
    """A crude sketch: hard-edged flat blobs roughly where a red circle and a blue square would go."""
    image = Image.new("RGB", (SIZE, SIZE), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.polygon([(8, 22), (16, 18), (26, 21), (29, 31), (25, 42), (15, 45), (7, 38), (5, 29)], fill=COLOURS["red"])
    draw.polygon([(38, 21), (57, 23), (56, 42), (39, 43)], fill=COLOURS["blue"])
    return image


def silhouette() -> Image.Image:
    """A ControlNet hint drawn by hand: a lumpy white triangle on black, low on the left, off the world's places."""
    image = Image.new("RGB", (SIZE, SIZE), (0, 0, 0))
    right = [(20, 27), (22, 29), (25, 35), (29, 40), (30, 44), (34, 49), (36, 53)]
    left = [(29, 54), (24, 52), (18, 54), (12, 53), (7, 54), (9, 48), (13, 42), (14, 37), (18, 31)]
    ImageDraw.Draw(image).polygon(right + left, fill=(255, 255, 255))
    return image


def with_hole(picture: Image.Image, box: tuple[int, int, int, int]) -> Image.Image:
    """The picture as RGBA, fully transparent inside `box` (Load Image turns that into the mask)."""
    rgba = picture.convert("RGBA")
    alpha = Image.new("L", rgba.size, 255)
    ImageDraw.Draw(alpha).rectangle((box[0], box[1], box[2] - 1, box[3] - 1), fill=0)
    rgba.putalpha(alpha)
    return rgba


def inputs() -> dict[str, Image.Image]:
    """File name -> image of every example input."""
    pair = scene(thing("circle", "red", "left", "large"), thing("square", "blue", "right", "small"))
    return {
        "shapes.png": pair,  # img2img, interpolation (first picture)
        "shapes_b.png": scene(thing("triangle", "yellow", "top", "large"), thing("circle", "green", "bottom", "small")),
        "sketch.png": sketch(),
        "inpaint.png": with_hole(pair, REPAINT_BOX),
        "silhouette.png": silhouette(),  # ControlNet hint
    }


def main() -> None:
    """Write the inputs as PNGs (without timestamps, so the bytes are reproducible)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    folder = parser.parse_args().out
    folder.mkdir(parents=True, exist_ok=True)
    for name, picture in inputs().items():
        picture.save(folder / name, optimize=True)
        print(folder / name)


if __name__ == "__main__":
    main()
