"""A sum over the rows of a matrix as a product with a row of ones, for a GEMM library.

An RNN's bias gradient sums each step's gradient over the batch: after ``dot_merge``, one
``sum`` over the (steps, batch) rows of a block's stacked gradients, a (448, 512) float32
block on RNN-large. numpy's reduction walks it at half the speed of the GEMV
``ones(1, 448) @ block`` or less (20 against 7.5 to 15 us hot, one thread, either
library). The rows are summed in another order, so the result equals numpy's sum to
rounding, not bit for bit: this runs inside ``gemm_acc``, which is off under
``CompileOptions(exact=True)``.

Example:
    >>> from tapeflow.graphs import Graph
    >>> empty = Graph((), ())
    >>> sums_as_products(empty, {})[0] is empty
    True
"""

from __future__ import annotations

import math

import numpy as np

from ...graphs.ir import Graph, Node
from .autotune import autotune
from .lowering import concrete

#: fewer rows than this are summed by numpy's reduction (a GEMV's call costs more there)
MIN_ROWS = 16


def _row_sum(n: Node, by_id: dict[int, Node]) -> int | None:
    """The number of rows a ``sum`` adds (every axis but the last, of a float array of at
    least two dimensions), or None when it is not such a sum."""
    if n.kind != "call" or n.op != "sum" or not concrete(n.shape):
        return None
    x = by_id[n.inputs[0]]
    rank = len(x.shape or ())
    if rank < 2 or not concrete(x.shape) or x.dtype.np not in (np.float32, np.float64):
        return None
    axis = n.attrs.get("axis")
    axes = set(range(rank)) if axis is None else {
        a % rank for a in (axis if isinstance(axis, (list, tuple)) else (axis,))}
    rows = math.prod(x.shape[:-1])  # type: ignore[index]
    return rows if axes == set(range(rank - 1)) and rows >= MIN_ROWS else None


def sums_as_products(graph: Graph, providers: dict[int, str], setting: str = "auto"
                     ) -> tuple[Graph, dict[int, str]]:
    """Each row ``sum`` (see :func:`_row_sum`) as ``reshape(ones(1, rows) @ reshape(x))``,
    the sum's id on the last reshape; the graph and its providers (the autotuner's choice
    for each new product: either library's GEMV beats numpy's reduction here)."""
    by_id = {n.id: n for n in graph.nodes}
    next_id = max((n.id for n in graph.nodes), default=-1) + 1
    made: dict[int, list[Node]] = {}
    for n in graph.nodes:
        rows = _row_sum(n, by_id)
        if rows is None:
            continue
        x = by_id[n.inputs[0]]
        width = x.shape[-1]  # type: ignore[index]
        extra = {"name": f"{n.name}/rows", "site": n.site, "role": n.role}
        ones = Node(next_id, "const", "", (), {}, (1, rows), n.dtype,
                    value=np.ones((1, rows), n.dtype.np), **extra)
        flat = Node(next_id + 1, "call", "reshape", (x.id,), {"shape": (rows, width)},
                    (rows, width), n.dtype, **extra)
        product = Node(next_id + 2, "call", "matmul", (ones.id, flat.id),
                       {"transpose_a": False, "transpose_b": False}, (1, width), n.dtype,
                       **extra)
        result = n.with_(op="reshape", inputs=(product.id,), attrs={"shape": tuple(n.shape)})  # type: ignore[arg-type]
        made[n.id] = [ones, flat, product, result]
        next_id += 3
    if not made:
        return graph, providers
    trial = Graph(tuple(m for n in graph.nodes for m in made.get(n.id, [n])), graph.outputs)
    return trial, autotune(trial, setting)


__all__ = ["sums_as_products"]
