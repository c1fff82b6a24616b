"""The step rewrites behind the loop runner's shortcuts (``loop_runner.py``).

* :func:`find_sums` / :func:`without_sums`: a loop variable that the body only adds a
  one-row scatter to (``acc + scatter_add(g, i, like)``) is summed in place by the runner;
  the step hands over the row ``g`` and the index ``i`` instead;
* :func:`find_slices` / :func:`with_slices`: a ``take`` of one row of a loop-invariant input
  at a loop variable's index becomes a parameter, the row the runner slices (a view).

Example:
    >>> import tapeflow.static as tf
    >>> from tapeflow.graphs.control import Body
    >>> with tf.Graph().as_default() as g:
    ...     x = tf.placeholder(tf.float64, [4, 2], name="x")
    ...     t = tf.placeholder(tf.int32, [], name="t")
    ...     y = tf.tanh(tf.gather(x, t))
    >>> step = Body(g.as_ir([t + 1, y]), (t.node_id, x.node_id))
    >>> [(s.source, s.index) == (x.node_id, t.node_id) for s in find_slices(step, 1, [0])]
    [True]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ...graphs.control import Body
from ...graphs.ir import Graph, Node, subgraph

__all__ = ["Slice", "find_slices", "find_sums", "scatter_of", "with_slices", "without_sums"]


def find_sums(step: Body, n_vars: int, save: Sequence[int]) -> dict[int, int]:
    """The loop variables of ``step`` (a fused step) that the runner can sum in place:
    variable -> the axis of its scatter. Such a variable is read only by one ``add`` with a
    ``scatter_add`` of a 0-d index into a tensor of its own shape and dtype, that ``add`` is
    its next value and read by nothing else, and the gradient does not save it."""
    graph = step.graph
    users = graph.users()
    params = set(step.params)
    found: dict[int, int] = {}
    for k in range(n_vars):
        param, out = step.params[k], graph[graph.outputs[k]]
        if (k in save or out.kind != "call" or out.op != "add" or users[out.id]
                or graph.outputs.count(out.id) != 1 or param in graph.outputs
                or users[param] != [out.id] or len(out.inputs) != 2):
            continue
        other = graph[out.inputs[1] if out.inputs[0] == param else out.inputs[0]]
        if users[other.id] != [out.id]:
            continue
        other = _through_sum_to(graph, users, other)
        if other.kind != "call" or other.op != "scatter_add":
            continue
        _, index, like = other.inputs
        same = graph[like].shape == graph[param].shape and like in params
        if (same and graph[index].shape == () and graph[param].shape is not None
                and graph[param].dtype is other.dtype is out.dtype):
            found[k] = int(other.attrs.get("axis", 0)) % len(graph[param].shape)
    return found


def _through_sum_to(graph: Graph, users: Mapping[int, list[int]], node: Node) -> Node:
    """The scatter under ``node`` when ``node`` is ``sum_to(scatter, like)`` onto the
    scatter's own ``like`` (the gradient builder's no-op reduction), else ``node``."""
    if node.kind == "call" and node.op == "sum_to":
        inner = graph[node.inputs[0]]
        if (inner.kind == "call" and inner.op == "scatter_add" and users[inner.id] == [node.id]
                and node.inputs[1:] == inner.inputs[2:]):
            return inner
    return node


def scatter_of(graph: Graph, users: Mapping[int, list[int]], out: Node, param: int) -> Node:
    """The scatter that ``out`` (the add of a summed variable) adds to ``param``."""
    other = graph[next(i for i in out.inputs if i != param)]
    return _through_sum_to(graph, users, other)


def without_sums(step: Body, n_vars: int, sums: Mapping[int, int]) -> Body:
    """``step`` giving, instead of the summed variables, each one's row and index: outputs
    (the other variables' next values, the next test, then per summed variable g, i)."""
    graph = step.graph
    outputs = [o for k, o in enumerate(graph.outputs[:n_vars]) if k not in sums]
    outputs.append(graph.outputs[n_vars])
    users = graph.users()
    for k in sums:
        scatter = scatter_of(graph, users, graph[graph.outputs[k]], step.params[k])
        outputs += [scatter.inputs[0], scatter.inputs[1]]
    outputs += graph.outputs[n_vars + 1:]  # (then the values the loop keeps, if any)
    kept = subgraph({n.id: n for n in graph.nodes}, outputs)
    wanted = {n.id for n in kept.nodes} | set(step.params)
    nodes = [n for n in graph.nodes if n.id in wanted]  # (in the step's order)
    return Body(Graph(tuple(nodes), kept.outputs), step.params, step.name)


@dataclass(frozen=True)
class Slice:
    """One row of a loop-invariant input that the runner hands the step as a parameter,
    ``node = source[index]`` (a view), in place of the step's ``take`` of it."""

    node: int
    source: int
    index: int


def find_slices(step: Body, n_vars: int, kept: Sequence[int]) -> list[Slice]:
    """The ``take(x, i, axis=0)`` nodes of ``step`` that read one row of a captured input
    ``x`` (the same every iteration) at a 0-d index ``i`` that is a kept loop variable or
    such a row, as ``dynamic_rnn`` reads its inputs and a reverse loop its saved stacks;
    in the step's order. A row that is a loop variable's next value is left alone (the
    loop's result would be a view of an input)."""
    graph = step.graph
    invariant = set(step.params[n_vars:])
    indices = {step.params[k] for k in kept}
    passed = set(graph.outputs[:len(kept)])
    found = []
    for n in graph.nodes:
        if (n.kind == "call" and n.op == "take" and int(n.attrs.get("axis", 0)) == 0
                and n.inputs[0] in invariant and n.inputs[1] in indices
                and graph[n.inputs[1]].shape == () and graph[n.inputs[1]].dtype.is_integer
                and n.id not in passed):
            found.append(Slice(n.id, *n.inputs))
            indices.add(n.id)
    return found


def with_slices(step: Body, slices: Sequence[Slice]) -> Body:
    """``step`` with each slice's ``take`` turned into a parameter (after the others)."""
    rows = {s.node for s in slices}
    nodes = tuple(n.with_(kind="placeholder", op="", inputs=(), attrs={}) if n.id in rows
                  else n for n in step.graph.nodes)
    return Body(Graph(nodes, step.graph.outputs),
                (*step.params, *(s.node for s in slices)), step.name)
