"""Flattening nested fetch structures (lists, tuples, namedtuples, dicts) and packing them back.

``Session.run`` accepts any such structure of fetches and returns results in the same shape.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

#: Marks a leaf's place in a template built by :func:`flatten`.
LEAF = object()


def flatten(structure: Any) -> tuple[list[Any], Any]:
    """The leaves of ``structure`` in order, and a template to rebuild it with :func:`pack`.

    Example:
        >>> leaves, template = flatten({"a": [1, 2], "b": 3})
        >>> leaves
        [1, 2, 3]
    """
    leaves: list[Any] = []
    template = _flatten(structure, leaves)
    return leaves, template


def _flatten(structure: Any, leaves: list[Any]) -> Any:
    if isinstance(structure, Mapping):
        return (type(structure), [(k, _flatten(v, leaves)) for k, v in structure.items()])
    if isinstance(structure, (list, tuple)):
        return (type(structure), [_flatten(v, leaves) for v in structure])
    leaves.append(structure)
    return LEAF


def pack(template: Any, values: list[Any]) -> Any:
    """Rebuilds the structure that ``template`` describes with ``values`` at its leaves."""
    return _pack(template, iter(values))


def _pack(template: Any, values: Iterator[Any]) -> Any:
    if template is LEAF:
        return next(values)
    kind, items = template
    if issubclass(kind, Mapping):
        packed = [(k, _pack(t, values)) for k, t in items]
        return kind(packed) if kind is not dict else dict(packed)
    children = [_pack(t, values) for t in items]
    if kind is list:
        return children
    if kind is tuple:
        return tuple(children)
    if hasattr(kind, "_fields"):  # a namedtuple
        return kind(*children)
    return kind(children)


def feed_items(feed_dict: Mapping[Any, Any]) -> Iterator[tuple[Any, Any]]:
    """The (key, value) pairs of ``feed_dict`` with structured keys taken apart, as TF1 does:
    a tuple key (an ``LSTMStateTuple``, say) is fed leaf by leaf from a value of the same
    structure.

    Example:
        >>> list(feed_items({("c", "h"): (1, 2), "x": 3}))
        [('c', 1), ('h', 2), ('x', 3)]
    """
    for key, value in feed_dict.items():
        if not isinstance(key, tuple):
            yield key, value
            continue
        keys, _ = flatten(key)
        values = _leaves_like(key, value)
        if len(values) != len(keys):
            raise ValueError(f"The feed for {key!r} must have its structure ({len(keys)} "
                             f"values), got {value!r}")
        yield from zip(keys, values, strict=True)


def _leaves_like(key: tuple[Any, ...], value: Any) -> list[Any]:
    # a value for a tuple key is a sequence of one value per field (arrays stay whole)
    if not isinstance(value, (list, tuple)) or len(value) != len(key):
        return [value]
    leaves: list[Any] = []
    for k, v in zip(key, value, strict=True):
        leaves.extend(_leaves_like(k, v) if isinstance(k, tuple) else [v])
    return leaves
