"""Lowering once shapes are known: ops rewritten into cheaper registry ops, same values.

Each rewrite replaces an op whose kernel does extra work on every call (finding axes,
swapping axes, numpy's Python-level wrappers) by registry ops whose work is fixed at
compile time, with bit-identical results:

* ``sum_to(x, like)`` -> ``sum(x, axis, keepdims=True)`` (+ a ``reshape`` view);
* ``matmul(a, b, transpose_a=True)`` -> ``matmul(transpose(a), b)`` (a view, computed
  once when ``a`` is an arena buffer);
* ``mean(x)`` (float32/float64) -> ``div(sum(x), count)``.

Example:
    >>> from tapeflow.static.compiler.lowering import lower
    >>> # graph, changed = lower(graph)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...graphs.ir import Graph, Node
from ...runtime import Spec
from ...runtime import dtypes as dt


def concrete(shape: Any) -> bool:
    """Whether a shape is fully known (no unknown rank, no ``None`` dims)."""
    return shape is not None and all(d is not None for d in shape)


def dims(shape: Any) -> tuple[int, ...]:
    """A shape the caller checked with :func:`concrete`, as a tuple of ints."""
    assert concrete(shape)
    return tuple(int(d) for d in shape)


def tf_shape(shape: tuple[int | None, ...] | None) -> str:
    """TF1's way of writing a shape in its feed errors: ``[?,3]``."""
    return "<unknown>" if shape is None else "[" + ",".join("?" if d is None else str(d)
                                                            for d in shape) + "]"


def size_of(shape: Any) -> int:
    """Elements of a concrete shape (1 for a scalar)."""
    return int(np.prod(dims(shape), dtype=np.int64))


def lower_sum_to(graph: Graph) -> tuple[Graph, bool]:
    """``sum_to(x, like)`` with concrete shapes becomes ``sum`` over the broadcast axes.

    The ``sum_to`` kernel works out its axes on every call and copies its result; once
    shapes are known the axes are constants: ``sum(x, axis, keepdims=True)``, followed by a
    ``reshape`` view when leading axes were added. The kernel does exactly this reduction,
    so the values are bit-identical.
    """
    next_id = max((n.id for n in graph.nodes), default=-1) + 1
    by_id = {n.id: n for n in graph.nodes}
    nodes: list[Node] = []
    changed = False
    for n in graph.nodes:
        x = by_id[n.inputs[0]] if n.kind == "call" and n.op == "sum_to" else None
        # (integer sums widen to int64 in `sum`; keep sum_to for those)
        if x is None or not (concrete(x.shape) and concrete(n.shape) and n.dtype.is_floating):
            nodes.append(n)
            continue
        changed = True
        source, target = dims(x.shape), dims(n.shape)
        lead = len(source) - len(target)
        axes = tuple(range(lead)) + tuple(lead + i for i, d in enumerate(target)
                                          if d == 1 and source[lead + i] != 1)
        kept = tuple(1 if i in axes else d for i, d in enumerate(source))
        spec = Spec(kept, n.dtype)
        if lead:
            summed = Node(next_id, "call", "sum", (x.id,), {"axis": axes, "keepdims": True},
                          spec.shape, n.dtype, name=f"{n.name}/sum", site=n.site, role=n.role)
            next_id += 1
            nodes.append(summed)
            nodes.append(n.with_(op="reshape", inputs=(summed.id,), attrs={"shape": target}))
        else:
            nodes.append(n.with_(op="sum", inputs=(x.id,),
                                 attrs={"axis": axes, "keepdims": True}))
    return (Graph(tuple(nodes), graph.outputs), True) if changed else (graph, False)


def lower_matmul_transposes(graph: Graph) -> tuple[Graph, bool]:
    """``matmul(a, b, transpose_a=True)`` becomes ``matmul(transpose(a), b)``.

    The kernel swaps the last two axes of a flagged operand on every call; as a ``transpose``
    view node, the swap of an arena buffer is computed once at compile time. The matmul then
    sees the very same strided operands, so the values are bit-identical.
    """
    next_id = max((n.id for n in graph.nodes), default=-1) + 1
    by_id = {n.id: n for n in graph.nodes}
    nodes: list[Node] = []
    changed = False
    for n in graph.nodes:
        flags = ("transpose_a", "transpose_b")
        if n.kind != "call" or n.op != "matmul" or not any(n.attrs.get(f) for f in flags):
            nodes.append(n)
            continue
        inputs = list(n.inputs)
        for k, flag in enumerate(flags):
            x = by_id[n.inputs[k]]
            if not n.attrs.get(flag) or x.shape is None:
                continue
            rank = len(x.shape)
            axes = tuple(range(rank - 2)) + (rank - 1, rank - 2)
            swapped = Node(next_id, "call", "transpose", (x.id,), {"axes": axes},
                           tuple(x.shape[a] for a in axes), x.dtype,
                           name=f"{n.name}/{flag}", site=n.site, role=n.role)
            next_id += 1
            nodes.append(swapped)
            inputs[k] = swapped.id
        attrs = {key: v for key, v in n.attrs.items() if key not in flags}
        nodes.append(n.with_(inputs=tuple(inputs), attrs=attrs))
        changed = True
    return (Graph(tuple(nodes), graph.outputs), True) if changed else (graph, False)


def lower_mean(graph: Graph) -> tuple[Graph, bool]:
    """``mean(x)`` of float32/float64 becomes ``div(sum(x), count)`` with a const count.

    numpy's mean is exactly that (the same pairwise sum, then one true division by the
    count), so the values are bit-identical; the call skips numpy's Python-level wrapper.
    """
    next_id = max((n.id for n in graph.nodes), default=-1) + 1
    by_id = {n.id: n for n in graph.nodes}
    nodes: list[Node] = []
    changed = False
    for n in graph.nodes:
        x = by_id[n.inputs[0]] if n.kind == "call" and n.op == "mean" else None
        if x is None or not concrete(x.shape) or n.dtype not in (dt.float32, dt.float64) \
                or x.dtype is not n.dtype:
            nodes.append(n)
            continue
        count = size_of(x.shape) // max(size_of(n.shape), 1)
        total = Node(next_id, "call", "sum", (x.id,), dict(n.attrs), n.shape, n.dtype,
                     name=f"{n.name}/sum", site=n.site, role=n.role)
        divisor = Node(next_id + 1, "const", "", (), {}, (), n.dtype, name=f"{n.name}/count",
                       site=n.site, role=n.role, value=np.asarray(count, n.dtype.np))
        next_id += 2
        nodes += [total, divisor, n.with_(op="div", inputs=(total.id, divisor.id), attrs={})]
        changed = True
    return (Graph(tuple(nodes), graph.outputs), True) if changed else (graph, False)


def lower(graph: Graph) -> tuple[Graph, bool]:
    """Lowering once shapes are known: sum_to, matmul transposes and mean (see above)."""
    changed = False
    for rewrite in (lower_sum_to, lower_matmul_transposes, lower_mean):
        graph, did = rewrite(graph)
        changed = changed or did
    return graph, changed
