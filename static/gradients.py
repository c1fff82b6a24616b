"""``tf.gradients``: appends the backward graph, built from the registry's gradient rules.

The sweep visits, in reverse creation order, the forward nodes that lie on a path from some
``x`` to some ``y``. For each it sums the incoming cotangents with ``add``, calls the op's
rule ``opdef.vjp(g, ans, inputs, attrs, needed)`` (which adds nodes through ``F``, tagged
role "backward"), and sums each result down to its input's static shape with ``sum_to`` --
the one place broadcasting is undone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..runtime import get
from .graph import Graph, convert_value
from .ops import cast
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


def _fit(grad: Any, like: Tensor, may_broadcast: bool = True) -> Tensor:
    """``grad`` as a Tensor of ``like``'s dtype, summed down to ``like``'s shape.

    The ``sum_to`` is skipped when no broadcasting can have happened: equal, fully known
    static shapes, or an op with a single data input (nothing to broadcast against) whose
    rule returned a gradient of the input's static shape.
    """
    if not isinstance(grad, Tensor):  # a rule gave a Python number
        grad = call("full_like", [like], {"value": float(grad)})
    fitted: Tensor = grad
    if fitted.dtype is not like.dtype:
        fitted = cast(fitted, like.dtype)
    same = fitted.spec.shape == like.spec.shape
    if not same or (may_broadcast and not like.spec.is_fully_known):
        # the rule's gradient is in the broadcast shape; sum it to the input's
        fitted = call("sum_to", [fitted, like], type_="SumTo")
    return fitted


def _total(parts: list[Tensor]) -> Tensor:
    total = parts[0]
    for part in parts[1:]:
        total = call("add", [total, part], type_="AddN")
    return total


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
    seeds = _as_list(grad_ys) if grad_ys is not None else [None] * len(y_list)
    if len(seeds) != len(y_list):
        raise ValueError(f"gradients: {len(seeds)} grad_ys for {len(y_list)} ys")
    stops = {t.node_id for t in _as_list(stop_gradients)} if stop_gradients is not None else set()
    x_ids = {x.node_id for x in x_list}
    relevant = _relevant(graph, x_ids, [y.node_id for y in y_list], stops)
    partials: dict[int, list[Tensor]] = {}
    with graph.name_scope(name), graph.role("backward"):
        for y, seed in zip(y_list, seeds, strict=True):
            if y.node_id not in relevant:
                continue
            if seed is None:
                g = call("full_like", [y], {"value": 1}, name="grad_ys")
            elif isinstance(seed, Tensor):
                g = seed
            else:
                g = graph.constant(convert_value(seed, y.dtype), name="grad_ys")
            partials.setdefault(y.node_id, []).append(_fit(g, y))
        for nid in sorted(relevant, reverse=True):
            _propagate(graph, nid, relevant, stops, partials)
    return [_total(partials[x.node_id]) if partials.get(x.node_id) else None for x in x_list]


def _propagate(graph: Graph, nid: int, relevant: set[int], stops: set[int],
               partials: dict[int, list[Tensor]]) -> None:
    """Sums node ``nid``'s cotangents and sends its rule's results to its inputs."""
    parts = partials.get(nid)
    if not parts:
        return
    if len(parts) > 1:
        parts[:] = [_total(parts)]
    node = graph.node(nid)
    if node.kind != "call" or nid in stops:
        return
    opdef = get(node.op)
    if not opdef.differentiable:  # argmax, comparisons, stop_gradient...: no gradient
        return
    inputs: Sequence[Tensor] = [graph.tensor(i) for i in node.inputs]
    needed = [i in relevant and opdef.has_gradient_for(k) and inp.dtype.is_floating
              for k, (i, inp) in enumerate(zip(node.inputs, inputs, strict=True))]
    if not any(needed):
        return
    data_inputs = sum(1 for k in range(len(inputs)) if k not in opdef.shape_only)
    with graph.name_scope(f"{node.name}_grad"):
        grads = opdef.vjp(parts[0], graph.tensor(nid), inputs, dict(node.attrs), needed)
        for k, (grad, need) in enumerate(zip(grads, needed, strict=True)):
            if grad is None or not need:
                continue
            fitted = _fit(grad, inputs[k], may_broadcast=data_inputs > 1)
            partials.setdefault(node.inputs[k], []).append(fitted)
