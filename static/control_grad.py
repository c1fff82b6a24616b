"""Gradients of ``while`` and ``cond`` nodes, for the static gradient builder.

The sweep (``graphs/sweep.py``) meets a control node's results one by one (each result is
a ``control_output`` of the node); their cotangents are gathered in a :class:`Partial`
keyed by result index, and when the sweep reaches the control node itself its rule runs:

* ``cond``: another ``cond`` on the same predicate, whose branches are the vector-Jacobian
  products of the forward branches (each branch replayed, then ``tf.gradients`` on it);
* ``while``: a reverse loop. The forward loop saves, per iteration, the loop variables the
  iteration started from (one stack per variable, ``graphs/control.py``; it does so only in
  a run that reads them). The reverse loop walks those stacks from the last iteration to
  the first; its body replays the forward body on the saved values and takes its
  vector-Jacobian product, carrying the loop variables' cotangents and summing the
  captured values' ones. The replay is what the graph says; when both loops are compiled
  together, the forward loop also stacks the replayed values the product reads (a tanh's
  output, a mask) and the reverse step reads those instead of computing them again
  (``static/compiler/residuals.py``).

Nested loops and a ``cond`` in a loop work because a replayed body is built of the same
nodes, so ``tf.gradients`` inside the reverse body meets them again.

Example:
    >>> import tapeflow.static as tf
    >>> with tf.Graph().as_default():
    ...     x = tf.placeholder(tf.float64, [], name="x")
    ...     _, y = tf.while_loop(lambda i, y: i < 3, lambda i, y: (i + 1, y * x),
    ...                          [tf.constant(0), tf.constant(1.0, tf.float64)])
    ...     (dx,) = tf.gradients(y, [x])
    ...     print(tf.Session().run(dx, {x: 2.0}))  # d x^3 = 3 x^2
    12.0
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..graphs.control import OUTPUT, Body
from ..graphs.ir import Node
from .graph import Graph, get_default_graph
from .ops import gather, greater_equal, subtract
from .sources import zeros_like
from .tensor import Tensor


@dataclass
class Partial:
    """The cotangents gathered so far for the results of one control node, by index."""

    grads: dict[int, Tensor] = field(default_factory=dict)

    def add(self, other: Partial, adder: Callable[[Tensor, Tensor], Tensor]) -> None:
        for k, g in other.grads.items():
            self.grads[k] = adder(self.grads[k], g) if k in self.grads else g


def replay(graph: Graph, body: Body, args: Sequence[Tensor]) -> list[Tensor]:
    """Adds the nodes of ``body`` to ``graph`` with its parameters bound to ``args``."""
    env: dict[int, Tensor] = dict(zip(body.params, args, strict=True))
    for n in body.graph.nodes:
        if n.id in env:
            continue
        if n.kind == "const":
            env[n.id] = graph.constant(n.value)
        else:
            short = n.name.rsplit("/", 1)[-1].split("_")[0] or None
            env[n.id] = graph.apply(n.opdef, [env[i] for i in n.inputs], dict(n.attrs),
                                    name=short)
    return [env[o] for o in body.graph.outputs]


def _result(graph: Graph, node: Node, index: int) -> Tensor:
    """Result ``index`` of control node ``node`` (CSE merges repeats)."""
    loop = node.op == "while"
    bodies = ((node.attrs["cond"], node.attrs["body"]) if loop
              else (node.attrs["true_body"], node.attrs["false_body"]))
    inputs = [graph.tensor(node.id)] + [graph.tensor(i) for i in node.inputs]
    return graph.apply(OUTPUT, inputs, {"index": index, "bodies": bodies, "loop": loop})


def _cotangent(graph: Graph, node: Node, partial: Partial, k: int) -> Tensor:
    found = partial.grads.get(k)
    return found if found is not None else zeros_like(_result(graph, node, k))


def _vjp_of(body: Body, args: Sequence[Tensor], wrt: Sequence[int], outs: Sequence[int],
            cts: Sequence[Tensor]) -> list[Tensor]:
    """Inside the body being traced: d(outputs ``outs`` of ``body`` on ``args``) / d(args
    ``wrt``) against cotangents ``cts``; zeros where an arg is not connected."""
    from .gradients import gradients  # (gradients imports this module)

    graph = get_default_graph()
    cts = [graph.capture(c) for c in cts]  # type: ignore[attr-defined]
    args = [graph.capture(a) for a in args]  # type: ignore[attr-defined]
    ys = replay(graph, body, args)
    xs = [args[k] for k in wrt]
    grads = gradients([ys[k] for k in outs], xs, grad_ys=list(cts)) if outs else [None] * len(xs)
    return [g if g is not None else zeros_like(x) for g, x in zip(grads, xs, strict=True)]


def _carried(body: Body, partial: Partial, floats: list[int]) -> list[int]:
    """The float loop variables whose cotangent can be nonzero: those of a result that has
    a gradient, and those the body computes them from (a loop variable nobody reads back,
    such as a TensorArray of outputs nobody uses, carries no cotangent)."""
    live = {k for k in floats if k in partial.grads}
    frontier = list(live)
    while frontier:
        for j in body.reads(frontier.pop()):
            if j in floats and j not in live:
                live.add(j)
                frontier.append(j)
    return [k for k in floats if k in live]


def _needed(graph: Graph, body: Body, inputs: Sequence[Tensor], wrt: Sequence[int],
            floats: Sequence[int]) -> set[int]:
    """The loop variables whose per-iteration values the body's VJP reads: the VJP is
    traced once into a scratch graph and walked back from its results (so a TensorArray
    that a loop only writes to is not saved once per iteration)."""
    from .control_flow import BodyGraph

    n = len(body.graph.outputs)
    scratch = BodyGraph(graph, "scratch")
    with scratch.as_default():
        params = [scratch.placeholder(s.dtype, s.shape, f"arg{k}")
                  for k, s in enumerate(body.param_specs[:n])]
        args = params + [scratch.capture(x) for x in inputs[n:]]
        outs = body.output_specs([a.spec for a in args])
        cts = [scratch.placeholder(outs[k].dtype, outs[k].shape, f"ct{k}") for k in floats]
        grads = _vjp_of(body, args, wrt, floats, cts)
    reached: set[int] = set()
    stack = [g.node_id for g in grads]
    while stack:
        nid = stack.pop()
        if nid not in reached:
            reached.add(nid)
            stack.extend(scratch.node(nid).inputs)
    return {k for k, p in enumerate(params) if p.node_id in reached}


def cond_vjp(graph: Graph, node: Node, partial: Partial, relevant: set[int]
             ) -> list[Tensor | None]:
    """The gradient of each input of a ``cond`` node (None for the predicate)."""
    from .control_flow import cond

    operands = [graph.tensor(i) for i in node.inputs[1:]]
    true_body: Body = node.attrs["true_body"]
    outs = [k for k, o in enumerate(true_body.graph.outputs)
            if true_body.graph[o].dtype.is_floating]
    cts = [_cotangent(graph, node, partial, k) for k in outs]
    wrt = [k for k, x in enumerate(operands)
           if x.dtype.is_floating and node.inputs[1 + k] in relevant]
    if not wrt:
        return [None] * len(node.inputs)

    def branch(body: Body) -> Callable[[], list[Tensor]]:
        return lambda: _vjp_of(body, operands, wrt, outs, cts)

    grads = cond(graph.tensor(node.inputs[0]), branch(true_body),
                 branch(node.attrs["false_body"]), name="cond_grad")
    found = dict(zip(wrt, grads if isinstance(grads, (list, tuple)) else [grads], strict=True))
    return [None] + [found.get(k) for k in range(len(operands))]


def while_vjp(graph: Graph, node: Node, partial: Partial, relevant: set[int]
              ) -> list[Tensor | None]:
    """The gradient of each input of a ``while`` node: a reverse loop over its stacks."""
    from .control_flow import while_loop

    n = node.attrs["n_vars"]
    body: Body = node.attrs["body"]
    inputs = [graph.tensor(i) for i in node.inputs]
    floats = _carried(body, partial, [k for k in range(n) if inputs[k].dtype.is_floating])
    wrt = floats + [k for k in range(n, len(inputs))
                    if inputs[k].dtype.is_floating and node.inputs[k] in relevant]
    if not floats or not node.attrs.get("back_prop", True):
        return [None] * len(inputs)
    needed = _needed(graph, body, inputs, wrt, floats)
    stacks = {k: _result(graph, node, n + k) for k in needed}
    count = _result(graph, node, 2 * n)
    cts = [_cotangent(graph, node, partial, k) for k in floats]
    sums = [zeros_like(inputs[k]) for k in wrt[len(floats):]]

    def reverse(t: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        here = get_default_graph()
        # a variable the VJP does not read gets a stand-in (its initial value), and the
        # nodes replayed from it are pruned when this body is compiled
        args = [gather(stacks[k], t) if k in stacks else here.capture(inputs[k])  # type: ignore[attr-defined]
                for k in range(n)]
        args += [here.capture(x) for x in inputs[n:]]  # type: ignore[attr-defined]
        grads = _vjp_of(body, args, wrt, floats, state[:len(floats)])
        carried = grads[:len(floats)]
        summed = [s + g for s, g in zip(state[len(floats):], grads[len(floats):], strict=True)]
        return (subtract(t, 1), *carried, *summed)

    final = while_loop(lambda t, *state: greater_equal(t, 0), reverse,
                       [subtract(count, 1), *cts, *sums], back_prop=False, name="while_grad",
                       return_same_structure=True)
    found = dict(zip(wrt, final[1:], strict=True))
    return [found.get(k) for k in range(len(inputs))]


__all__ = ["Partial", "cond_vjp", "replay", "while_vjp"]
