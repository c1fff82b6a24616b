"""The gradient of a split, as one concat: a loop step's gate gradients joined, not summed.

An LSTM step splits its pre-activation into four gates (``tf.split``: four slices), and the
gradient of each slice is ``unindex``: zeros of the whole shape with the slice's gradient
written in. The gradient builder adds the four up, so every reverse step ran four fills,
four writes and three additions over the whole (batch, 4 * units) array, and computed the
pre-activation once more for the shape the fills read (two products and three additions
of the replayed forward step). When the slices are disjoint and cover the axis, the sum is
the slices' gradients side by side: one ``concat``, as TF1's ``SplitGrad`` is. The values
are the sum's: each element is one gradient plus zeros (the sum turns a -0.0 into +0.0,
the concat keeps it; nothing else differs).

Example:
    >>> import numpy as np
    >>> import tapeflow.static as tf
    >>> from tapeflow.graphs.control import Body
    >>> with tf.Graph().as_default() as g:
    ...     x = tf.placeholder(tf.float32, [2, 4], name="x")
    ...     a, b = tf.split(x, 2, axis=1)
    ...     grad, = tf.gradients(tf.reduce_sum(tf.sin(a)) + tf.reduce_sum(b * b), [x])
    >>> ir = g.as_ir([grad])
    >>> body = Body(ir, (x.node_id,))
    >>> joined = join_split_gradients(body).graph
    >>> joined[ir.outputs[0]].op, [n.op for n in joined.nodes if n.op == "unindex"]
    ('concat', [])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ...graphs.control import Body
from ...graphs.ir import Graph, Node

__all__ = ["join_split_gradients"]

_FULL = ("slice", None, None, None)


def join_split_gradients(body: Body) -> Body:
    """``body`` with each sum of ``unindex`` nodes over disjoint slices that cover one axis
    replaced by the ``concat`` of their gradients (see the module docstring)."""
    graph = body.graph
    nodes = {n.id: n for n in graph.nodes}
    users = graph.users()
    outputs = set(graph.outputs)
    replaced: dict[int, Node] = {}
    inner: set[int] = set()  # (the adds and unindexes of a sum replaced at its root)
    for n in reversed(graph.nodes):
        if n.id in inner or not _is_add(n):
            continue
        adds, leaves = _sum_tree(n, nodes, users, outputs)
        joined = _joined(n, [nodes[i] for i in leaves], nodes, users, outputs)
        if joined is not None:
            replaced[n.id] = joined
            inner.update(adds)
            inner.update(leaves)
    if not replaced:
        return body
    kept = tuple(replaced.get(n.id, n) for n in graph.nodes if n.id not in inner)
    return Body(Graph(kept, graph.outputs), body.params, body.name)


def _is_add(n: Node) -> bool:
    return n.kind == "call" and n.op == "add" and len(n.inputs) == 2


def _sum_tree(root: Node, nodes: Mapping[int, Node], users: Mapping[int, list[int]],
              outputs: set[int]) -> tuple[list[int], list[int]]:
    """The adds under ``root`` that only it reads (through adds), and the terms they add."""
    adds, leaves, stack = [], [], list(reversed(root.inputs))
    while stack:
        i = stack.pop()
        node = nodes[i]
        if _is_add(node) and len(users[i]) == 1 and i not in outputs \
                and node.dtype is root.dtype:
            adds.append(i)
            stack.extend(reversed(node.inputs))
        else:
            leaves.append(i)
    return adds, leaves


def _joined(root: Node, leaves: Sequence[Node], nodes: Mapping[int, Node],
            users: Mapping[int, list[int]], outputs: set[int]) -> Node | None:
    """``root`` as a concat, when ``leaves`` are unindexes of slices tiling one axis."""
    if len(leaves) < 2:
        return None
    pieces: list[tuple[int, int, int]] = []
    axes = set()
    for leaf in leaves:
        if (leaf.kind != "call" or leaf.op != "unindex" or len(users[leaf.id]) != 1
                or leaf.id in outputs or leaf.dtype is not root.dtype
                or nodes[leaf.inputs[0]].dtype is not root.dtype):
            return None
        found = _slice_of(leaf.attrs.get("index", ()))
        if found is None:
            return None
        axis, start, stop = found
        axes.add(axis)
        pieces.append((start, stop, leaf.inputs[0]))
    shape = nodes[leaves[0].inputs[1]].shape
    axis = axes.pop() if len(axes) == 1 else None
    if axis is None or shape is None or any(nodes[leaf.inputs[1]].shape != shape
                                            for leaf in leaves):
        return None
    size = shape[axis] if axis < len(shape) else None
    pieces.sort()
    edges = [0] + [stop for _, stop, _ in pieces]
    if not isinstance(size, int) or edges[-1] != size \
            or any(start != edges[k] for k, (start, _, _) in enumerate(pieces)):
        return None
    # unindex broadcasts its gradient into the slice; a concat takes each piece as it is
    if any(nodes[g].shape != (*shape[:axis], stop - start, *shape[axis + 1:])
           for start, stop, g in pieces):
        return None
    return root.with_(op="concat", inputs=tuple(g for _, _, g in pieces),
                      attrs={"axis": axis})


def _slice_of(index: Sequence[Any]) -> tuple[int, int, int] | None:
    """(axis, start, stop) of an index that slices one axis by a step of 1, else None."""
    cut = [k for k, item in enumerate(index) if item != _FULL]
    if len(cut) != 1 or not isinstance(index[cut[0]], tuple):
        return None
    kind, start, stop, step = index[cut[0]]
    start = 0 if start is None else start
    if kind != "slice" or step not in (None, 1) or not isinstance(start, int) \
            or not isinstance(stop, int) or start < 0 or stop <= start:
        return None
    return cut[0], start, stop
