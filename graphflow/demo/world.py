"""The shapes world: procedurally drawn scenes of one or two coloured shapes, with captions."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

SHAPES: tuple[str, ...] = ("circle", "square", "triangle")
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 165, 60),
    "blue": (40, 80, 225),
    "yellow": (240, 210, 30),
    "purple": (140, 55, 180),
    "orange": (245, 140, 25),
    "black": (25, 25, 25),
}
POSITIONS: dict[str, tuple[float, float]] = {  # centre (x, y) on a 64 px canvas
    "left": (17.0, 32.0),
    "right": (47.0, 32.0),
    "top": (32.0, 17.0),
    "bottom": (32.0, 47.0),
    "center": (32.0, 32.0),
}
SIZES: dict[str, float] = {"small": 6.5, "large": 12.0}  # half-extent in 64 px units
POSITION_PHRASES: dict[str, str] = {
    "left": "on the left",
    "right": "on the right",
    "top": "at the top",
    "bottom": "at the bottom",
    "center": "in the center",
}
PAIRS: tuple[tuple[str, str], ...] = (("left", "right"), ("top", "bottom"))
CANVAS = 64.0
VOCABULARY: tuple[str, ...] = tuple(
    sorted(
        {"a", "and", "shape"}
        | set(SHAPES)
        | set(COLOURS)
        | set(SIZES)
        | {w for phrase in POSITION_PHRASES.values() for w in phrase.split()}
    )
)


@dataclass(frozen=True)
class Thing:
    """One drawn shape: its attributes and exact geometry (64 px canvas units)."""

    shape: str
    colour: str
    position: str
    size: str
    cx: float
    cy: float
    r: float


@dataclass(frozen=True)
class Scene:
    """A whole picture: background colour and one or two things."""

    background: tuple[int, int, int]
    things: tuple[Thing, ...]

    @property
    def label(self) -> int:
        """Class label: the index in SHAPES of the first thing's shape."""
        return SHAPES.index(self.things[0].shape)


@dataclass(frozen=True)
class ThingSpec:
    """What a prompt says about one thing; None where the prompt leaves it open."""

    shape: str | None = None
    colour: str | None = None
    position: str | None = None
    size: str | None = None


def thing_at(rng: np.random.Generator, position: str, shape: str, colour: str, size: str) -> Thing:
    """A thing of the given attributes, its centre and size jittered as the world's scenes jitter them."""
    x, y = POSITIONS[position]
    jitter = rng.uniform(-2.5, 2.5, size=2)
    r = SIZES[size] + rng.uniform(-0.6, 0.6)
    return Thing(shape, colour, position, size, x + float(jitter[0]), y + float(jitter[1]), float(r))


def _thing(rng: np.random.Generator, position: str) -> Thing:
    shape = SHAPES[rng.integers(len(SHAPES))]
    colour = list(COLOURS)[rng.integers(len(COLOURS))]
    size = list(SIZES)[rng.integers(len(SIZES))]
    return thing_at(rng, position, shape, colour, size)


def random_background(rng: np.random.Generator) -> tuple[int, int, int]:
    """A light background colour, as the world's scenes have."""
    return tuple(int(v) for v in 248 - rng.integers(0, 22, size=3))  # type: ignore[return-value]


def sample_scene(rng: np.random.Generator, two_probability: float = 0.35) -> Scene:
    """Draw a random scene: a light background and one thing, or two on opposite sides."""
    background = random_background(rng)
    if rng.random() < two_probability:
        first, second = PAIRS[rng.integers(len(PAIRS))]
        things = (_thing(rng, first), _thing(rng, second))
    else:
        things = (_thing(rng, list(POSITIONS)[rng.integers(len(POSITIONS))]),)
    return Scene(background, things)  # type: ignore[arg-type]


def polygon(thing: Thing, scale: float) -> list[tuple[float, float]]:
    """The outline of a square or triangle, scaled from canvas units to pixels."""
    cx, cy, r = thing.cx * scale, thing.cy * scale, thing.r * scale
    if thing.shape == "square":
        h = 0.9 * r
        return [(cx - h, cy - h), (cx + h, cy - h), (cx + h, cy + h), (cx - h, cy + h)]
    return [(cx, cy - r), (cx + r, cy + r), (cx - r, cy + r)]


def render(scene: Scene, size: int = 64) -> Image.Image:
    """Draw a scene as an RGB image of size x size pixels (anti-aliased by 4x supersampling)."""
    big = size * 4
    image = Image.new("RGB", (big, big), scene.background)
    draw = ImageDraw.Draw(image)
    for thing in scene.things:
        draw_thing(draw, thing, big / CANVAS, COLOURS[thing.colour])
    return image.resize((size, size), Image.Resampling.BOX)


def draw_thing(draw: ImageDraw.ImageDraw, thing: Thing, scale: float, fill: tuple[int, int, int]) -> None:
    """Fill a thing's exact outline on a PIL drawing whose pixels are 1/scale canvas units."""
    if thing.shape == "circle":
        cx, cy, r = thing.cx * scale, thing.cy * scale, thing.r * scale
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
    else:
        draw.polygon(polygon(thing, scale), fill=fill)


def describe(spec: ThingSpec) -> str:
    """The noun phrase for one thing, e.g. 'a small red circle on the left'."""
    words = ["a"] + [w for w in (spec.size, spec.colour) if w] + [spec.shape or "shape"]
    if spec.position:
        words.append(POSITION_PHRASES[spec.position])
    return " ".join(words)


def full_spec(thing: Thing) -> ThingSpec:
    """Every attribute of a thing, as a prompt would state it."""
    return ThingSpec(thing.shape, thing.colour, thing.position, thing.size)


def caption(scene: Scene) -> str:
    """The fully specified caption of a scene, things joined by 'and'."""
    return " and ".join(describe(full_spec(t)) for t in scene.things)


def random_caption(scene: Scene, rng: np.random.Generator, full_probability: float = 0.6) -> str:
    """A caption for training: usually complete, otherwise with some attributes left out."""
    if rng.random() < full_probability:
        return caption(scene)
    keep = rng.random(4) < 0.5  # one choice per attribute, shared by all things
    specs = [
        ThingSpec(
            t.shape if keep[0] or rng.random() < 0.6 else None,
            t.colour if keep[1] else None,
            t.position if keep[2] else None,
            t.size if keep[3] else None,
        )
        for t in scene.things
    ]
    order = rng.permutation(len(specs))
    return " and ".join(describe(specs[i]) for i in order)


def parse_prompt(text: str, colours: Mapping[str, object] = COLOURS) -> tuple[ThingSpec, ...]:
    """Read a caption of this world back into one ThingSpec per thing; ValueError on unknown words.

    `colours` names the colour words to accept (an add-on's checker adds the colours it teaches).
    """
    specs = []
    for part in text.strip().lower().split(" and "):
        words = [w for w in part.replace(",", " ").split() if w not in ("a", "an", "the", "on", "at", "in")]
        found: dict[str, str] = {}
        for word in words:
            if word in SHAPES:
                key = "shape"
            elif word in colours:
                key = "colour"
            elif word in POSITIONS:
                key = "position"
            elif word in SIZES:
                key = "size"
            elif word == "shape":
                continue
            else:
                raise ValueError(
                    f"prompt {text!r}: unknown word {word!r}; the shapes world knows {', '.join(VOCABULARY)}"
                )
            if key in found:
                raise ValueError(f"prompt {text!r}: two {key}s for one thing ({found[key]!r}, {word!r})")
            found[key] = word
        specs.append(ThingSpec(**found))
    return tuple(specs)


class ShapesDataset(Sequence[tuple[Scene, Image.Image]]):
    """n scenes fixed by a seed; item i is (scene, image) and is the same on every machine."""

    def __init__(self, n: int, seed: int, size: int = 64) -> None:
        self.n, self.seed, self.size = n, seed, size

    def __len__(self) -> int:
        return self.n

    def scene(self, index: int) -> Scene:
        """The scene at an index, without drawing it."""
        if not 0 <= index < self.n:
            raise IndexError(index)
        return sample_scene(np.random.default_rng([self.seed, index]))

    def scenes(self) -> list[Scene]:
        """Every scene, in order, without drawing them."""
        return [self.scene(i) for i in range(self.n)]

    def __getitem__(self, index: int) -> tuple[Scene, Image.Image]:  # type: ignore[override]
        scene = self.scene(index)
        return scene, render(scene, self.size)

    def __iter__(self) -> Iterator[tuple[Scene, Image.Image]]:
        return (self[i] for i in range(self.n))


def dataset(n: int, seed: int, size: int = 64) -> ShapesDataset:
    """A deterministic dataset of n scenes (lazy: images are drawn when indexed)."""
    return ShapesDataset(n, seed, size)


def to_array(images: Sequence[Image.Image]) -> np.ndarray:
    """Stack PIL images into a float32 array [B, H, W, 3] in [0, 1]."""
    return np.stack([np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0 for im in images])
