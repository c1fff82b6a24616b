"""The rows of a captured tensor that a loop reads at its counter: all of them below its bound.

``dynamic_rnn``'s loop runs ``t`` from 0 while ``t < n`` (``n``: the batch's longest
sentence), reading ``x[t]`` of an input padded to the task's longest. Work outside the loop
over ``x`` need only cover its first ``n`` rows: :func:`bound_of` finds ``n``,
:func:`trimmed` takes those rows (``loop_hoist`` multiplies only them).

Example:
    >>> # bound = bound_of(graph, loop, specs)   (loop_hoist._parallel)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ...graphs.control import Body
from ...graphs.ir import Graph, Node

if TYPE_CHECKING:
    from .loop_hoist import Outer, Specs

__all__ = ["bound_of", "trimmed"]


def bound_of(graph: Graph, loop: Node, specs: Specs) -> tuple[int, int] | None:
    """(the body's counter parameter, the outer node of its bound) when the loop's test is
    ``counter < bound`` with ``bound`` captured and the counter starts at a constant >= 0
    and grows by a constant > 0: every row it reads at the counter is below the bound."""
    cond: Body = loop.attrs["cond"]
    test = cond.graph[cond.graph.outputs[0]]
    if test.kind != "call" or test.op != "lt":
        return None
    position = {p: k for k, p in enumerate(cond.params)}
    k, c = (position.get(i) for i in test.inputs)
    n_vars = loop.attrs["n_vars"]
    if k is None or c is None or k >= n_vars or c < n_vars:
        return None
    body: Body = loop.attrs["body"]
    counter, start = body.params[k], graph[loop.inputs[k]]
    step = body.graph[body.graph.outputs[k]]
    if not (start.kind == "const" and start.value is not None and start.value.shape == ()
            and start.value >= 0 and step.kind == "call" and step.op == "add"
            and counter in step.inputs and specs[counter].dtype.is_integer):
        return None
    other = body.graph[step.inputs[1] if step.inputs[0] == counter else step.inputs[0]]
    if other.kind != "const" or other.value is None or not other.value > 0:
        return None
    return counter, loop.inputs[c]


def trimmed(out: Outer, source: int, bound: int, made: dict[int, int]) -> int:
    """``source[:bound]`` (its first rows): ``mask_select(source, arange(T) < bound)``."""
    if source not in made:
        node, limit = out.by_id[source], out.by_id[bound]
        if node.shape is None or not isinstance(node.shape[0], int):
            return source
        count = np.arange(node.shape[0], dtype=limit.dtype.np)
        steps = out.add(Node(out.fresh(), "const", "", (), {}, count.shape, limit.dtype,
                             name=f"{node.name}/loop_hoist/steps", value=count))
        mask = out.call("lt", [steps, bound], {}, node, "mask")
        made[source] = out.call("mask_select", [source, mask], {}, node, "head")
    return made[source]
