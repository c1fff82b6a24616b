"""A loop step's second program, for the iterations where every row of the batch is alive.

``dynamic_rnn`` with ``sequence_length`` masks each step: ``where(t < lengths, new, old)``
carries a finished sentence's state through, and its gradient masks the same way in the
reverse loop (``where(mask, g, 0)`` and ``where(mask, 0, g)``). While ``t`` is below the
batch's shortest sentence the mask is all true and each ``where`` returns its first
operand unchanged; TF1's ``_rnn_step`` skips the masking for those steps (a ``cond`` on
``time < min_sequence_length``), and so does the loop runner here, without a ``cond``
node: the step is compiled a second time with those ``where`` nodes replaced by their
first operand, and the runner picks that program on the iterations where it knows, before
running the step, that every mask is all true:

* a mask the step computes as ``lt(t, x)`` of a loop counter ``t`` (0-d, integer) and a
  value ``x`` captured from outside (the same every iteration) is all true iff
  ``t < min(x)``: the runner takes ``min(x)`` once per loop;
* a mask the step is handed as a row of a stack (a reverse loop reads the forward loop's
  masks so: ``find_slices``) is all true at the rows where the stack is: the runner
  reduces the stack once per loop.

The two programs give the same values bit for bit: ``where`` with an all-true mask copies
its first operand (a ``where`` that would promote or broadcast that operand keeps its
shape through a ``broadcast_to`` view).

Example:
    >>> import numpy as np
    >>> import tapeflow.static as tf
    >>> from tapeflow.runtime import Spec
    >>> from tapeflow.static.compiler import compile
    >>> with tf.Graph().as_default() as g:
    ...     n = tf.placeholder(tf.int32, [3], name="n")
    ...     step = lambda t, h: (t + 1, tf.where(t < n, h + 1.0, h))
    ...     _, h = tf.while_loop(lambda t, h: t < 4, step, [tf.constant(0), tf.zeros([3])])
    >>> program = compile(g.as_ir([h]), {n.node_id: Spec((3,), tf.int32)})
    >>> loop = next(n.attrs["loop"] for n in program.graph.nodes if n.op == "while")
    >>> [(g.row, g.index, g.source) for g in loop.alive.guards]  # t < n, t a loop variable
    [(False, 0, 4)]
    >>> program.run({n.node_id: np.array([1, 4, 2], np.int32)}, {})[0][0]  # (t = 0: alive)
    array([1., 4., 2.], dtype=float32)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ...graphs.control import Body
from ...graphs.ir import Graph, Node
from ...runtime import Spec
from .loop_steps import Slice

__all__ = ["Guard", "alive_body", "find_guards"]


@dataclass(frozen=True)
class Guard:
    """A mask that some ``where`` of the step reads: the node ``mask`` is ``lt(index,
    source)`` (``row`` False) or the row ``source[index]`` the runner slices (``row``)."""

    mask: int
    index: int
    source: int
    row: bool


def find_guards(step: Body, n_vars: int, kept: Sequence[int],
                slices: Sequence[Slice]) -> list[Guard]:
    """The masks of the ``where`` nodes of ``step`` that the runner can tell are all true
    before the step runs (see the module docstring), in the step's order."""
    graph = step.graph
    rows = {s.node: s for s in slices}
    invariant = set(step.params[n_vars:]) - set(rows)
    counters = {step.params[k] for k in kept}
    found: dict[int, Guard] = {}
    for n in graph.nodes:
        if n.kind != "call" or n.op != "where" or n.inputs[0] in found:
            continue
        mask = graph[n.inputs[0]]
        if mask.dtype.name != "bool":
            continue
        if mask.id in rows:
            found[mask.id] = Guard(mask.id, rows[mask.id].index, rows[mask.id].source, True)
        elif (mask.kind == "call" and mask.op == "lt" and mask.inputs[0] in counters
              and mask.inputs[1] in invariant and graph[mask.inputs[0]].shape == ()
              and graph[mask.inputs[0]].dtype.is_integer
              and graph[mask.inputs[1]].dtype.is_integer):
            found[mask.id] = Guard(mask.id, *mask.inputs, False)
    return list(found.values())


def alive_body(step: Body, guards: Sequence[Guard], specs: Sequence[Spec]) -> Body:
    """``step`` (with parameters of ``specs``) with every ``where`` on a guard's mask
    replaced by its first operand, as it is when the mask is all true."""
    graph = step.graph
    masks = {g.mask for g in guards}
    computed = {g.mask for g in guards if not g.row}
    ids = [n.id for n in graph.nodes]
    known = dict(zip(ids, step.specs_of(specs, ids), strict=True))
    alias: dict[int, int] = {}
    nodes: list[Node] = []
    for n in graph.nodes:
        if alias:
            n = n.with_(inputs=tuple(alias.get(i, i) for i in n.inputs))
        first = n.inputs[1] if n.kind == "call" and n.op == "where" else None
        if n.id in computed and known[n.id].shape is not None:
            # (a mask the step still hands over, to the reverse loop: all true, a constant)
            nodes.append(n.with_(kind="const", op="", inputs=(), attrs={},
                                 value=np.ones(known[n.id].shape, bool)))
        elif first is None or n.inputs[0] not in masks or known[first].dtype is not n.dtype:
            nodes.append(n)
        elif known[first].shape != known[n.id].shape:
            # (a gradient's where(mask, 0, g): the 0 at the full shape, a view)
            nodes.append(n.with_(op="broadcast_to", inputs=(first,),
                                 attrs={"shape": known[n.id].shape}))
        else:
            alias[n.id] = first
    outputs = tuple(alias.get(o, o) for o in graph.outputs)
    by_id = {n.id: n for n in nodes}
    needed, stack = set(step.params), list(outputs)
    while stack:  # (what the outputs read; kept in the step's order, which runs)
        nid = stack.pop()
        if nid not in needed:
            needed.add(nid)
            stack.extend(by_id[nid].inputs)
    return Body(Graph(tuple(n for n in nodes if n.id in needed), outputs), step.params,
                f"{step.name} (all alive)")

