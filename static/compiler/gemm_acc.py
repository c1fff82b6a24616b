"""GEMM accumulation: a product added to a value that dies there is summed into it by BLAS.

BLAS's GEMM computes ``C = A B + beta C``. Where the graph adds a matmul's product to a
value ``x`` that nothing else reads (``add(x, a @ b)``), the sum need not be a pass of its
own: ``x``'s buffer becomes the product's output (the planner writes the ``addmm`` over
its addend: ``planner.mark_inplace``) and the library adds the product into it as it
makes it (``beta = 1``; ``compiler/blas_calls.py``). On an unrolled RNN this is each
weight gradient summed over the blocks of merged steps (``dot_merge``): RNN-large adds
seven 512x512 products into one gradient, a 1 MB add (about 70 us) each.

A product summed with two other terms, ``(r + a @ b) + c`` (an RNN step: the input
projection's row, the recurrence, the bias), is first reassociated to ``(r + c) + a @ b``,
so that the product is added last, into the sum of the other two, which dies there: one
pass over the step's values fewer (RNN-large: 50 of them, about 9 us each).

A sum over a matrix's rows (a bias gradient) becomes a product with a row of ones first
(``gemm_sums.py``), and a block's rows that each step sums a product into take the step's
bias once for the block and are written over by the step (``gemm_rows.py``).

Only products run by a library that sums into ``C`` (MKL) are rewritten: those the
autotuner gives to MKL, and, under ``blas="auto"``, those it gives to numpy's matmul
where MKL's time is within numpy's plus the add's (the autotuner weighs products alone).
numpy's matmul cannot sum into ``C``, so with ``blas="numpy"`` (the default), with
``blas="auto"`` on a machine without MKL, or on the GPU, the graph stays as it is;
``blas="mkl"`` without MKL keeps the rewrites, which ``runtime/blas.py``'s fallback runs as
numpy's product and an add into the addend. The library sums in
its own order, so results equal the separate add to rounding, not bit for bit: the pass
is off under ``CompileOptions(exact=True)`` (``pipeline.PASSES`` marks it inexact).

Example:
    >>> from tapeflow.graphs import Graph
    >>> gemm_acc(Graph((), ()), "auto")
    (Graph(nodes=(), outputs=()), False)
"""

from __future__ import annotations

import timeit
from typing import Any

import numpy as np

from ...graphs.ir import Graph, Node
from ...graphs.liveness import is_view
from ...runtime import blas
from ...runtime.blas import MKL
from .autotune import autotune, operands
from .fusion import readers_of
from .gemm_rows import fold_row_bias
from .gemm_sums import sums_as_products
from .lowering import concrete

#: at most this many calls may run between the product and the add that reads it: the
#: product's operands are read at the add's place after the rewrite, so they live longer
BETWEEN = 4


def _accumulated(n: Node, by_id: dict[int, Node], readers: dict[int, int],
                 providers: dict[int, str]) -> tuple[Node, Node] | None:
    """(the addend, the product) of an ``add`` that may become an addmm, else None: a 2-D
    add of two distinct values of its dtype, one of them a product of its shape run by MKL
    read only here; the other either a call's own (not a view's) buffer of that shape read
    only here (so the planner can hand that buffer to the result), or a row broadcast over
    the product (a bias: copying it into the result is one write, where the add was a read
    of the product too)."""
    if n.kind != "call" or n.op != "add" or not concrete(n.shape) or len(n.shape) != 2 \
            or n.inputs[0] == n.inputs[1]:  # type: ignore[arg-type]
        return None
    found = None
    for k in (1, 0):  # the later-made operand first: its product runs last anyway
        m, x = by_id[n.inputs[k]], by_id[n.inputs[1 - k]]
        if not _product(m, readers, providers):
            continue
        if (m.shape, m.dtype, x.dtype) != (n.shape, n.dtype, n.dtype):
            continue
        row = x.shape in ((n.shape[1],), (1, n.shape[1]))  # type: ignore[index]
        if row or (x.shape == n.shape and x.kind == "call" and not is_view(x)
                   and readers.get(x.id) == 1):
            found = (x, m)
            break
    return found


def _summed_last(graph: Graph, providers: dict[int, str]) -> Graph:
    """``add(add(r, m), c)`` as ``add(add(r, c), m)`` where ``m`` is a product run by MKL
    read only there, the inner sum is read only by the outer one, and ``r`` has the outer
    sum's shape (``c`` may be broadcast: a bias); the inner node keeps its id and place."""
    by_id = {n.id: n for n in graph.nodes}
    position = {n.id: k for k, n in enumerate(graph.nodes)}
    readers = readers_of(graph)
    swapped: dict[int, Node] = {}
    for outer in graph.nodes:
        if outer.kind != "call" or outer.op != "add" or not concrete(outer.shape):
            continue
        for k in (0, 1):
            inner, c = by_id[outer.inputs[k]], by_id[outer.inputs[1 - k]]
            if inner.op != "add" or inner.id in swapped or readers.get(inner.id) != 1 \
                    or position[c.id] > position[inner.id]:
                continue
            ms = [j for j in (1, 0) if _product(by_id[inner.inputs[j]], readers, providers)]
            if not ms:
                continue
            m, r = by_id[inner.inputs[ms[0]]], by_id[inner.inputs[1 - ms[0]]]
            if m.id == r.id or (r.shape, r.dtype, m.shape) != (outer.shape, outer.dtype,
                                                               outer.shape):
                continue
            swapped[inner.id] = inner.with_(inputs=(r.id, c.id))
            swapped[outer.id] = outer.with_(inputs=(inner.id, m.id))
            break
    if not swapped:
        return graph
    return Graph(tuple(swapped.get(n.id, n) for n in graph.nodes), graph.outputs)


def _summing_pays(graph: Graph, readers: dict[int, int], providers: dict[int, str],
                  setting: str) -> dict[int, str]:
    """``providers``, with MKL for each product numpy's matmul was chosen for that an add
    alone reads, where MKL's time is within numpy's plus that add's (the autotuner compares
    the products alone; with the add folded into MKL's call, MKL can win)."""
    if setting != "auto" or MKL not in blas.available():
        return providers
    users = graph.users()
    found = dict(providers)
    for m in graph.nodes:
        if providers.get(m.id) != blas.NUMPY or readers.get(m.id) != 1 or not users[m.id] \
                or graph[users[m.id][0]].op != "add" or len(m.shape or ()) != 2:
            continue
        a, b, out = operands(m, graph)
        times = blas.timings(a, b)
        if MKL in times and times[MKL] <= times[blas.NUMPY] + _add_seconds(out):
            found[m.id] = MKL
    return found


_ADDS: dict[tuple[Any, ...], float] = {}  # (shape, dtype) -> seconds of one add


def _add_seconds(out: Any) -> float:
    """Seconds of ``out += out`` (an add of the product's size), the least of a few."""
    key = (out.shape, out.dtype.str)
    if key not in _ADDS:
        if len(_ADDS) >= blas.CACHE_LIMIT:  # (ever-new shapes: start over)
            _ADDS.clear()
        out[...] = 1.0
        _ADDS[key] = min(timeit.repeat(lambda: np.add(out, out, out), number=3, repeat=3)) / 3
    return _ADDS[key]


def _product(m: Node, readers: dict[int, int], providers: dict[int, str]) -> bool:
    """A matmul run by MKL whose product is read once."""
    return m.op == "matmul" and providers.get(m.id) == MKL and readers.get(m.id) == 1


def gemm_acc(graph: Graph, setting: str = "numpy") -> tuple[Graph, bool]:
    """``add(x, a @ b)`` as ``addmm(x, a, b)`` where the product runs in MKL and ``x`` dies
    at the add (see the module doc); ``setting`` is ``CompileOptions.blas``."""
    providers = autotune(graph, setting)
    if MKL not in providers.values() and not (setting == "auto" and providers
                                              and MKL in blas.available()):
        return graph, False
    start = graph
    graph, providers = sums_as_products(graph, providers, setting)
    readers = readers_of(graph)
    providers = _summing_pays(graph, readers, providers, setting)
    graph = _summed_last(graph, providers)
    by_id = {n.id: n for n in graph.nodes}
    position = {n.id: k for k, n in enumerate(graph.nodes)}
    readers = readers_of(graph)
    made: dict[int, Node] = {}
    gone: set[int] = set()
    for k, n in enumerate(graph.nodes):
        pair = _accumulated(n, by_id, readers, providers)
        if pair is None:
            continue
        x, m = pair
        between = graph.nodes[position[m.id] + 1:k]
        if sum(b.kind == "call" and b.id != x.id for b in between) > BETWEEN:
            continue
        made[n.id] = by_id[n.id] = n.with_(op="addmm", inputs=(x.id, *m.inputs),
                                          attrs=dict(m.attrs))
        gone.add(m.id)
    if made:
        graph = Graph(tuple(made.get(n.id, n) for n in graph.nodes if n.id not in gone),
                      graph.outputs)
    graph = fold_row_bias(graph)
    return graph, graph is not start


__all__ = ["gemm_acc"]
