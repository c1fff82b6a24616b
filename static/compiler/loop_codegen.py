"""The loop runner's iterations as straight-line Python, generated once per kind of loop.

:meth:`LoopRunner._iterate <.loop_runner.LoopRunner>` runs the first iteration itself
(it finds the step's program then); the rest run in a function written here for the
loop's shape, as the executor writes a schedule (``executor.py``): the stacks, rows,
sums and kept values are unrolled into one line each, with the step's output positions as
literals, and the counter and the all-alive test appear only when the loop has them. The
generic loop spent about 1.1 us a step on its small for-loops and flags; this one about
0.55 (a stub step, 30 steps). The lines are the generic loop's, in its order, so the
values are the same. With ``in_place``, each stacked value is written into row ``count`` of
an array made for the loop (``loop_stacks.py``) rather than appended to a list.

A process keeps the most recently used :data:`MAX_LOOPS` loops (one per kind of loop, not
per length: the lengths of a batch are not part of the :class:`Shape`).

Example:
    >>> source = loop_source(Shape(stacks=1, slices=1, rows=0, kept=2, updates=1,
    ...                            counted=True, guarded=True, tabled=False, test_at=None))
    >>> print(source.splitlines()[0])
    def loop(feeds, test, count, limit, run, fast, alive, S, L, R, K, U, C, G):
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, NamedTuple

__all__ = ["MAX_LOOPS", "Shape", "loop_for", "loop_source"]

#: the generated loops a process keeps (least recently made or used dropped first); each
#: runner keeps its own few as well, so a loop in use is not made again while it runs
MAX_LOOPS = 256

_LOOPS: OrderedDict[Shape, Callable[..., Any]] = OrderedDict()
_LOCK = threading.Lock()  # (sessions in several threads share the cache)


class Shape(NamedTuple):
    """What a loop's iterations do: how many stacks, slices, summed rows, kept values and
    loop-variable updates; whether the runner counts (``counted``) and tests the masks
    (``guarded``, with a ``tabled`` row table); where the test is (no counter). A tuple:
    the runner makes one per kind of run it meets (and keeps it), and looks its loop up
    by it."""

    stacks: int
    slices: int
    rows: int
    kept: int
    updates: int
    counted: bool
    guarded: bool
    tabled: bool
    test_at: int | None
    same: tuple[int, ...] = ()  # per slice: an earlier slice at the same index, or -1
    in_place: bool = False  # stacked values written into preallocated rows, not appended


def loop_for(shape: Shape) -> Callable[..., Any]:
    """The generated loop for ``shape`` (compiled once per shape, then shared; the cache
    holds the :data:`MAX_LOOPS` most recently used)."""
    with _LOCK:
        loop = _LOOPS.get(shape)
        if loop is None:
            namespace: dict[str, Any] = {"NOV": {}}
            exec(compile(loop_source(shape), f"<tapeflow loop {shape}>", "exec"),  # noqa: S102
                 namespace)
            loop = _LOOPS[shape] = namespace["loop"]
            while len(_LOOPS) > MAX_LOOPS:
                _LOOPS.popitem(last=False)
        else:
            _LOOPS.move_to_end(shape)
    return loop


def loop_source(shape: Shape) -> str:
    """The source of the loop: ``loop(feeds, test, count, limit, run, fast, alive, S, L, R,
    K, U, C, G) -> (count, test, fast, C)``; S (param, list) per stack, L (node, source,
    index) per slice, R the summed accumulators, K the kept lists, U the updated params,
    C (tick, ticks, k, t, step, end, compare, more) of a counter, G (index, bound, table)."""
    head = ["def loop(feeds, test, count, limit, run, fast, alive, S, L, R, K, U, C, G):"]
    head += [f"    sp{j}, s{j} = S[{j}]" for j in range(shape.stacks)]
    head += [f"    ln{j}, ls{j}, li{j} = L[{j}]" for j in range(shape.slices)]
    head += [f"    r{j} = R[{j}]" for j in range(shape.rows)]
    head += [f"    k{j} = K[{j}]" for j in range(shape.kept)]
    head += [f"    u{j} = U[{j}]" for j in range(shape.updates)]
    if shape.counted:
        head.append("    tick, ticks, k, t, step, end, compare, more = C")
    if shape.guarded:
        head.append("    guard, bound, table = G")
    body = []
    if shape.counted:
        body += ["if k == len(ticks):", "    ticks, k = more(t), 0",
                 "feeds[tick] = ticks[k, ...]", "k += 1"]
    body += [f"s{j}[count] = feeds[sp{j}]" if shape.in_place else f"s{j}.append(feeds[sp{j}])"
             for j in range(shape.stacks)]
    for j in range(shape.slices):  # (an index read once, for all the rows at it)
        same = shape.same[j] if shape.same else -1
        if same < 0:
            body.append(f"i{j} = int(feeds[li{j}])")
        body.append(f"feeds[ln{j}] = ls{j}[i{j if same < 0 else same}, ...]")
    body += _run_lines(shape)
    at = shape.updates + (not shape.counted)
    body += [f"r{j}[int(out[{at + 2 * j + 1}])] += out[{at + 2 * j}]"
             for j in range(shape.rows)]
    at += 2 * shape.rows
    body += [f"k{j}[count] = out[{at + j}]" if shape.in_place else f"k{j}.append(out[{at + j}])"
             for j in range(shape.kept)]
    body.append("count += 1")
    body += (["t += step", "test = compare(t, end)"] if shape.counted
             else [f"test = out[{shape.test_at}]"])
    body += [f"feeds[u{j}] = out[{j}]" for j in range(shape.updates)]
    state = "(tick, ticks, k, t, step, end, compare, more)" if shape.counted else "C"
    lines = [*head, "    while test and count < limit:", *(f"        {b}" for b in body),
             f"    return count, test, fast, {state}"]
    return "\n".join(lines) + "\n"


def _run_lines(shape: Shape) -> list[str]:
    """The step's run: the all-alive program when the guard says every mask is true."""
    if not shape.guarded:
        return ["out = run(feeds, NOV)[0]"]
    alive = "i < bound and table[i]" if shape.tabled else "i < bound"
    return ["i = int(feeds[guard])", f"if {alive}:", "    if fast is None:",
            "        fast = alive()", "    out = fast(feeds, NOV)[0]", "else:",
            "    out = run(feeds, NOV)[0]"]
