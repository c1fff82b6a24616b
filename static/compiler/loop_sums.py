"""The reverse half of loop hoisting (``loop_hoist.py``): a loop variable that the body only
adds a per-step term to is summed after the loop, over a stack of the term's operand.

A gradient loop adds, every step, ``a_t^T g_t`` to a weight's gradient, ``g_t`` summed over
the batch to a bias's and ``g_t @ W^T`` scattered to row ``t`` of an input's, where
``a_t`` is a row of a captured tensor at a loop variable's index (``x[t]``, ``h[t]`` of the
forward loop's stack). The variable leaves the loop: the loop stacks ``g_t`` (its ``keep``
attribute: one array per iteration, stacked once) and its saved counter, and the outer
graph makes the sum of every step with one product ``A^T G`` (``A``: the rows gathered at
the saved indices), one ``sum_to`` or one product and one ``scatter_add``, then adds the
variable's start value. Only the operand is kept, never the per-step terms, and nothing
is joined but that one stack.

Example:
    >>> # graph = hoist_reverse(graph)   (loop_hoist.hoist_loops)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ...graphs.control import Body
from ...graphs.ir import Graph, Node
from ...runtime import Spec
from ...runtime import get as get_op
from .loop_hoist import (
    Outer,
    Specs,
    body_specs,
    concrete,
    each_loop,
    index_rows,
    rebound,
    results_of,
    small,
)

__all__ = ["hoist_reverse"]


def hoist_reverse(graph: Graph) -> Graph:
    """Each loop's accumulators of per-step terms summed after the loop from a stack of
    the terms' operand (module docstring)."""
    return each_loop(graph, _reverse_one, before=False)


def _through(body: Body, specs: Specs, nid: int) -> int:
    """``nid``, or what it sums when it is a ``sum_to`` onto its operand's own shape (the
    gradient builder's no-op reductions, which lowering drops)."""
    node = body.graph[nid]
    while (node.kind == "call" and node.op == "sum_to" and concrete(specs[node.id])
           and specs[node.inputs[0]].shape == specs[node.id].shape):
        node = body.graph[node.inputs[0]]
    return node.id


def _accumulators(body: Body, specs: Specs, n_vars: int, outer: Mapping[int, int],
                  rows: Mapping[int, tuple[Any, ...]], skip: set[int]
                  ) -> dict[int, tuple[Any, ...]]:
    """Loop variable -> how its per-step term is made from the per-step operand ``g``:
    ("outer", a, g): ``a^T g`` with ``a`` a row; ("total", g): ``g`` summed onto the
    variable; ("scatter", v, g, i, like): ``v`` (``g`` or ``g @ W``) scattered to row
    ``i``. Only for a variable read by nothing but its ``add`` of the term."""
    graph = body.graph
    users = graph.users()
    found: dict[int, tuple[Any, ...]] = {}
    for k in range(n_vars):
        p, o = body.params[k], graph[graph.outputs[k]]
        if (k in skip or o.kind != "call" or o.op != "add" or users[p] != [o.id] or users[o.id]
                or graph.outputs.count(o.id) != 1 or len(o.inputs) != 2
                or not concrete(specs[p]) or specs[o.id] != specs[p]):
            continue
        term = graph[_through(body, specs, o.inputs[1] if o.inputs[0] == p else o.inputs[0])]
        how = _term(body, specs, term, outer, rows, specs[p])
        if how is not None and graph[_operand(how)].kind == "call" and small(
                specs[_operand(how)]):
            found[k] = how
    return found


def _term(body: Body, specs: Specs, term: Node, outer: Mapping[int, int],
          rows: Mapping[int, tuple[Any, ...]], var: Spec) -> tuple[Any, ...] | None:
    """How ``term`` is made of a per-step operand (see :func:`_accumulators`), or None."""
    if term.kind != "call":
        return None
    if (term.op == "matmul" and term.attrs.get("transpose_a") and not term.attrs.get(
            "transpose_b") and term.inputs[0] in rows and rows[term.inputs[0]][0] == "take"
            and len(specs[term.inputs[0]].shape or ()) == 2):
        g = _through(body, specs, term.inputs[1])
        return ("outer", term.inputs[0], g) if len(specs[g].shape or ()) == 2 else None
    if term.op == "sum_to":
        return ("total", _through(body, specs, term.inputs[0]))
    if term.op != "scatter_add" or int(term.attrs.get("axis", 0)) != 0:
        return None
    v, i, like = term.inputs
    if (i not in rows or specs[i].shape != () or like not in outer
            or specs[like] != var or specs[v].shape != (var.shape or ())[1:]):
        return None
    v = _through(body, specs, v)
    node = body.graph[v]
    if (node.kind == "call" and node.op == "matmul" and node.inputs[1] in outer
            and not node.attrs.get("transpose_a") and len(specs[node.inputs[0]].shape or ()) == 2):
        return ("scatter", v, _through(body, specs, node.inputs[0]), i, like)
    return ("scatter", v, v, i, like)


def _operand(how: tuple[Any, ...]) -> int:
    """The per-step operand ``g`` of an accumulator's term (what the loop stacks)."""
    return how[1] if how[0] == "total" else how[2]  # type: ignore[no-any-return]


def _reverse_one(graph: Graph, loop: Node, out: Outer) -> dict[int, Node] | None:
    """The loop without its hoisted accumulators and its results (a removed variable's
    result becomes its start value plus the term summed over the stack), the new outer
    nodes added to ``out``; None when no variable is an accumulator of that kind."""
    results = results_of(graph, loop)
    body, cond, n_vars = loop.attrs["body"], loop.attrs["cond"], loop.attrs["n_vars"]
    specs = body_specs(graph, loop)
    if specs is None or loop.attrs.get("keep") or any(r.attrs["index"] >= n_vars
                                                      for r in results):
        return None  # (a loop whose stacks a gradient reads: left as it is)
    outer = {p: loop.inputs[k] for k, p in enumerate(body.params) if k >= n_vars}
    rows = index_rows(body, specs, n_vars, outer)
    hows = _accumulators(body, specs, n_vars, outer, rows, cond.reads(0))
    if not hows:
        return None
    kept = [k for k in range(n_vars) if k not in hows]
    operands = list(dict.fromkeys(_operand(how) for how in hows.values()))
    if sum(map(_nbytes, (specs[g] for g in operands))) > sum(
            _nbytes(specs[r]) for r, how in rows.items() if how[0] == "take"):
        # the stacks grow with the iterations: no faster than the stacked inputs the loop
        # reads row by row (a gradient loop's saved states), so memory at most doubles
        return None
    positions = kept + list(range(n_vars, len(body.params)))
    outputs = [body.graph.outputs[k] for k in kept]
    needs = Body(Graph(body.graph.nodes, (*outputs, *operands)), body.params, body.name)
    inner = needs.keeping(positions, range(len(outputs) + len(operands)))
    new_loop = loop.with_(inputs=tuple(loop.inputs[k] for k in positions), attrs={
        **loop.attrs, "n_vars": len(kept), "keep": tuple(operands),
        "body": Body(Graph(inner.graph.nodes, tuple(outputs)), inner.params, body.name),
        "cond": cond.keeping(positions, [0])})
    out.by_id[loop.id] = new_loop
    m = len(kept)
    stacks = {g: out.result(new_loop, 2 * m + 1 + j, node=g) for j, g in enumerate(operands)}
    every = _Every(out, new_loop, outer, rows, kept)
    found = rebound([r for r in results if r.attrs["index"] not in hows], new_loop,
                     {k: j for j, k in enumerate(kept)})
    terms: dict[tuple[Any, ...], int] = {}  # (a bias's sum of G serves every bias of its shape)
    for r in results:
        k = r.attrs["index"]
        if k in hows:
            key = ((hows[k][0], _operand(hows[k]), specs[body.params[k]].shape)
                   if hows[k][0] == "total" else (k,))
            if key not in terms:
                terms[key] = _summed(out, every, body, specs, hows[k],
                                     stacks[_operand(hows[k])], loop.inputs[k], r)
            term, start = out.by_id[terms[key]], graph[loop.inputs[k]]
            if _zeros(start) and start.shape == term.shape and start.dtype is term.dtype:
                found[r.id] = term.with_(id=r.id)  # (0 + the sum: the sum itself)
                continue
            spec = get_op("add").infer(Spec(start.shape, r.dtype), Spec(term.shape, r.dtype))
            found[r.id] = Node(r.id, "call", "add", (start.id, term.id), {}, spec.shape,
                               spec.dtype, name=r.name, site=r.site, role=r.role)
    return {loop.id: new_loop, **found}


class _Every:
    """Outer nodes holding a row expression's value at every iteration, in iteration order:
    a loop variable's saved stack, ``take(c, every(i))`` for a row ``c[i]``."""

    def __init__(self, out: Outer, loop: Node, outer: Mapping[int, int],
                 rows: Mapping[int, tuple[Any, ...]], kept: Sequence[int]) -> None:
        self.out, self.loop, self.outer, self.rows, self.kept = out, loop, outer, rows, kept
        self.made: dict[int, int] = {}

    def __call__(self, nid: int) -> int:
        if nid not in self.made:
            how = self.rows[nid]
            if how[0] == "var":  # (the stack of the values each iteration started from)
                index = self.loop.attrs["n_vars"] + list(self.kept).index(how[1])
                self.made[nid] = self.out.result(self.loop, index)
            else:
                self.made[nid] = self.out.call("take", [self.outer[how[1]], self(how[2])],
                                               {"axis": 0}, self.loop, "rows")
        return self.made[nid]


def _summed(out: Outer, every: _Every, body: Body, specs: Specs, how: tuple[Any, ...],
            stack: int, start: int, like: Node) -> int:
    """The outer node of an accumulator's term summed over every iteration (``stack``: the
    operand's stack; ``start``: the variable's start value, read for its shape)."""
    if how[0] == "total":
        return out.call("sum_to", [stack, start], {}, like, "sum")
    g = _operand(how)
    flat_g = out.call("reshape", [stack], {"shape": (-1, specs[g].shape[-1])}, like, "steps")
    if how[0] == "outer":
        a = how[1]
        flat_a = out.call("reshape", [every(a)], {"shape": (-1, specs[a].shape[-1])}, like,
                          "rows")
        return out.call("matmul", [flat_a, flat_g], {"transpose_a": True,
                                                     "transpose_b": False}, like, "outer")
    _, v, _, index, target = how
    values = stack
    if v != g:  # (each row is g @ W: one product over every step's g)
        node = body.graph[v]
        product = out.call("matmul", [flat_g, every.outer[node.inputs[1]]], node.attrs, like,
                           "product")
        values = out.call("reshape", [product], {"shape": (-1, *specs[v].shape)}, like,
                          "split")
    return out.call("scatter_add", [values, every(index), every.outer[target]], {"axis": 0},
                    like, "scatter")




def _zeros(node: Node) -> bool:
    """Whether ``node`` is all zeros whatever the run (a gradient loop's start values)."""
    if node.kind == "const":
        return node.value is not None and not np.any(node.value)
    return (node.kind == "call" and node.op in ("full_like", "zeros_like")
            and node.attrs.get("value", 0) == 0)


def _nbytes(spec: Spec) -> int:
    return math.prod(spec.shape or ()) * spec.dtype.itemsize  # type: ignore[arg-type]
