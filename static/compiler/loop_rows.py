"""The rows of a captured tensor that a loop reads at its counter: all of them below its bound.

``dynamic_rnn``'s loop runs ``t`` from 0 while ``t < n`` (``n``: the batch's longest
sentence), reading ``x[t]`` of an input padded to the task's longest. Work outside the loop
over ``x`` need only cover its first ``n`` rows: :func:`bound_of` finds ``n``,
:func:`trimmed` takes those rows (``loop_hoist`` multiplies only them).

When ``x`` is an embedding lookup (``take(E, tokens)``, time-major: a transpose of it),
:func:`gathered_rows` moves the row selection onto the tokens, so only the rows read are
looked up, and the gradient of ``E`` scatters the loop's rows straight to their tokens
(one ``scatter_add`` over ``n`` rows, not a scatter into a zero ``x`` of every row, its
transpose and a scatter of every token):

* ``select(transpose(take(E, tok)))`` -> ``take(E, select(transpose(tok)))``, for a
  ``mask_select`` or a ``take`` of rows;
* ``scatter_add(transpose(scatter_add(V, i, like)), tok, E)`` ->
  ``scatter_add(V, take(transpose(tok), i), E)``;
* an index ``take(s, i)`` of a loop's stack of a counter from 0 by 1 (a gradient loop's
  steps mapped to the forward loop's) is ``i`` itself.

The sums of ``E``'s gradient run in another order (rounding only), as every hoist's.

Example:
    >>> import numpy as np
    >>> import tapeflow.static as tf
    >>> from tapeflow.runtime import Spec
    >>> from tapeflow.static.compiler import compile
    >>> with tf.Graph().as_default() as g:
    ...     tokens = tf.placeholder(tf.int64, [2, 5], name="tokens")
    ...     n = tf.placeholder(tf.int32, [], name="n")
    ...     table, w = tf.constant(np.ones((7, 3))), tf.constant(np.full((3, 4), 0.1))
    ...     x = tf.transpose(tf.nn.embedding_lookup(table, tokens), [1, 0, 2])
    ...     step = lambda t, h: (t + 1, tf.tanh(tf.matmul(tf.gather(x, t), w) + h))
    ...     _, h = tf.while_loop(lambda t, h: t < n, step,
    ...                          [tf.constant(0), tf.zeros([2, 4], tf.float64)])
    ...     (d_table,) = tf.gradients(tf.reduce_sum(h), [table])
    >>> program = compile(g.as_ir([h, d_table]), {tokens.node_id: Spec((2, 5), tf.int64),
    ...                                           n.node_id: Spec((), tf.int32)})
    >>> # x's n rows read, and their tokens in the gradient loop's order (the table's rows)
    >>> [n.shape for n in program.graph.nodes if n.op == "take"]
    [(None, 2, 3), (None, 2)]
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ...graphs.control import Body
from ...graphs.ir import Graph, Node

if TYPE_CHECKING:
    from .loop_hoist import Outer, Specs

__all__ = ["bound_of", "gathered_rows", "trimmed"]


def bound_of(graph: Graph, loop: Node, specs: Specs) -> tuple[int, int] | None:
    """(the body's counter parameter, the outer node of its bound) when the loop's test is
    ``counter < bound`` with ``bound`` captured and the counter starts at a constant >= 0
    and grows by a constant > 0: every row it reads at the counter is below the bound."""
    cond: Body = loop.attrs["cond"]
    test = cond.graph[cond.graph.outputs[0]]
    if test.kind != "call" or test.op != "lt":
        return None
    position = {p: k for k, p in enumerate(cond.params)}
    k, c = (position.get(i) for i in test.inputs)
    n_vars = loop.attrs["n_vars"]
    if k is None or c is None or k >= n_vars or c < n_vars:
        return None
    body: Body = loop.attrs["body"]
    counter, start = body.params[k], graph[loop.inputs[k]]
    step = body.graph[body.graph.outputs[k]]
    if not (start.kind == "const" and start.value is not None and start.value.shape == ()
            and start.value >= 0 and step.kind == "call" and step.op == "add"
            and counter in step.inputs and specs[counter].dtype.is_integer):
        return None
    other = body.graph[step.inputs[1] if step.inputs[0] == counter else step.inputs[0]]
    if other.kind != "const" or other.value is None or not other.value > 0:
        return None
    return counter, loop.inputs[c]


def trimmed(out: Outer, source: int, bound: int, made: dict[int, int]) -> int:
    """``source[:bound]`` (its first rows): ``mask_select(source, arange(T) < bound)``."""
    if source not in made:
        node, limit = out.by_id[source], out.by_id[bound]
        if node.shape is None or not isinstance(node.shape[0], int):
            return source
        count = np.arange(node.shape[0], dtype=limit.dtype.np)
        steps = out.add(Node(out.fresh(), "const", "", (), {}, count.shape, limit.dtype,
                             name=f"{node.name}/loop_hoist/steps", value=count))
        mask = out.call("lt", [steps, bound], {}, node, "mask")
        made[source] = out.call("mask_select", [source, mask], {}, node, "head")
    return made[source]


def gathered_rows(graph: Graph) -> Graph:
    """``graph`` with the row selections of a time-major embedding lookup and its gradient
    moved onto the tokens (module docstring); ``graph`` itself when there are none."""
    from .loop_hoist import Outer, placed  # (loop_hoist imports this module)

    out = Outer(graph)
    users = graph.users()
    replaced: dict[int, Node] = {}
    before: dict[int, list[Node]] = {}
    swapped: dict[int, int] = {}  # (a lookup's tokens, transposed once)
    for n in graph.nodes:
        start = len(out.added)
        if (n.kind != "call" or n.op not in ("mask_select", "take", "scatter_add")
                or n.attrs.get("axis", 0) != 0):
            continue
        if n.op != "scatter_add" and (found := _lookup(graph, n.inputs[0])):
            table, tokens = found
            which = n.inputs[1] if n.op == "mask_select" else _counted(graph, n.inputs[1])
            rows = out.call(n.op, [_swapped(out, tokens, swapped), which], n.attrs, n, "tokens")
            replaced[n.id] = n.with_(op="take", inputs=(table, rows), attrs={"axis": 0})
        elif n.op == "scatter_add" and (inner := _scattered(graph, users, n)) is not None:
            values, index = inner
            rows = out.call("take", [_swapped(out, n.inputs[1], swapped),
                                     _counted(graph, index)], {"axis": 0}, n, "tokens")
            replaced[n.id] = n.with_(inputs=(values, rows, n.inputs[2]))
        before[n.id] = out.added[start:]
    return placed(graph, replaced, {}, before) if replaced else graph


def _swap(graph: Graph, nid: int) -> Node | None:
    """The transpose ``nid`` when it swaps the first two axes only (time-major from
    batch-major), else None."""
    node = graph[nid]
    axes = tuple(node.attrs.get("axes") or ())
    if node.kind != "call" or node.op != "transpose" or len(axes) < 2:
        return None
    return node if axes == (1, 0, *range(2, len(axes))) else None


def _lookup(graph: Graph, nid: int) -> tuple[int, int] | None:
    """(the table, the 2-D tokens) when ``nid`` is ``transpose(take(table, tokens))`` with
    the two token axes swapped."""
    swap = _swap(graph, nid)
    if swap is None:
        return None
    take = graph[swap.inputs[0]]
    if (take.kind != "call" or take.op != "take" or int(take.attrs.get("axis", 0)) != 0
            or len(graph[take.inputs[1]].shape or ()) != 2):
        return None
    return take.inputs[0], take.inputs[1]


def _scattered(graph: Graph, users: dict[int, list[int]], n: Node) -> tuple[int, int] | None:
    """(V, i) when ``n`` is ``scatter_add(transpose(scatter_add(V, i, like)), tokens, E)``
    with 2-D tokens, 1-D ``i``, the transpose swapping the token axes, and the inner two
    (and any no-op ``sum_to`` between them) read by nothing else: dead-code elimination
    drops them."""
    swap = _swap(graph, n.inputs[0])
    if swap is None or users[swap.id] != [n.id] or len(graph[n.inputs[1]].shape or ()) != 2:
        return None
    inner, reader = graph[swap.inputs[0]], swap.id
    while (inner.kind == "call" and inner.op == "sum_to" and users[inner.id] == [reader]
           and inner.id not in graph.outputs and inner.shape == graph[inner.inputs[0]].shape
           and None not in (inner.shape or (None,))):  # (a no-op sum the gradient made)
        inner, reader = graph[inner.inputs[0]], inner.id
    if (inner.kind != "call" or inner.op != "scatter_add" or users[inner.id] != [reader]
            or int(inner.attrs.get("axis", 0)) != 0 or inner.id in graph.outputs
            or swap.id in graph.outputs or len(graph[inner.inputs[1]].shape or ()) != 1):
        return None
    return inner.inputs[0], inner.inputs[1]


def _swapped(out: Outer, tokens: int, made: dict[int, int]) -> int:
    """``transpose(tokens)`` (time-major), made once per tokens."""
    if tokens not in made:
        node = out.by_id[tokens]
        made[tokens] = out.call("transpose", [tokens], {"axes": (1, 0)}, node, "time_major")
    return made[tokens]


def _counted(graph: Graph, nid: int) -> int:
    """``i`` when ``nid`` is ``take(s, i)`` of a loop's stack ``s`` of a counter that starts
    at 0 and steps by 1 (``s[i]`` is ``i``: a gradient loop's saved steps mapped to the
    forward loop's), else ``nid``."""
    node = graph[nid]
    if not (node.kind == "call" and node.op == "take" and node.attrs.get("axis", 0) == 0
            and graph[node.inputs[1]].dtype is node.dtype
            and graph[node.inputs[1]].op == "control_output"):
        return nid  # (``i`` a loop's saved steps too: indices of rows that loop has read)
    stack = graph[node.inputs[0]]
    if not (stack.kind == "call" and stack.op == "control_output" and stack.attrs["loop"]
            and "node" not in stack.attrs):
        return nid
    loop = graph[stack.inputs[0]]
    n_vars, body = loop.attrs["n_vars"], loop.attrs["body"]
    k = stack.attrs["index"] - n_vars
    if not 0 <= k < n_vars:
        return nid
    start, step = graph[loop.inputs[k]], body.graph[body.graph.outputs[k]]
    one = [body.graph[i] for i in step.inputs if i != body.params[k]]
    counts = (start.kind == "const" and start.value is not None and start.value.shape == ()
              and start.value == 0 and step.kind == "call" and step.op == "add"
              and body.params[k] in step.inputs and len(one) == 1 and one[0].kind == "const"
              and one[0].value is not None and one[0].value.shape == () and one[0].value == 1)
    return node.inputs[1] if counts else nid
