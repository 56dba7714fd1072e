"""What the model cache needs from torch-aware code: a file's identity (the cache key) and a model's size."""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import torch

from graphflow.cache import ModelCache

T = TypeVar("T")


def file_identity(path: str | os.PathLike[str]) -> tuple[str, int, int]:
    """(resolved path, size, mtime_ns) of a file, or of a folder's newest/total content."""
    path = Path(path).resolve()
    if path.is_dir():
        files = [p for p in path.rglob("*") if p.is_file()]
        stats = [p.stat() for p in files]
        return str(path), sum(s.st_size for s in stats), max((s.st_mtime_ns for s in stats), default=0)
    stat = path.stat()
    return str(path), stat.st_size, stat.st_mtime_ns


def _modules_in(value: Any) -> Iterable[torch.nn.Module]:
    if isinstance(value, torch.nn.Module):
        yield value
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _modules_in(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _modules_in(item)
    elif hasattr(value, "__dict__"):
        for item in vars(value).values():
            if isinstance(item, (torch.nn.Module, tuple, list, dict)):
                yield from _modules_in(item)


def byte_size(value: Any) -> int:
    """Bytes held by the parameters and buffers of every torch module reachable in `value`."""
    seen: set[int] = set()
    total = 0
    for module in _modules_in(value):
        for tensor in [*module.parameters(), *module.buffers()]:
            if id(tensor) not in seen:
                seen.add(id(tensor))
                total += tensor.numel() * tensor.element_size()
    return total


def cached(cache: ModelCache | None, key: Hashable, load: Callable[[], T]) -> T:
    """`load()` through `cache` (sized by `byte_size`), or straight away when there is no cache."""
    return load() if cache is None else cache.get_or_load(key, load, byte_size)
