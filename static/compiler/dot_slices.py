"""Which operands of merged products are steps of one tensor (``compiler/dot_merge.py``).

An unrolled RNN reads its input sequence one step at a time, ``x[:, t]``: a ``getitem``
view per step. When the operands a merge stacks are consecutive such steps of one tensor,
the stack is a slice of that tensor with its step axis moved (one strided copy instead of
a view per step and a stack of them), and the steps' order is the slices' order.

Example:
    >>> from tapeflow.static.compiler.dot_slices import FULL
    >>> FULL
    ('slice', None, None, None)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ...graphs.ir import Node
from .lowering import concrete

#: a full slice ``:`` in a getitem node's encoded index
FULL = ("slice", None, None, None)


def slice_of(n: Node, by_id: Mapping[int, Node]) -> tuple[int, int, int] | None:
    """``(x id, axis, t)`` when ``n`` is ``x[:, ..., t, ..., :]`` (one int, full slices)."""
    if n.kind != "call" or n.op != "getitem":
        return None
    x = by_id[n.inputs[0]]
    if not concrete(x.shape):
        return None
    rank = len(x.shape)  # type: ignore[arg-type]
    items = tuple(n.attrs.get("index", ()))
    if len(items) > rank or any(i is Ellipsis or i is None for i in items):
        return None
    items = items + (FULL,) * (rank - len(items))
    ints = [k for k, item in enumerate(items) if not isinstance(item, tuple)]
    if len(ints) != 1 or any(items[k] != FULL for k in range(rank) if k != ints[0]):
        return None
    axis = ints[0]
    size = int(x.shape[axis])  # type: ignore[index, arg-type]
    t = int(items[axis])
    t = t + size if t < 0 else t
    return (x.id, axis, t) if 0 <= t < size else None


def consecutive_slices(operands: Sequence[int], by_id: Mapping[int, Node]
                       ) -> tuple[int, int, int, int] | None:
    """``(x id, axis, t0, t1)`` when the operands are ``x``'s slices ``t0, t0 + 1, ...,
    t1 - 1`` along ``axis``, in that order."""
    found = [slice_of(by_id[i], by_id) for i in operands]
    if any(f is None for f in found):
        return None
    x_ids = {f[0] for f in found}  # type: ignore[index]
    axes = {f[1] for f in found}  # type: ignore[index]
    if len(x_ids) != 1 or len(axes) != 1:
        return None
    steps = [f[2] for f in found]  # type: ignore[index]
    if steps != list(range(steps[0], steps[0] + len(steps))):
        return None
    return x_ids.pop(), axes.pop(), steps[0], steps[-1] + 1


def step_order(members: list[Node], side: int, by_id: Mapping[int, Node]) -> list[Node]:
    """Members sorted by their step: the slice index of operand ``side`` when every one is a
    slice of one tensor, else creation order of that operand (forward order)."""
    found = [slice_of(by_id[m.inputs[side]], by_id) for m in members]
    if all(f is not None for f in found) and len({f[0] for f in found}) == 1:  # type: ignore[index]
        return [m for _, m in sorted(zip([f[2] for f in found], members,  # type: ignore[index]
                                         strict=True), key=lambda p: p[0])]
    return sorted(members, key=lambda m: m.inputs[side])


__all__ = ["FULL", "consecutive_slices", "slice_of", "step_order"]
