"""TF1's auto-packing: a list holding tensors, given where a tensor is expected, becomes one
tensor (a ``Pack`` of its items along a new first axis), so ``tf.stop_gradient([y])`` and
``tf.reduce_sum([a, b])`` work as in TF1. Nested lists pack from the inside out; plain
numbers among the items become constants of the tensors' dtype.
"""

from __future__ import annotations

from typing import Any

from ..runtime import get


def holds_tensor(value: Any) -> bool:
    """Whether ``value`` is a list or tuple with a static Tensor somewhere inside it."""
    from .tensor import Tensor

    if not isinstance(value, (list, tuple)):
        return False
    return any(isinstance(v, Tensor) or holds_tensor(v) for v in value)


def pack(graph: Any, value: Any) -> Any:
    """One tensor of ``value`` (a list holding tensors) in ``graph``: TF1's ``Pack``."""
    if not value:
        raise ValueError("cannot pack an empty list into a tensor")
    items = [pack(graph, v) if holds_tensor(v) else v for v in value]
    return graph.apply(get("stack"), items, {"axis": 0}, type_="Pack")
