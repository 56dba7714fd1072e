"""The model cache: byte accounting, LRU order, oversize values."""

import torch

from graphflow.cache import ModelCache
from graphflow.models.cache import byte_size


def _module(floats: int) -> torch.nn.Module:
    return torch.nn.Linear(floats, 1, bias=False)  # `floats` float32 parameters


def test_byte_size_counts_parameters_of_nested_values_once() -> None:
    shared = _module(10)
    assert byte_size((shared, {"again": shared}, [_module(5)])) == 60


def test_least_recently_used_value_is_evicted_first() -> None:
    cache = ModelCache(max_bytes=100)
    cache.get_or_load("a", lambda: _module(10), byte_size)
    cache.get_or_load("b", lambda: _module(10), byte_size)
    cache.get_or_load("a", lambda: _module(10), byte_size)  # touch a: b is now the oldest
    cache.get_or_load("c", lambda: _module(10), byte_size)
    assert "a" in cache and "c" in cache and "b" not in cache and cache.total_bytes == 80


def test_value_larger_than_the_budget_is_returned_but_not_kept() -> None:
    cache = ModelCache(max_bytes=10)
    value = cache.get_or_load("big", lambda: _module(100), byte_size)
    assert isinstance(value, torch.nn.Linear) and len(cache) == 0
