"""``tf.gradients``: appends the backward graph, built from the registry's gradient rules.

The walk, the fitting of each gradient to its input's static shape (``sum_to``, the one
place broadcasting is undone) and the summing of gradients from several consumers (``add``
nodes, type ``AddN``) are :mod:`tapeflow.graphs.sweep`'s, shared with dynamic mode's
``backward()``. This module adds what only a graph builder has: which nodes lie between the
``xs`` and the ``ys``, ``grad_ys``, ``stop_gradients``, and the nodes' names and role.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..graphs.sweep import Gathered, fit, reverse_sweep
from .control_grad import Partial, cond_vjp, while_vjp
from .graph import Graph, convert_value
from .sources import call
from .tensor import Tensor


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _check(values: list[Any], what: str, graph: Graph | None) -> Graph:
    for v in values:
        if not isinstance(v, Tensor):
            raise TypeError(f"gradients: every element of {what} must be a Tensor or Variable, "
                            f"got {v!r}")
        if graph is not None and v.graph is not graph:
            raise ValueError(f"gradients: {v} is from a different graph than the other "
                             "tensors")
        graph = v.graph
    assert graph is not None
    return graph


def _relevant(graph: Graph, x_ids: set[int], y_ids: list[int], stops: set[int]) -> set[int]:
    """Ids of the nodes on some path from an x to a y (both ends included)."""
    nodes = graph.nodes
    top = max(y_ids)
    from_x = set(x_ids)
    for nid in range(min(x_ids), top + 1):
        node = nodes[nid]
        if node.kind == "call" and nid not in stops and any(i in from_x for i in node.inputs):
            from_x.add(nid)
    relevant: set[int] = set()
    stack = [y for y in y_ids if y in from_x]
    while stack:
        nid = stack.pop()
        if nid in relevant:
            continue
        relevant.add(nid)
        if nid in stops:
            continue
        stack.extend(i for i in nodes[nid].inputs if i in from_x)
    return relevant


class _Builder:
    """The static engine of one sweep (:class:`tapeflow.graphs.sweep.Engine`): a gradient
    is a new node of the graph, tagged role "backward" and named under its op's scope."""

    def __init__(self, graph: Graph, relevant: set[int], stops: set[int], xs: set[int]) -> None:
        self.graph = graph
        self.relevant = relevant
        self.stops = stops
        self.xs = xs
        self.totals: dict[int, Tensor] = {}  # the summed gradient of each x
        self.scope = ""  # the name scope of the rule that ran last (its fits and sums go there)
        # whether the last rule's inputs may have been broadcast against each other: with a
        # single data input, a gradient of the input's static shape needs no sum_to
        self.may_broadcast = True

    def rank(self, target: Tensor) -> int:
        return target.node_id  # nodes are numbered in creation order; sources are nodes too

    def vjp(self, tensor: Tensor, grad: Tensor) -> list[tuple[Any, Any, Tensor]]:
        nid = tensor.node_id
        if nid in self.xs:
            self.totals[nid] = grad
        node = self.graph.node(nid)
        if node.kind != "call" or nid in self.stops:
            return []
        if node.op in ("while", "cond", "control_output"):  # static/control_grad.py
            return self._control_vjp(node, grad)
        opdef = node.opdef
        if not opdef.differentiable:  # argmax, comparisons, stop_gradient...: no gradient
            return []
        inputs: Sequence[Tensor] = [self.graph.tensor(i) for i in node.inputs]
        needed = [i in self.relevant and opdef.has_gradient_for(k) and inp.dtype.is_floating
                  for k, (i, inp) in enumerate(zip(node.inputs, inputs, strict=True))]
        if not any(needed):
            return []
        self.may_broadcast = sum(1 for k in range(len(inputs)) if k not in opdef.shape_only) > 1
        with self.graph.name_scope(f"{node.name}_grad") as scope:
            self.scope = scope
            grads = opdef.vjp(grad, tensor, inputs, dict(node.attrs), needed)
        return [(x if need else None, g, x)
                for x, g, need in zip(inputs, grads, needed, strict=True)]

    def _control_vjp(self, node: Any, grad: Any) -> list[tuple[Any, Any, Tensor]]:
        inputs = [self.graph.tensor(i) for i in node.inputs]
        if node.op == "control_output":  # gathered per control node until its rule runs
            return [(inputs[0], Partial({node.attrs["index"]: grad}), inputs[0])]
        vjp = while_vjp if node.op == "while" else cond_vjp
        with self.graph.name_scope(f"{node.name}_grad") as scope:
            self.scope = scope
            grads = vjp(self.graph, node, grad, self.relevant)
        return [(x if g is not None else None, g, x) for x, g in zip(inputs, grads, strict=True)]

    def fits(self, grad: Any, like: Tensor) -> bool:
        if isinstance(grad, Partial):
            return True
        return (isinstance(grad, Tensor) and grad.dtype is like.dtype
                and self.same_shape(grad, like))

    def value(self, grad: Any, like: Tensor) -> Tensor:
        if isinstance(grad, Tensor):
            return grad
        with self.graph.name_scope(self.scope):  # a rule gave a Python number
            return call("full_like", [like], {"value": float(grad)})

    def same_shape(self, grad: Tensor, like: Tensor) -> bool:
        return grad.spec.shape == like.spec.shape and (
            not self.may_broadcast or like.spec.is_fully_known)

    def dtype(self, value: Tensor) -> Any:
        return value.dtype

    def apply(self, op: str, args: tuple[Any, ...], attrs: dict[str, Any]) -> Tensor:
        with self.graph.name_scope(self.scope):
            return call(op, list(args), attrs, type_=_TYPES[op])

    def add(self, gathered: Gathered, grad: Tensor) -> None:
        if isinstance(grad, Partial):
            gathered.grad.add(grad, lambda a, b: call("add", [a, b], type_="AddN"))
            return
        with self.graph.name_scope(self.scope):
            gathered.grad = call("add", [gathered.grad, grad], type_="AddN")


#: TF1's op types of the nodes the sweep itself adds
_TYPES = {"sum_to": "SumTo", "cast": "Cast"}


def gradients(ys: Any, xs: Any, grad_ys: Any = None, name: str = "gradients",
              stop_gradients: Any = None) -> list[Tensor | None]:
    """d(sum of ys)/d x for each x, as new nodes of the graph; ``None`` where x is unconnected.

    Args:
        ys: a Tensor or a list of Tensors to differentiate.
        xs: a Tensor/Variable or a list of them.
        grad_ys: cotangents for ``ys`` (default: ones of each y's shape).
        name: the name scope of the backward nodes.
        stop_gradients: tensors treated as constants (no gradient flows through them).

    Returns:
        One gradient per x, of x's shape and dtype, or None.

    Example:
        >>> import tapeflow.static as tf
        >>> with tf.Graph().as_default():
        ...     x = tf.placeholder(tf.float64, [3], name="x")
        ...     (dx,) = tf.gradients(tf.reduce_sum(x * x), [x])
        ...     with tf.Session() as sess:
        ...         print(sess.run(dx, {x: [1.0, 2.0, 3.0]}))
        [2. 4. 6.]
    """
    y_list, x_list = _as_list(ys), _as_list(xs)
    if not y_list or not x_list:
        raise ValueError("gradients: ys and xs must not be empty")
    graph = _check(y_list + x_list, "ys and xs", None)
    cotangents = _as_list(grad_ys) if grad_ys is not None else [None] * len(y_list)
    if len(cotangents) != len(y_list):
        raise ValueError(f"gradients: {len(cotangents)} grad_ys for {len(y_list)} ys")
    stops = {t.node_id for t in _as_list(stop_gradients)} if stop_gradients is not None else set()
    x_ids = {x.node_id for x in x_list}
    relevant = _relevant(graph, x_ids, [y.node_id for y in y_list], stops)
    builder = _Builder(graph, relevant, stops, x_ids)
    with graph.name_scope(name) as scope, graph.role("backward"):
        builder.scope = scope
        # the graph's own Tensor of each y (a Variable is another object for the same node):
        # the sweep tells targets apart by identity
        seeds = [(graph.tensor(y.node_id), fit(builder, _seed(graph, y, g), y))
                 for y, g in zip(y_list, cotangents, strict=True) if y.node_id in relevant]
        reverse_sweep(seeds, builder)
    return [builder.totals.get(x.node_id) for x in x_list]


def _seed(graph: Graph, y: Tensor, seed: Any) -> Tensor:
    """The cotangent of ``y``: ``grad_ys``' entry, or ones of y's shape."""
    if seed is None:
        return call("full_like", [y], {"value": 1}, name="grad_ys")
    if isinstance(seed, Tensor):
        return seed
    return graph.constant(convert_value(seed, y.dtype), name="grad_ys")
