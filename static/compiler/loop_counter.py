"""A loop's counter, counted by its runner: ``t + 1`` and the test ``t + 1 < n`` in Python.

``dynamic_rnn``'s loop steps ``t`` by one and stops at the longest sentence (``t + 1 <
n``); its gradient's loop steps back to zero (``t - 1 >= 0``). Run as kernels, each step
spent two 0-d ufunc calls and two 0-d allocations on that (about 0.7 us, a tenth of an
Elman step). When one loop variable only steps by a constant and only it decides the test,
the step is compiled without both, and the runner keeps the counter as a Python int: it
hands the step ``t`` as a 0-d view of one ``arange`` made per loop, and tests the next
value itself. The values are the kernels' (integer arithmetic; a counter that would
overflow its dtype is not one the runner takes: see :func:`find_counter`).

Example:
    >>> import numpy as np
    >>> import tapeflow.static as tf
    >>> from tapeflow.runtime import Spec
    >>> from tapeflow.static.compiler import compile
    >>> with tf.Graph().as_default() as g:
    ...     x = tf.placeholder(tf.float64, [3], name="x")
    ...     t, y = tf.while_loop(lambda t, y: t < 4, lambda t, y: (t + 1, y * 2.0),
    ...                          [tf.constant(0), x])
    >>> program = compile(g.as_ir([t, y]), {x.node_id: Spec((3,), tf.float64)})
    >>> loop = next(n.attrs["loop"] for n in program.graph.nodes if n.op == "while")
    >>> loop.counter.step, loop.counter.test
    (1, 'lt')
    >>> program.run({x.node_id: np.array([1.0, 2.0, 3.0])}, {})[0]
    [array(4, dtype=int32), array([16., 32., 48.])]
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...graphs.control import Body
from ...graphs.ir import Graph, Node

__all__ = ["Counter", "find_counter", "without_counter"]

#: the tests the runner evaluates itself: next value <op> bound
TESTS: dict[str, Callable[[int, int], bool]] = {
    "lt": operator.lt, "le": operator.le, "gt": operator.gt, "ge": operator.ge}


@dataclass(frozen=True)
class Counter:
    """Loop variable ``position`` (among the step's kept variables), parameter ``param``:
    its next value is ``param + step`` and the loop's test is ``next <test> bound``, the
    bound a constant (``bound``) or a captured 0-d value (``bound_param``)."""

    position: int
    param: int
    step: int
    test: str
    bound: int | None
    bound_param: int | None

    def limit(self, feeds: dict[int, Any]) -> int:
        """The bound's value for this loop."""
        return self.bound if self.bound_param is None else int(feeds[self.bound_param])

    def ticks(self, xp: Any, start: int, bound: int, limit: int | None, dtype: Any) -> Any:
        """The counter's values from ``start``, enough for the iterations the test lets run
        (the runner makes more if a loop outruns them)."""
        count = abs(bound - start) // abs(self.step) + 2
        count = min(count, 1 << 16) if limit is None else min(count, limit + 1)
        return xp.arange(start, start + self.step * max(count, 1), self.step, dtype=dtype)


def find_counter(step: Body, n_vars: int, kept: Sequence[int]) -> Counter | None:
    """The counter of ``step`` (outputs: the kept variables' next values, then the test),
    when one kept variable is a 0-d integer ``t`` whose next value is ``t + c`` or ``t - c``
    (c a constant), which only the test reads, and the test is ``next <op> bound`` that
    nothing else reads."""
    graph = step.graph
    users = graph.users()
    outputs = graph.outputs
    test = graph[outputs[len(kept)]]
    if (test.kind != "call" or test.op not in TESTS or users[test.id]
            or outputs.count(test.id) != 1):
        return None
    invariant = set(step.params[n_vars:])
    for j, k in enumerate(kept):
        param, nxt = graph[step.params[k]], graph[outputs[j]]
        by = _step_of(graph, nxt, param.id)
        if (by is None or test.inputs[0] != nxt.id or users[nxt.id] != [test.id]
                or outputs.count(nxt.id) != 1 or param.shape != ()
                or not param.dtype.is_integer or nxt.dtype is not param.dtype):
            continue
        bound = graph[test.inputs[1]]
        if bound.shape != () or not bound.dtype.is_integer:
            return None
        if bound.kind == "const":
            return Counter(j, param.id, by, test.op, int(bound.value), None)
        if bound.id in invariant:
            return Counter(j, param.id, by, test.op, None, bound.id)
        return None
    return None


def _step_of(graph: Graph, node: Node, param: int) -> int | None:
    """c when ``node`` is ``param + c``, ``c + param`` or ``param - c`` (c a 0-d integer
    constant), else None."""
    if node.kind != "call" or node.op not in ("add", "sub") or len(node.inputs) != 2:
        return None
    a, b = node.inputs
    if node.op == "add" and b == param:
        a, b = b, a
    const = graph[b]
    if a != param or const.kind != "const" or np.ndim(const.value) != 0 \
            or not np.issubdtype(np.asarray(const.value).dtype, np.integer):
        return None
    value = int(const.value)
    return (value if node.op == "add" else -value) or None


def without_counter(step: Body, counter: Counter, n_kept: int) -> Body:
    """``step`` without the counter's next value and the test among its outputs."""
    outputs = tuple(o for j, o in enumerate(step.graph.outputs)
                    if j not in (counter.position, n_kept))
    return Body(Graph(step.graph.nodes, outputs), step.params, step.name)
