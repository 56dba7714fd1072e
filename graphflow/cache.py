"""The executor's caches: node outputs under structural keys, and loaded models under file identities; both LRU."""

from __future__ import annotations

import dataclasses
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")
DEFAULT_MODEL_CACHE_BYTES = 8 << 30


@dataclass(frozen=True)
class CacheEntry:
    """A node's outputs by name and what it attached for display."""

    outputs: dict[str, Any]
    ui: dict[str, list[Any]]
    nbytes: int


class OutputCache:
    """Least-recently-used store of node outputs, bounded by entry count and estimated bytes."""

    def __init__(self, max_entries: int = 10_000, max_bytes: int = 4 << 30) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.nbytes = 0
        self._entries: OrderedDict[str, CacheEntry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    def get(self, key: str) -> CacheEntry | None:
        """The entry under `key` (now the most recently used), or None."""
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, key: str, outputs: dict[str, Any], ui: dict[str, list[Any]]) -> None:
        """Store a node's results, evicting the least recently used entries past the bounds."""
        old = self._entries.pop(key, None)
        if old is not None:
            self.nbytes -= old.nbytes
        size = estimate_bytes(outputs)
        if size > self.max_bytes:
            return  # larger than the whole budget: keep nothing rather than flush everything
        self._entries[key] = CacheEntry(outputs, ui, size)
        self.nbytes += size
        while len(self._entries) > self.max_entries or self.nbytes > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self.nbytes -= evicted.nbytes

    def clear(self) -> None:
        """Forget everything."""
        self._entries.clear()
        self.nbytes = 0


_SCALARS = (int, float, str, bytes, bool, type(None))


def estimate_bytes(value: Any, _depth: int = 0) -> int:
    """Rough memory held by a value: tensors and arrays by their buffers, containers recursively.

    An object may answer for itself with a `cache_bytes()` method (models return 0: the model
    cache owns them).
    """
    if _depth > 6:
        return 0
    if isinstance(value, _SCALARS):
        return sys.getsizeof(value)
    sizer = getattr(value, "cache_bytes", None)
    if callable(sizer):
        return int(sizer())
    if hasattr(value, "element_size") and hasattr(value, "nelement"):
        return int(value.element_size() * value.nelement())
    if hasattr(value, "nbytes") and isinstance(value.nbytes, int):
        return int(value.nbytes)
    if isinstance(value, dict):
        return sum(estimate_bytes(v, _depth + 1) for v in value.values()) + sys.getsizeof(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        return sum(estimate_bytes(v, _depth + 1) for v in value) + sys.getsizeof(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return sum(estimate_bytes(getattr(value, f.name), _depth + 1) for f in dataclasses.fields(value))
    return sys.getsizeof(value)


class ModelCache:
    """Loaded models of one executor, least recently used first out, bounded by `max_bytes`.

    Loaders share a model through it while its file is unchanged; a value larger than the whole
    budget is returned but not kept. `size_of` measures a value (the loaders pass their own, which
    counts parameters: the engine knows nothing of torch).
    """

    def __init__(self, max_bytes: int = DEFAULT_MODEL_CACHE_BYTES) -> None:
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

    def keys(self) -> list[Hashable]:
        """The keys of the cached values, least recently used first."""
        with self._lock:
            return list(self._entries)

    def get_or_load(self, key: Hashable, load: Callable[[], T], size_of: Callable[[Any], int] = estimate_bytes) -> T:
        """The cached value for `key`, or `load()`'s result (then cached, evicting least recently used)."""
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                self.hits += 1
                return self._entries[key][0]
            self.misses += 1
            value = load()
            size = size_of(value)
            if size <= self.max_bytes:
                self._entries[key] = (value, size)
                while self.total_bytes > self.max_bytes:
                    self._entries.popitem(last=False)
            return value

    def clear(self) -> None:
        """Drop every cached value."""
        with self._lock:
            self._entries.clear()
