"""A memory-bounded LRU cache of loaded models, keyed by file identity."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import torch

T = TypeVar("T")

DEFAULT_MAX_BYTES = int(os.environ.get("GRAPHFLOW_MODEL_CACHE_BYTES", 8 * 1024**3))


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


class ModelCache:
    """LRU of loaded models bounded by `max_bytes` of parameters; a value larger than the budget is not kept."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._lock = threading.RLock()
        self.hits = 0
        self.misses = 0

    @property
    def total_bytes(self) -> int:
        """Bytes of all cached values."""
        return sum(size for _, size in self._entries.values())

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def get_or_load(self, key: Hashable, load: Callable[[], T]) -> T:
        """The cached value for `key`, or `load()`'s result (then cached, evicting least recently used)."""
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                self.hits += 1
                return self._entries[key][0]
            self.misses += 1
            value = load()
            size = byte_size(value)
            if size <= self.max_bytes:
                self._entries[key] = (value, size)
                while self.total_bytes > self.max_bytes:
                    self._entries.popitem(last=False)
            return value

    def clear(self) -> None:
        """Drop every cached value."""
        with self._lock:
            self._entries.clear()


_default_cache = ModelCache()


def default_cache() -> ModelCache:
    """The process-wide cache shared by all loader calls."""
    return _default_cache
