"""The ControlNet's world: one shape at any place and size, its silhouette hint, and its caption.

A hint is a 64 px picture, the shape in white on black. Some training hints are "hand-drawn": the
outline wobbles (smooth random radial bumps), so the ControlNet also follows rough silhouettes.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from graphflow.demo.world import (
    CANVAS,
    COLOURS,
    POSITIONS,
    SHAPES,
    Scene,
    Thing,
    ThingSpec,
    describe,
    draw_thing,
    polygon,
    random_background,
)

RADIUS = (5.0, 15.0)  # half-extent range in canvas units
_SMALL_BELOW = 9.0  # r under which the thing counts as "small" (the world's sizes are 6.5 and 12)


def free_thing(rng: np.random.Generator, radius: tuple[float, float] = RADIUS) -> Thing:
    """A random shape and colour, anywhere on the canvas (fully inside it), of any size in `radius`."""
    shape = SHAPES[rng.integers(len(SHAPES))]
    colour = list(COLOURS)[rng.integers(len(COLOURS))]
    r = float(rng.uniform(*radius))
    cx, cy = (float(v) for v in rng.uniform(r + 1.0, CANVAS - r - 1.0, size=2))
    nearest = min(POSITIONS, key=lambda k: (POSITIONS[k][0] - cx) ** 2 + (POSITIONS[k][1] - cy) ** 2)
    return Thing(shape, colour, nearest, "small" if r < _SMALL_BELOW else "large", cx, cy, r)


def free_scene(rng: np.random.Generator) -> Scene:
    """A light background and one free thing."""
    background = random_background(rng)
    return Scene(background, (free_thing(rng),))


def free_caption(thing: Thing, rng: np.random.Generator | None = None) -> str:
    """'a <colour> <shape>', no place or size (the hint gives them); with rng, colour or shape is sometimes left out."""
    keep_colour = rng is None or rng.random() < 0.85
    keep_shape = rng is None or not keep_colour or rng.random() < 0.85
    return describe(ThingSpec(thing.shape if keep_shape else None, thing.colour if keep_colour else None))


def outline(thing: Thing, scale: float, points: int = 72) -> list[tuple[float, float]]:
    """Points around a thing's outline in pixels, evenly spread along it."""
    if thing.shape == "circle":
        cx, cy, r = thing.cx * scale, thing.cy * scale, thing.r * scale
        return [
            (cx + r * math.cos(2 * math.pi * k / points), cy + r * math.sin(2 * math.pi * k / points))
            for k in range(points)
        ]
    corners = polygon(thing, scale)
    edges = list(zip(corners, corners[1:] + corners[:1], strict=True))
    lengths = [math.dist(a, b) for a, b in edges]
    total, out = sum(lengths), []
    for k in range(points):
        d = total * k / points
        for (a, b), length in zip(edges, lengths, strict=True):
            if d <= length:
                t = d / length
                out.append((a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])))
                break
            d -= length
    return out


def wobble(points: list[tuple[float, float]], rng: np.random.Generator, amount: float) -> list[tuple[float, float]]:
    """The outline pushed in and out from its centre by smooth random bumps of relative size `amount`."""
    cx = sum(p[0] for p in points) / len(points)
    cy = sum(p[1] for p in points) / len(points)
    phases, scales = rng.uniform(0, 2 * math.pi, size=3), rng.normal(0, amount, size=3)
    out = []
    for k, (x, y) in enumerate(points):
        angle = 2 * math.pi * k / len(points)
        factor = 1 + sum(s * math.sin((f + 2) * angle + p) for f, (s, p) in enumerate(zip(scales, phases, strict=True)))
        out.append((cx + (x - cx) * factor, cy + (y - cy) * factor))
    return out


def hint(scene: Scene, size: int = 64, rng: np.random.Generator | None = None, amount: float = 0.06) -> Image.Image:
    """The scene's silhouette: its things in white on black (anti-aliased); with rng, hand-drawn-looking."""
    big = size * 4
    image = Image.new("RGB", (big, big), (0, 0, 0))
    draw = ImageDraw.Draw(image)
    scale = big / CANVAS
    for thing in scene.things:
        if rng is None:
            draw_thing(draw, thing, scale, (255, 255, 255))
        else:
            draw.polygon(wobble(outline(thing, scale), rng, amount), fill=(255, 255, 255))
    return image.resize((size, size), Image.Resampling.BOX)


def silhouette_cases(count: int = 50, seed: int = 5555) -> list[tuple[str, Image.Image, Scene]]:
    """Scoring cases: (prompt 'a <colour> <shape>', its clean hint, the scene the hint was drawn from)."""
    cases = []
    for i in range(count):
        scene = free_scene(np.random.default_rng([seed, i]))
        cases.append((free_caption(scene.things[0]), hint(scene), scene))
    return cases
