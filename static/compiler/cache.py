"""A bounded, thread-safe LRU for compiled programs (one per Session).

A Session compiles one program per (fetches, feed signature); feeding ever new shapes
(every batch size of a data set, every sentence length) would keep every program and its
arena for good. The cache keeps the ``limit`` most recently used ones
(``CompileOptions.max_cached_programs``, 64 unless set) and, once it has dropped as many
as it holds, warns once with :class:`CompileCacheWarning`: that Session recompiles all
the time, and padding or bucketing the shapes would be faster.

Example:
    >>> cache = LRUCache(2)
    >>> cache.put("a", 1); cache.put("b", 2); cache.get("a"); cache.put("c", 3)
    1
    >>> cache.keys()
    ['a', 'c']
"""

from __future__ import annotations

import threading
import warnings
from collections import OrderedDict
from typing import Any


class CompileCacheWarning(UserWarning):
    """A Session keeps dropping compiled programs: each run shape compiles anew."""


class LRUCache:
    """Key -> value, at most ``limit`` of them (None: no bound), least recently used
    dropped first. ``warn`` names what it holds in the one-time warning (empty: none)."""

    def __init__(self, limit: int | None, warn: str = "") -> None:
        self.limit = limit
        self.evictions = 0
        self._warn = warn
        self._items: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        """The value of ``key`` (now the most recently used), or None."""
        value = self._items.get(key)
        if value is not None:
            try:
                self._items.move_to_end(key)
            except KeyError:  # dropped by another thread meanwhile: still a valid value
                pass
        return value

    def put(self, key: Any, value: Any) -> None:
        """Stores ``value``, dropping the least recently used entries over the limit."""
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while self.limit is not None and len(self._items) > self.limit:
                self._items.popitem(last=False)
                self.evictions += 1
                if self._warn and self.evictions == self.limit:
                    warnings.warn(CompileCacheWarning(
                        f"{self._warn} has dropped {self.evictions} compiled programs to keep "
                        f"the {self.limit} most recently used "
                        f"(CompileOptions.max_cached_programs={self.limit}): every new feed "
                        "shape compiles a new program. Pad or bucket the shapes, or raise "
                        "the limit."), stacklevel=4)

    def keys(self) -> list[Any]:
        """The keys, least recently used first."""
        return list(self._items)

    def values(self) -> list[Any]:
        """The values, least recently used first."""
        return list(self._items.values())

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)
