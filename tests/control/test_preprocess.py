"""Preprocessors: Canny edges, lineart and scribble hints from plain image maths."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from graphflow.control import preprocess
from graphflow.nodes.preprocess import Canny
from tests.control.conftest import HINT, run_nodes
from tests.running import context_for

SIZE = 64


def _square(inside: float = 1.0, outside: float = 0.0) -> torch.Tensor:
    """A SIZE x SIZE IMAGE: a square from pixel 16 to 47 on a plain ground."""
    image = torch.full((1, SIZE, SIZE, 3), outside)
    image[:, 16:48, 16:48] = inside
    return image


def _border_distance() -> torch.Tensor:
    """Each pixel's distance (in pixels, Chebyshev) to the square's outline."""
    coords = torch.arange(SIZE, dtype=torch.float32)
    to_edge = lambda c: torch.minimum((c - 15.5).abs(), (c - 47.5).abs())
    y, x = torch.meshgrid(coords, coords, indexing="ij")
    inside_band = lambda c: (c > 15.5) & (c < 47.5)
    dx = torch.where(inside_band(y), to_edge(x), torch.full_like(x, 99.0))
    dy = torch.where(inside_band(x), to_edge(y), torch.full_like(y, 99.0))
    return torch.minimum(dx, dy)


def test_canny_finds_the_outline_of_a_square_and_nothing_else():
    edges = preprocess.canny(_square(), 0.4, 0.8)
    assert edges.shape == (1, SIZE, SIZE, 3) and set(edges.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(edges[..., 0], edges[..., 2])
    found = edges[0, ..., 0] > 0
    distance = _border_distance()
    assert (distance[found] <= 1.5).all()  # every edge pixel lies on the outline
    for side in (found[16:48, 14:18], found[16:48, 46:50], found[14:18, 16:48], found[46:50, 16:48]):
        assert side.any(dim=0 if side.shape[0] == 4 else 1).float().mean() > 0.9  # each side traced along its length


def test_canny_drops_edges_weaker_than_its_thresholds():
    faint = _square(inside=0.55, outside=0.5)
    assert not preprocess.canny(faint, 0.4, 0.8).any()
    assert preprocess.canny(faint, 0.01, 0.02).any()


def test_canny_with_the_low_threshold_above_the_high_one_is_refused_naming_both(tmp_path):
    with pytest.raises(ValueError, match=r"low_threshold 0.9 is above high_threshold 0.5"):
        Canny().run(context_for(tmp_path), _square(), 0.9, 0.5)


def test_lineart_turns_dark_lines_on_paper_into_white_lines_on_black():
    drawing = torch.ones(1, SIZE, SIZE, 3)
    drawing[:, 30:33, 8:56] = 0.1  # a dark stroke
    drawing[:, 50:52, 8:56] = 0.7  # a light pencil mark, above the threshold
    lines = preprocess.lineart(drawing, 0.5)
    assert lines[0, 30:33, 8:56].eq(1).all() and lines.sum() == 3 * 48 * 3
    assert torch.equal(preprocess.lineart(1 - drawing, 0.5, dark_lines=False), lines)


def test_scribble_keeps_the_outline_of_a_shape_and_drops_flat_areas():
    outline = torch.ones(1, SIZE, SIZE, 3)
    outline[:, 16:48, 16:48] = 0.0
    outline[:, 18:46, 18:46] = 1.0  # a dark frame two pixels wide on white
    frame = outline[0, ..., 0] == 0
    near_frame = F.max_pool2d(frame[None, None].float(), kernel_size=9, stride=1, padding=4)[0, 0] > 0
    strokes = preprocess.scribble(outline, 0.06, 1)[0, ..., 0] > 0
    assert strokes[frame].float().mean() > 0.9
    assert not strokes[~near_frame].any()  # nothing farther than 4 pixels from the frame
    thick = preprocess.scribble(outline, 0.06, 4)[0, ..., 0] > 0
    assert thick.shape == (SIZE, SIZE) and thick.sum() > strokes.sum() and (thick | strokes).eq(thick).all()


def test_scribble_thickness_below_one_pixel_is_refused():
    with pytest.raises(ValueError, match=r"thickness must be at least 1"):
        preprocess.scribble(_square(), 0.1, 0)


def test_the_preprocessor_nodes_run_on_a_loaded_image(executor):
    nodes = {
        "hint": {"type": "graphflow.image.load", "inputs": {"image": HINT}},
        "canny": {"type": "graphflow.preprocess.canny", "links": {"image": {"node": "hint", "output": "pixels"}}},
        "lineart": {
            "type": "graphflow.preprocess.lineart",
            "inputs": {"threshold": 0.4},
            "links": {"image": {"node": "hint", "output": "pixels"}},
        },
        "scribble": {
            "type": "graphflow.preprocess.scribble",
            "links": {"image": {"node": "canny", "output": "result"}},
        },
    }
    outputs = run_nodes(executor, nodes, "lineart", "scribble").outputs
    for name in ("lineart", "scribble"):
        image = outputs[name]["result"]
        assert image.shape == (1, SIZE, SIZE, 3) and 0 < image.mean() < 1


def test_max_pool_thickening_keeps_the_picture_size_for_even_widths():
    strokes = torch.zeros(1, 1, 9, 9)
    strokes[..., 4, 4] = 1
    grown = F.max_pool2d(strokes, kernel_size=2, stride=1, padding=1)[..., :9, :9]
    assert grown.shape == strokes.shape and grown.sum() == 4
