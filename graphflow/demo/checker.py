"""Prompt-adherence checker for the shapes world: reads colour, position, shape and size back from pixels."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image
from scipy import ndimage

from graphflow.demo.world import CANVAS, COLOURS, POSITIONS, SHAPES, ThingSpec, parse_prompt

ATTRIBUTES = ("colour", "position", "shape", "size")
Colours = Mapping[str, tuple[int, int, int]]
_SEED_THRESHOLD = 0.3  # colour distance from the background that starts an object
_SIZE_THRESHOLD = 14.0  # sqrt(area) in canvas units between "small" and "large"
_MIN_AREA = 12.0  # canvas-unit pixels; smaller specks are noise
_SUB = 3  # sub-samples per pixel side when drawing templates


@dataclass(frozen=True)
class Found:
    """One object read from an image (geometry in 64 px canvas units)."""

    shape: str
    colour: str
    position: str
    size: str
    area: float
    cx: float
    cy: float
    fit: float  # soft IoU of the best template: how shape-like the blob is
    pixels: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), bool), compare=False, repr=False)
    """The object's pixels (at least half covered), as a boolean mask of the image's size."""

    def spec(self) -> ThingSpec:
        """The attributes as a ThingSpec."""
        return ThingSpec(self.shape, self.colour, self.position, self.size)


def as_array(image: Image.Image | np.ndarray) -> np.ndarray:
    """An image as float32 [H, W, 3] in [0, 1] (accepts PIL or an HWC array in [0, 1])."""
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    array = np.asarray(image, dtype=np.float32)
    if array.ndim != 3 or array.shape[-1] != 3:
        raise ValueError(f"expected an image [H, W, 3], got shape {array.shape}")
    return array


def _coverage(shape: str, cx: float, cy: float, r: float, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Fraction of each pixel an ideal shape covers; xs/ys hold sub-sample coordinates [..., S]."""
    if shape == "circle":
        inside = (xs - cx) ** 2 + (ys - cy) ** 2 <= r * r
    elif shape == "square":
        h = 0.9 * r
        inside = (np.abs(xs - cx) <= h) & (np.abs(ys - cy) <= h)
    else:  # upright triangle: apex (cx, cy - r), base from (cx - r, cy + r) to (cx + r, cy + r)
        t = (ys - (cy - r)) / (2 * r)  # 0 at the apex, 1 at the base
        inside = (t >= 0) & (t <= 1) & (np.abs(xs - cx) <= t * r)
    return inside.mean(axis=-1)


def _radius_for_area(shape: str, area: float) -> float:
    per_r2 = {"circle": np.pi, "square": 3.24, "triangle": 2.0}[shape]
    return float(np.sqrt(area / per_r2))


def _best_shape(
    alpha: np.ndarray, cx: float, cy: float, area: float, scale: float, box: tuple[slice, slice]
) -> tuple[str, float]:
    """Fit each ideal shape (same area and centroid, small search over offset/scale); best soft IoU wins.

    Only the box around the object (its region grown by two pixels) is compared.
    """
    alpha = alpha[box]
    h, w = alpha.shape
    offsets = (np.arange(_SUB) + 0.5) / _SUB
    sub_x = ((box[1].start + np.arange(w))[:, None] + offsets[None, :]).reshape(-1) / scale
    sub_y = ((box[0].start + np.arange(h))[:, None] + offsets[None, :]).reshape(-1) / scale
    xs = np.broadcast_to(sub_x.reshape(1, w, _SUB)[:, :, None, :], (h, w, _SUB, _SUB)).reshape(h, w, -1)
    ys = np.broadcast_to(sub_y.reshape(h, 1, _SUB)[:, :, :, None], (h, w, _SUB, _SUB)).reshape(h, w, -1)
    best = ("circle", -1.0)
    for shape in SHAPES:
        r0 = _radius_for_area(shape, area)
        cy0 = cy - r0 / 3 if shape == "triangle" else cy  # a triangle's centroid sits below its box centre
        score = -1.0
        for ds, dx, dy in itertools.product((0.92, 1.0, 1.08), (-0.5, 0.0, 0.5), (-0.5, 0.0, 0.5)):
            template = _coverage(shape, cx + dx, cy0 + dy, r0 * ds, xs, ys)
            iou = float(np.minimum(alpha, template).sum() / max(np.maximum(alpha, template).sum(), 1e-6))
            score = max(score, iou)
        if score > best[1]:
            best = (shape, score)
    return best


def _nearest(point: tuple[float, float], table: dict[str, tuple[float, float]]) -> str:
    return min(table, key=lambda k: (table[k][0] - point[0]) ** 2 + (table[k][1] - point[1]) ** 2)


def palette(colours: Colours = COLOURS) -> np.ndarray:
    """The colours as a float32 [K, 3] array in [0, 1], in the mapping's order."""
    return np.array(list(colours.values()), dtype=np.float32) / 255.0


def unmix(
    pixels: np.ndarray, background: np.ndarray, colours: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Explain each pixel as background blended with one palette colour: (colour index, coverage) maps.

    Anti-aliased or blurred edges are such blends, so they keep their object's colour instead of
    looking like some other palette colour (a blue edge is not purple). `colours` is a palette()
    array (default: the world's colours).
    """
    offset = pixels - background  # [H, W, 3]
    directions = (palette() if colours is None else colours) - background  # [K, 3]
    coverage = np.clip(offset @ directions.T / (directions**2).sum(-1), 0.0, 1.0)  # [H, W, K]
    residual = np.linalg.norm(offset[..., None, :] - coverage[..., None] * directions, axis=-1)
    colour = residual.argmin(-1)
    return colour, np.take_along_axis(coverage, colour[..., None], -1)[..., 0]


def find_objects(image: Image.Image | np.ndarray, colours: Colours = COLOURS) -> list[Found]:
    """Every object in an image, largest first; objects of different colours are separated even if they touch.

    `colours` is the palette read (the world's colours, or those plus the colours an add-on teaches).
    """
    pixels = as_array(image)
    scale = pixels.shape[0] / CANVAS
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    background = np.median(border, axis=0)
    foreground = np.linalg.norm(pixels - background, axis=-1) > _SEED_THRESHOLD
    colour, coverage = unmix(pixels, background, palette(colours))
    found = []
    for colour_index, name in enumerate(colours):
        labels, count = ndimage.label(foreground & (colour == colour_index))
        for index in range(1, count + 1):
            region = labels == index
            near = ndimage.binary_dilation(region, iterations=2) & ((colour == colour_index) | ~foreground)
            alpha = np.where(near, coverage, 0.0)
            area = float(alpha.sum()) / (scale * scale)
            if area < _MIN_AREA:
                continue
            ys, xs = np.indices(alpha.shape)
            cx = float((alpha * (xs + 0.5)).sum() / alpha.sum()) / scale
            cy = float((alpha * (ys + 0.5)).sum() / alpha.sum()) / scale
            box = ndimage.find_objects(ndimage.binary_dilation(region, iterations=2).astype(int))[0]
            shape, fit = _best_shape(alpha, cx, cy, area, scale, box)
            size_word = "small" if np.sqrt(area) < _SIZE_THRESHOLD else "large"
            position = _nearest((cx, cy), POSITIONS)
            found.append(Found(shape, name, position, size_word, area, cx, cy, fit, alpha >= 0.5))
    return sorted(found, key=lambda f: -f.area)


def _agreement(spec: ThingSpec, found: Found) -> dict[str, bool]:
    return {a: getattr(spec, a) == getattr(found, a) for a in ATTRIBUTES if getattr(spec, a) is not None}


def check(image: Image.Image | np.ndarray, prompt: str, colours: Colours = COLOURS) -> dict[str, bool]:
    """Per stated attribute, whether the image shows it; two-thing prompts pair things to objects at best.

    Keys: the attributes the prompt states, plus "count" (as many objects as things) and "all".
    """
    specs = parse_prompt(prompt, colours)
    everything = find_objects(image, colours)
    objects = everything[: len(specs)]
    result: dict[str, bool] = {}
    if len(objects) < len(specs):
        for spec in specs:
            for attribute in ATTRIBUTES:
                if getattr(spec, attribute) is not None:
                    result[attribute] = False
    else:
        pairings = [
            [_agreement(s, o) for s, o in zip(specs, order, strict=True)] for order in itertools.permutations(objects)
        ]
        best = max(pairings, key=lambda p: sum(sum(a.values()) for a in p))
        for agreement in best:
            for attribute, ok in agreement.items():
                result[attribute] = result.get(attribute, True) and ok
    result["count"] = len(everything) == len(specs)
    result["all"] = all(v for k, v in result.items() if k != "count")
    return result


def score(
    images: Sequence[Image.Image | np.ndarray], prompts: Sequence[str], colours: Colours = COLOURS
) -> dict[str, float]:
    """Accuracies over a prompt set: single-thing prompts as 'colour', 'shape', ...; two-thing as 'two_colour', ...."""
    if len(images) != len(prompts):
        raise ValueError(f"{len(images)} images for {len(prompts)} prompts")
    totals: dict[str, list[bool]] = {}
    for image, prompt in zip(images, prompts, strict=True):
        prefix = "" if len(parse_prompt(prompt, colours)) == 1 else "two_"
        for key, ok in check(image, prompt, colours).items():
            totals.setdefault(prefix + key, []).append(ok)
    return {key: float(np.mean(values)) for key, values in sorted(totals.items())}


def shape_mask(image: Image.Image | np.ndarray, colours: Colours = COLOURS) -> np.ndarray:
    """The pixels of the largest object in an image (boolean [H, W]); all False when there is none."""
    objects = find_objects(image, colours)
    return objects[0].pixels if objects else np.zeros(as_array(image).shape[:2], dtype=bool)


def silhouette(hint: Image.Image | np.ndarray) -> np.ndarray:
    """A hint picture (light shape on a dark ground) as a boolean mask: pixels brighter than half."""
    return as_array(hint).mean(axis=-1) > 0.5


def iou(first: np.ndarray, second: np.ndarray) -> float:
    """Intersection over union of two boolean masks of one size (0 when both are empty)."""
    if first.shape != second.shape:
        raise ValueError(f"masks of different sizes: {first.shape} and {second.shape}")
    union = np.logical_or(first, second).sum()
    return float(np.logical_and(first, second).sum() / union) if union else 0.0
