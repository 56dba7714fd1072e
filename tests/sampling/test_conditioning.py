"""Conditioning values and the combine / average / concat operations."""

from __future__ import annotations

import pytest
import torch

from graphflow.sampling.conditioning import CondEntry, average, combine, concat
from tests.sampling.helpers import text


def test_combine_keeps_every_entry_of_both() -> None:
    a, b, c = text(1), text(2), text(3)
    assert combine((a,), (b, c)) == (a, b, c)


def test_average_blends_contexts_and_pooled_vectors() -> None:
    to = CondEntry(context=torch.ones(1, 4, 2), pooled=torch.ones(1, 3), strength=0.7)
    source = CondEntry(context=torch.zeros(1, 4, 2), pooled=torch.full((1, 3), 3.0))
    (mixed,) = average((to,), (source,), 0.25)
    assert torch.allclose(mixed.context, torch.full((1, 4, 2), 0.25))
    assert torch.allclose(mixed.pooled, torch.full((1, 3), 0.25 + 0.75 * 3.0))
    assert mixed.strength == 0.7


def test_average_pads_a_shorter_source_with_zeros_and_cuts_a_longer_one() -> None:
    to = CondEntry(context=torch.ones(1, 4, 2))
    (padded,) = average((to,), (CondEntry(context=torch.full((1, 2, 2), 2.0)),), 0.5)
    assert padded.context[0, :, 0].tolist() == [1.5, 1.5, 0.5, 0.5]
    (cut,) = average((to,), (CondEntry(context=torch.full((1, 6, 2), 2.0)),), 0.5)
    assert cut.context.shape == (1, 4, 2)


def test_average_takes_the_source_pooled_vector_when_the_target_has_none() -> None:
    source = CondEntry(context=torch.zeros(1, 4, 2), pooled=torch.full((1, 3), 3.0))
    (mixed,) = average((CondEntry(context=torch.ones(1, 4, 2)),), (source,), 0.5)
    assert torch.equal(mixed.pooled, source.pooled)


def test_concat_appends_the_source_tokens() -> None:
    to, source = text(1, tokens=77), text(2, tokens=154)
    (joined,) = concat((to,), (source,))
    assert joined.context.shape == (1, 231, 16)
    assert torch.equal(joined.context[:, 77:], source.context)


@pytest.mark.parametrize("operation", [lambda a, b: average(a, b, 0.5), concat])
def test_mixing_different_widths_names_both_widths(operation) -> None:
    with pytest.raises(ValueError, match="width 768 but conditioning_from has width 1024"):
        operation((text(1, width=768),), (text(2, width=1024),))


def test_mixing_with_an_empty_source_says_so() -> None:
    with pytest.raises(ValueError, match="conditioning_from is empty"):
        concat((text(1),), ())


def test_entry_rejects_a_context_without_the_batch_axis() -> None:
    with pytest.raises(ValueError, match=r"shape \[prompts, tokens, width\]"):
        CondEntry(context=torch.zeros(77, 768))


def test_entry_extras_are_read_only() -> None:
    entry = text(1, extras={"width": 1024})
    with pytest.raises(TypeError):
        entry.extras["width"] = 512  # type: ignore[index]
