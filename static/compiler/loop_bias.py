"""Loop-invariant bias adds folded into a loop's hoisted product (part of ``loop_hoist``).

An RNN step computes ``(x[t] @ W_ih + b_ih) + (h @ W_hh + b_hh)``. Once ``x[t] @ W_ih``
is hoisted (one GEMM over every row before the loop), the two bias adds still run every
step. Both are time-parallel: ``b_ih`` is added to the hoisted row, and ``b_hh`` can be,
since ``P + (R + c) = (P + c) + R`` up to rounding. Two pieces:

* :func:`reassociate` rewrites a body's ``add(P, add(R, c))`` or ``add(add(P, R), c)``
  (``P`` a product of a row, ``c`` a captured value whose broadcast leaves the shape
  alone, the inner add read by nothing else) into ``add(add(P, c), R)``, so that the bias
  meets the product;
* :func:`bias_of` tells ``loop_hoist._parallel`` that ``add(P, c)`` with ``P`` hoisted is
  time-parallel too: the outer graph adds ``c`` once to the whole stacked product (as
  ``dot_merge`` adds a bias once per block) and the step reads row ``t`` of ``X @ W + b``.
  Two biases are summed first (``b_ih + b_hh``, one small add), so the stack gets one add
  and one more array of its size at most (a fused ``+ b_ih + b_hh`` held two).

Rounding differs from the step-by-step sums (as for every hoist), so ``exact=True``, which
turns ``loop_hoist`` off, leaves it alone.

Example:
    >>> import numpy as np
    >>> import tapeflow.static as tf
    >>> from tapeflow.runtime import Spec
    >>> from tapeflow.static.compiler import compile
    >>> with tf.Graph().as_default() as g:
    ...     x = tf.placeholder(tf.float64, [5, 2, 3], name="x")
    ...     w, u = tf.constant(np.full((3, 4), 0.1)), tf.constant(np.eye(4))
    ...     b, c = tf.constant(np.ones(4)), tf.constant(np.ones(4))
    ...     cell = lambda t, h: tf.matmul(tf.gather(x, t), w) + b + (tf.matmul(h, u) + c)
    ...     _, h = tf.while_loop(lambda t, h: t < 5, lambda t, h: (t + 1, tf.tanh(cell(t, h))),
    ...                          [tf.constant(0), tf.zeros([2, 4], tf.float64)])
    >>> program = compile(g.as_ir([h]), {x.node_id: Spec((5, 2, 3), tf.float64)})
    >>> body = next(n for n in program.graph.nodes if n.op == "while").attrs["body"].graph
    >>> [n.op for n in body.nodes if n.kind == "call"]  # (t + 1, h @ u, row t, its add, tanh)
    ['add', 'matmul', 'take', 'add', 'tanh']
    >>> # x W, then one add of b + c (summed first, here folded to a constant)
    >>> [n.op for n in program.graph.nodes if "loop_hoist" in n.name and n.kind == "call"]
    ['reshape', 'matmul', 'reshape', 'add']
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...graphs.control import Body
from ...graphs.ir import Graph, Node
from ...runtime import Spec
from .rewrite import stable_toposort

__all__ = ["bias_of", "reassociate"]

Specs = dict[int, Spec]


def _keeps_shape(specs: Specs, value: int, bias: int) -> bool:
    """Whether adding ``bias`` to ``value`` leaves its spec as it is (a bias broadcast over
    the leading axes, also over a stack of such values)."""
    v, b = specs[value], specs[bias]
    if v.dtype is not b.dtype or v.shape is None or b.shape is None or len(b.shape) > len(
            v.shape):
        return False
    tail = v.shape[len(v.shape) - len(b.shape):]
    return all(d == 1 or d == e for d, e in zip(b.shape, tail, strict=True))


def bias_of(node: Node, products: Mapping[int, Any], outer: Mapping[int, int], specs: Specs
            ) -> tuple[int, int] | None:
    """(the hoisted product, the captured bias) when ``node`` is ``add`` of a ``products``
    node and a captured parameter (``outer``) that broadcasts without changing its shape."""
    if node.kind != "call" or node.op != "add" or len(node.inputs) != 2:
        return None
    for a, b in (node.inputs, node.inputs[::-1]):
        if (a in products and b in outer and a != b and _keeps_shape(specs, a, b)
                and specs[node.id] == specs[a]):
            return a, b
    return None


def reassociate(body: Body, specs: Specs, n_vars: int) -> Body:
    """``body`` with each ``add(P, add(R, c))`` or ``add(add(P, R), c)`` (see the module
    docstring) made ``add(add(P, c), R)``; ``body`` itself when none is found. ``P`` is a
    ``matmul`` of a row ``take(captured, i)`` by a captured matrix, or such a product plus
    a captured bias; the inner add, read by nothing else, keeps its id."""
    graph = body.graph
    captured = set(body.params[n_vars:])
    users = graph.users()
    changed: dict[int, Node] = {}
    for n in graph.nodes:
        if n.kind != "call" or n.op != "add" or len(n.inputs) != 2 or n.id in changed:
            continue
        for u, v in (n.inputs, n.inputs[::-1]):
            inner = graph[v] if _product(graph, u, captured, specs) else graph[u]
            if not (inner.kind == "call" and inner.op == "add" and len(inner.inputs) == 2
                    and users[inner.id] == [n.id] and inner.id not in graph.outputs
                    and inner.id not in changed and u != v
                    and specs[n.id] == specs[inner.id]):
                continue
            if inner.id == v:  # add(P, add(R, c))
                p, (c, r) = u, _bias_and_rest(inner, captured, specs)
            else:  # add(add(P, R), c)
                c, (p, r) = (v if v in captured else None), _product_and_rest(
                    graph, inner, captured, specs)
            if (c is None or p is None or specs[p] != specs[n.id]
                    or not _keeps_shape(specs, n.id, c)):
                continue
            changed[inner.id] = inner.with_(inputs=(p, c))
            changed[n.id] = n.with_(inputs=(inner.id, r))
            break
    if not changed:
        return body
    order = stable_toposort([changed.get(n.id, n) for n in graph.nodes])
    assert order is not None  # (P and c come before the add that read them before)
    return Body(Graph(tuple(order), graph.outputs), body.params, body.name)


def _bias_and_rest(inner: Node, captured: set[int], specs: Specs
                   ) -> tuple[int | None, int]:
    """(the captured bias of ``inner``, its other operand), or (None, -1)."""
    for c, r in (inner.inputs, inner.inputs[::-1]):
        if c in captured and r not in captured and _keeps_shape(specs, inner.id, c):
            return c, r
    return None, -1


def _product_and_rest(graph: Graph, inner: Node, captured: set[int], specs: Specs
                      ) -> tuple[int | None, int]:
    """(the hoistable product ``inner`` adds, its other operand), or (None, -1)."""
    for p, r in (inner.inputs, inner.inputs[::-1]):
        if _product(graph, p, captured, specs) and not _product(graph, r, captured, specs):
            return p, r
    return None, -1


def _product(graph: Graph, nid: int, captured: set[int], specs: Specs) -> bool:
    """Whether ``nid`` is a product of a row of a captured tensor by a captured matrix
    (what ``loop_hoist`` hoists), possibly plus a captured bias."""
    node = graph[nid]
    if node.kind != "call":
        return False
    if node.op == "add" and len(node.inputs) == 2:
        return any(_product(graph, a, captured, specs) and b in captured
                   and _keeps_shape(specs, a, b) for a, b in (node.inputs, node.inputs[::-1]))
    if node.op != "matmul" or node.inputs[1] not in captured:
        return False
    row = graph[node.inputs[0]]
    return (row.kind == "call" and row.op == "take" and row.inputs[0] in captured
            and int(row.attrs.get("axis", 0)) == 0)
