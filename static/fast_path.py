"""The Session's fast path: a run seen before, found by its fetch and feed-key objects.

``Session.run`` with a single fetch or a flat list/tuple of them, and a feed dict keyed by
tensors (or names), is filed under those very objects once the full path has checked it;
the next run with the same objects skips flattening, name lookups and sorting, and only
converts the fed values (any that do not fit the remembered dtype and shape send the run
back to the full path, which checks them and compiles if it must).

Example:
    >>> # key = key_of([loss, train], {x: batch}); remembered = cache.get(key)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..runtime.backend import as_array, to_device
from ..runtime.dtypes import CONVERSION_ERRORS
from .tensor import Operation, Tensor


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


@dataclass(frozen=True)
class Remembered:
    """A checked run: its key in the compile cache, and per feed key its node id, dtype,
    shape and whether the program reads it."""

    key: Any  # the entry's key in the compile cache (an evicted entry is compiled again)
    feeds: tuple[tuple[int, Any, tuple[int, ...], bool], ...]  # (id, np dtype, shape, used)
    kind: type | None  # list/tuple of fetches, or None for a single fetch

    @classmethod
    def of(cls, graph: Any, fetches: Any, feed_dict: dict[Any, Any] | None,
           feeds: dict[int, Any], key: Any, used: set[int]) -> Remembered:
        """The record of a run the full path has just checked (``feeds``: its fed arrays)."""
        meta = []
        for name in feed_dict or ():
            tensor = graph.get_tensor_by_name(name) if isinstance(name, str) else name
            array = feeds[tensor.node_id]
            meta.append((tensor.node_id, tensor.dtype.np, tuple(array.shape),
                         tensor.node_id in used))
        kind = type(fetches) if type(fetches) in (list, tuple) else None
        return cls(key, tuple(meta), kind)

    def feeds_of(self, feed_dict: dict[Any, Any] | None, device: str) -> dict[int, Any] | None:
        """The feeds of a run like this one; None when a value's shape or dtype differs."""
        feeds: dict[int, Any] = {}
        if not feed_dict:
            return feeds
        for (nid, dtype, shape, used), value in zip(self.feeds, feed_dict.values(),
                                                    strict=True):
            try:
                array = as_array(value, dtype, device)  # a cupy feed stays on the GPU
            except CONVERSION_ERRORS:
                return None
            if array.shape != shape:
                return None
            if used:
                feeds[nid] = array if device == "cpu" else to_device(array, device)
        return feeds
