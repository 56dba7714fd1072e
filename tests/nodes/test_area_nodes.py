"""The area, mask, strength, zero-out and timestep-range nodes set what ComfyUI's namesakes set."""

from __future__ import annotations

from pathlib import Path

import torch

from graphflow.nodes.conditioning_area import (
    SetArea,
    SetAreaPercentage,
    SetAreaStrength,
    SetMask,
    SetTimestepRange,
    ZeroOut,
)
from graphflow.sampling.conditioning import Area, CondEntry
from tests.running import context_for


def _conditioning() -> tuple[CondEntry, ...]:
    generator = torch.Generator().manual_seed(0)
    return (
        CondEntry(context=torch.randn(1, 77, 8, generator=generator), pooled=torch.randn(1, 4, generator=generator)),
        CondEntry(context=torch.randn(1, 77, 8, generator=generator), strength=2.0),
    )


def test_set_area_stores_pixels_as_latent_cells_rounded_down(tmp_path: Path) -> None:
    result = SetArea().run(context_for(tmp_path), _conditioning(), width=100, height=64, x=70, y=8, strength=0.5)
    assert [entry.area for entry in result] == [Area(8, 12, 1, 8)] * 2
    assert [entry.strength for entry in result] == [0.5, 0.5]


def test_set_area_percentage_keeps_fractions_until_sampling(tmp_path: Path) -> None:
    (first, _) = SetAreaPercentage().run(context_for(tmp_path), _conditioning(), 0.5, 1.0, 0.5, 0.0, 1.0)
    assert first.area == Area(1.0, 0.5, 0.0, 0.5, relative=True)
    assert first.area.cells(8, 16) == (8, 8, 0, 8)
    assert Area(0.0, 0.0, relative=True).cells(8, 8) == (1, 1, 0, 0)  # a zero fraction is one cell, as in ComfyUI


def test_set_area_strength_changes_only_the_strength(tmp_path: Path) -> None:
    placed = SetArea().run(context_for(tmp_path), _conditioning(), 64, 64, 0, 0, 1.0)
    result = SetAreaStrength().run(context_for(tmp_path), placed, 3.0)
    assert [(e.area, e.strength) for e in result] == [(Area(8, 8, 0, 0), 3.0)] * 2


def test_set_mask_takes_a_single_mask_and_the_bounds_choice(tmp_path: Path) -> None:
    mask = torch.rand(16, 16)
    (first, _) = SetMask().run(context_for(tmp_path), _conditioning(), mask, 0.7, "mask bounds")
    assert first.mask.shape == (1, 16, 16) and torch.equal(first.mask[0], mask)
    assert first.mask_strength == 0.7 and first.mask_bounds and first.strength == 1.0
    (default, _) = SetMask().run(context_for(tmp_path), _conditioning(), mask[None], 1.0, "default")
    assert not default.mask_bounds


def test_zero_out_zeroes_text_and_pooled_and_keeps_the_rest(tmp_path: Path) -> None:
    source = SetArea().run(context_for(tmp_path), _conditioning(), 64, 64, 0, 0, 1.5)
    result = ZeroOut().run(context_for(tmp_path), source)
    assert all(not e.context.any() for e in result)
    assert not result[0].pooled.any() and result[1].pooled is None
    assert [e.area for e in result] == [e.area for e in source] and result[0].strength == 1.5


def test_set_timestep_range_sets_start_and_end(tmp_path: Path) -> None:
    result = SetTimestepRange().run(context_for(tmp_path), _conditioning(), 0.2, 0.8)
    assert [(e.start_percent, e.end_percent) for e in result] == [(0.2, 0.8)] * 2
    assert all(e.placed for e in result)
