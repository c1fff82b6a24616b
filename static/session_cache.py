"""What a Session keeps between runs: its compiled programs, and runs seen before.

**The compile cache** (:class:`LRUCache`): a Session compiles one program per (fetches,
feed signature); feeding ever new shapes (every batch size of a data set, every sentence
length) would keep every program and its arena for good. The cache keeps the ``limit``
most recently used ones (``CompileOptions.max_cached_programs``, 64 unless set) and, once
it has dropped as many as it holds, warns once with :class:`CompileCacheWarning`: that
Session recompiles all the time, and padding or bucketing the shapes would be faster.

**The fast path** (:func:`key_of`, :class:`Remembered`): ``Session.run`` with a single
fetch or a flat list/tuple of them, and a feed dict keyed by tensors (or names), is filed
under those very objects once the full path has checked it; the next run with the same
objects skips flattening, name lookups and sorting, and only converts the fed values (any
that do not fit the remembered dtype and shape send the run back to the full path, which
checks them and compiles if it must).

Example:
    >>> from types import SimpleNamespace as Value
    >>> cache = LRUCache(2)
    >>> cache.put("a", Value()); cache.put("b", Value()); _ = cache.get("a")
    >>> cache.put("c", Value()); cache.keys()
    ['a', 'c']
"""

from __future__ import annotations

import itertools
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..runtime.backend import as_array, to_device
from ..runtime.dtypes import CONVERSION_ERRORS
from .tensor import Operation, Tensor


class CompileCacheWarning(UserWarning):
    """A Session keeps dropping compiled programs: each run shape compiles anew."""


class LRUCache:
    """Key -> value, at most ``limit`` of them (None: no bound), least recently used
    dropped first. ``warn`` names what it holds in the one-time warning (empty: none);
    ``on_evict`` is called with each value dropped.

    Recency is a stamp on the value (its ``used`` attribute), so a caller that holds a value
    marks it used with :meth:`touch` without hashing its key again (the fast path of
    ``Session.run``); finding the oldest value scans them, once per eviction, which only
    follows a compile.
    """

    def __init__(self, limit: int | None, warn: str = "",
                 on_evict: Callable[[Any], None] | None = None) -> None:
        self.limit = limit
        self.evictions = 0
        self._warn = warn
        self._on_evict = on_evict
        self._items: dict[Any, Any] = {}
        self._clock = itertools.count(1)
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        """The value of ``key`` (now the most recently used), or None."""
        value = self._items.get(key)
        if value is not None:
            value.used = next(self._clock)
        return value

    def touch(self, value: Any) -> None:
        """Marks a value the caller holds as the most recently used."""
        value.used = next(self._clock)

    def put(self, key: Any, value: Any) -> None:
        """Stores ``value``, dropping the least recently used entries over the limit."""
        with self._lock:
            value.used = next(self._clock)
            self._items[key] = value
            while self.limit is not None and len(self._items) > self.limit:
                oldest = min(self._items, key=lambda k: self._items[k].used)
                dropped = self._items.pop(oldest)
                self.evictions += 1
                if self._on_evict is not None:
                    self._on_evict(dropped)
                if self._warn and self.evictions == self.limit:
                    warnings.warn(CompileCacheWarning(
                        f"{self._warn} has dropped {self.evictions} compiled programs to keep "
                        f"the {self.limit} most recently used "
                        f"(CompileOptions.max_cached_programs={self.limit}): every new feed "
                        "shape compiles a new program. Pad or bucket the shapes, or raise "
                        "the limit."), stacklevel=4)

    def remove_where(self, drop: Callable[[Any], bool]) -> None:
        """Removes every value for which ``drop(value)`` is true."""
        with self._lock:
            for key in [k for k, v in self._items.items() if drop(v)]:
                del self._items[key]

    def keys(self) -> list[Any]:
        """The keys, least recently used first."""
        return sorted(self._items, key=lambda k: self._items[k].used)

    def values(self) -> list[Any]:
        """The values, least recently used first."""
        return [self._items[k] for k in self.keys()]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


def key_of(fetches: Any, feed_dict: dict[Any, Any] | None) -> Any:
    """A dict key made of the fetch and feed-key objects themselves, for a single fetch or a
    flat list/tuple of them; None for nested structures (those take the full path).

    The key holds the objects, so their identities cannot be reused while it is cached.
    """
    if type(fetches) in (list, tuple):
        if not all(isinstance(f, (Tensor, Operation, str)) for f in fetches):
            return None
        fetch_part: Any = (type(fetches), *fetches)
    elif isinstance(fetches, (Tensor, Operation, str)):
        fetch_part = fetches
    else:
        return None
    feed_part = tuple(feed_dict) if feed_dict else ()
    if not all(isinstance(k, (Tensor, str)) for k in feed_part):
        return None
    return (fetch_part, feed_part)


@dataclass
class Remembered:
    """A checked run: its compile-cache entry, and per feed key its node id, dtype, shape
    and whether the program reads it."""

    entry: Any  # the Session's cache entry (dropped with it when the cache evicts it)
    feeds: tuple[tuple[int, Any, tuple[int, ...], bool], ...]  # (id, np dtype, shape, used)
    kind: type | None  # list/tuple of fetches, or None for a single fetch
    used: int = 0  # recency stamp (LRUCache)

    @classmethod
    def of(cls, graph: Any, fetches: Any, feed_dict: dict[Any, Any] | None,
           feeds: dict[int, Any], entry: Any, used: set[int]) -> Remembered:
        """The record of a run the full path has just checked (``feeds``: its fed arrays)."""
        meta = []
        for name in feed_dict or ():
            tensor = graph.get_tensor_by_name(name) if isinstance(name, str) else name
            array = feeds[tensor.node_id]
            meta.append((tensor.node_id, tensor.dtype.np, tuple(array.shape),
                         tensor.node_id in used))
        kind = type(fetches) if type(fetches) in (list, tuple) else None
        return cls(entry, tuple(meta), kind)

    def feeds_of(self, feed_dict: dict[Any, Any] | None, device: str) -> dict[int, Any] | None:
        """The feeds of a run like this one; None when a value's shape or dtype differs."""
        feeds: dict[int, Any] = {}
        if not feed_dict:
            return feeds
        for (nid, dtype, shape, used), value in zip(self.feeds, feed_dict.values(),
                                                    strict=True):
            try:
                if type(value) is np.ndarray:  # the usual feed: no backend lookup
                    array = np.asarray(value, dtype=dtype)
                else:
                    array = as_array(value, dtype, device)  # a cupy feed stays on the GPU
            except CONVERSION_ERRORS:
                return None
            if array.shape != shape:
                return None
            if used:
                feeds[nid] = array if device == "cpu" else to_device(array, device)
        return feeds
