"""The output cache: node results under structural keys, bounded by entries and bytes, LRU."""

from __future__ import annotations

import dataclasses
import sys
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any


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
    if hasattr(value, "nbytes") and isinstance(getattr(value, "nbytes"), int):
        return int(value.nbytes)
    if isinstance(value, dict):
        return sum(estimate_bytes(v, _depth + 1) for v in value.values()) + sys.getsizeof(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        return sum(estimate_bytes(v, _depth + 1) for v in value) + sys.getsizeof(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return sum(estimate_bytes(getattr(value, f.name), _depth + 1) for f in dataclasses.fields(value))
    return sys.getsizeof(value)
