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
