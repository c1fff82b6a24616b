"""Lifetimes around a stack's in-place operands (``planner.stack_in_place``'s helpers).

A ``stack`` whose operands are written straight into its slices changes two lifetimes:
the buffer an operand wrote over in place no longer holds it, and the stack's own buffer
is reserved from its first such operand on. Both matter most to recomputation
(``compiler/recompute.py``), where a segment's values are made just before the backward
gathers them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...graphs.liveness import Liveness


def without_early(chosen: list[tuple[int, Any]], live: Liveness, at: int
                  ) -> list[tuple[int, Any]]:
    """The operands a stack at step ``at`` takes, less those made long before the rest.

    The stack's buffer is reserved from its first operand taken on. An operand made more
    steps before the next one than all the later ones span up to the stack (the gradient of
    a recomputed segment's boundary step, made before the segment is rebuilt) would reserve
    the whole stack for that long: it keeps its own buffer and is copied in at the stack.
    """
    chosen = sorted(chosen, key=lambda c: live.step_of[c[0]])
    while len(chosen) > 1:
        first, second = (live.step_of[c[0]] for c in chosen[:2])
        if second - first <= at - second:
            break
        chosen = chosen[1:]
    return chosen


def end_left_chains(before: Mapping[int, int], buffer_of: dict[int, int],
                    lifetimes: dict[int, tuple[int, int]], live: Liveness,
                    slots: Mapping[int, Any]) -> None:
    """``before``: the plan's buffer of each value, ``buffer_of`` after the stacks took their
    operands (``slots``). An in-place operand that moved into a stack's slice no longer
    extends the buffer of the chain it wrote over (``tanh(add(...))`` in place): that
    buffer dies at the last read of the values left in it, not at the moved value's last
    read (an unrolled RNN kept every step's pre-activation buffer alive until the backward
    this way)."""
    left = {before[x] for x in slots if before[x] != buffer_of[x]}
    if not left:
        return
    ends: dict[int, int] = {}
    for m, b in buffer_of.items():
        if b in left:
            ends[b] = max(ends.get(b, -1), live.root_last[live.root[m]])
    for b in left:
        first, last = lifetimes[b]
        lifetimes[b] = (first, min(last, max(ends.get(b, first), first)))
