"""Errors of the loop runner's own work, named after the body node whose work it does.

The runner does two things a kernel of the body did before (``loop_runner.py``): it slices
the row a ``take`` read (``find_slices``) and adds the row a ``scatter_add`` scattered
(``find_sums``). When one of them fails (an index out of range, a row of the wrong
shape), numpy's message names neither the node nor the tensor: :func:`located` works out
which slice or row it was from the loop's state at the failure and raises what the
executor raises for a failing kernel, an ``ExecutionError`` naming the body node, its op,
the shapes and the index, and where the user built it.

Example:
    >>> import numpy as np
    >>> import tapeflow.static as tf
    >>> from tapeflow.runtime import Spec
    >>> from tapeflow.static.compiler import compile
    >>> with tf.Graph().as_default() as g:
    ...     x = tf.placeholder(tf.float64, [3, 2], name="x")
    ...     _, y = tf.while_loop(lambda t, y: t < 4, lambda t, y: (t + 1, y + tf.gather(x, t)),
    ...                          [tf.constant(0), tf.zeros([2], tf.float64)])
    >>> program = compile(g.as_ir([y]), {x.node_id: Spec((3, 2), tf.float64)})
    >>> try:
    ...     program.run({x.node_id: np.ones((3, 2))}, {})
    ... except tf.errors.InvalidArgumentError as exc:
    ...     message = str(exc)
    >>> print(message[message.index("take"):message.index(": a row")])
    take: index 3 out of range for dimension 0 with size 3
    >>> print(message[message.index("a row"):message.index(", read at")])
    a row of 'body/captured/x' of shape (3, 2)
    >>> print(message.splitlines()[1].split("  # ")[1])  # (the gather the runner stands for)
    body/GatherV2 in the loop body 'body' (created at <doctest ...>...)
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any

from ...graphs.ir import Graph, Node, format_shape
from .executor import ExecutionError
from .loop_steps import scatter_of

__all__ = ["located"]


def located(exc: Exception, runner: Any, feeds: Mapping[int, Any],
            sums: Mapping[int, Any]) -> Exception:
    """The error to raise for ``exc``, raised while ``runner`` ran its loop on ``feeds``
    (which hold the values of the failing iteration) and summed into ``sums`` (variable ->
    its accumulator, rows first): an ExecutionError naming the slice's ``take`` or the
    row's ``scatter_add``, else ``exc`` itself."""
    found = _slice_error(runner, feeds)
    if found is None:
        out = _local(exc.__traceback__, "out")
        found = None if out is None else _row_error(runner, out, sums)
    if found is None:
        return exc
    node, what = found
    site = f" (created at {node.site})" if node.site else ""
    return ExecutionError(f"{type(exc).__name__}: {what}\nWhile executing {node.format()} in "
                          f"the loop body '{runner.step.body.name}'{site}", op_name=node.name)


def _slice_error(runner: Any, feeds: Mapping[int, Any]) -> tuple[Node, str] | None:
    """(the node, what went wrong) for the first slice whose index is out of range."""
    graph: Graph = runner.step.body.graph
    for s in runner.slices:
        source, index = feeds.get(s.source), feeds.get(s.index)
        if source is None or index is None or not getattr(source, "ndim", 0):
            continue
        i, size = int(index), source.shape[0]
        if not -size <= i < size:
            node = graph[s.node].with_(kind="call", op="take", inputs=(s.source, s.index),
                                       attrs={"axis": 0})
            return node, (f"take: index {i} out of range for dimension 0 with size {size}: "
                          f"a row of '{_name(graph[s.source])}' of shape "
                          f"{format_shape(tuple(source.shape))}, read at "
                          f"'{_name(graph[s.index])}'")
    return None


def _row_error(runner: Any, out: Any, sums: Mapping[int, Any]) -> tuple[Node, str] | None:
    """(the node, what went wrong) for the first summed row that does not fit its sum."""
    at = len(runner.kept) - (runner.counter is not None) + (runner.counter is None)
    for j, (k, axis) in enumerate(runner.sums.items()):
        row, index, acc = out[at + 2 * j], out[at + 2 * j + 1], sums[k]
        shape = list(acc.shape[1:])
        shape.insert(axis, acc.shape[0])  # (the sum's shape as the user has it)
        what = (f"a row of shape {format_shape(tuple(row.shape))} added to a sum of shape "
                f"{format_shape(tuple(shape))} along axis {axis}")
        if tuple(row.shape) != tuple(acc.shape[1:]):
            return _scatter_node(runner, k), f"scatter_add: {what}"
        size = acc.shape[0]
        if not -size <= int(index) < size:
            return _scatter_node(runner, k), (f"scatter_add: index {int(index)} out of range "
                                              f"for dimension {axis} with size {size}: {what}")
    return None


def _scatter_node(runner: Any, k: int) -> Node:
    """The ``scatter_add`` that loop variable ``k``'s sum stands for (its ``add`` when the
    loop's body is not at hand)."""
    step = runner.step.body
    body = runner.body
    if body is not None:
        graph = body.graph
        add = graph[graph.outputs[k]]
        return scatter_of(graph, graph.users(), add, body.params[k])
    return step.graph[step.params[k]]


def _local(tb: TracebackType | None, name: str) -> Any:
    """The local ``name`` of the innermost frame of the runner's loops along ``tb`` (the
    generated loop's, or ``LoopRunner._iterate``'s first iteration)."""
    found = None
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_filename.startswith("<tapeflow loop") or code.co_name == "_iterate":
            found = tb.tb_frame.f_locals.get(name, found)
        tb = tb.tb_next
    return found


def _name(node: Node) -> str:
    return node.name or f"%{node.id}"
