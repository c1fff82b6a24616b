"""Loop hoisting: the work of a loop that does not depend on the iteration order runs once,
outside the loop, as a few big products (what ``dot_merge`` does for unrolled graphs).

A ``while`` loop's body runs per iteration; an RNN's body computes, per time step, terms
that need nothing from the previous step. Run one at a time they are tiny products, each
paying a kernel call (1-2 us) for a few microseconds of arithmetic. Two rewrites, run on
the outer graph after ``save_residuals`` and before the loops get their runners
(``loops.attach_runners``):

* **forward** (:func:`hoist_forward`): a product ``c[i] @ W`` of a row of a captured tensor
  at a loop variable's index ``i`` (``dynamic_rnn``'s ``x[t] @ W_ih``) by a captured
  matrix is computed for every row at once in the outer graph (``[T*B, E] @ [E, H]``, one
  GEMM) and handed to the loop as one more captured tensor, of which the body reads row
  ``i`` (a view its runner slices). When the test is ``i < bound``, only the rows below
  the bound are multiplied (a batch of short sentences in a long padded feed). A captured
  bias added to the row (or, reassociated, to the step's sum) is added to the stacked
  product once (``loop_bias.py``);
* **reverse** (:func:`.loop_sums.hoist_reverse`): a loop variable that the body only adds
  a per-step term to (a gradient loop's ``dW += a_t^T g_t``, ``db += sum(g_t)``, ``dx +=
  scatter(g_t @ W^T, t)``) leaves the loop, which stacks ``g_t`` instead; the outer graph
  sums every step with one product over the stack.

Each rewrite changes the order of the floating-point sums (as ``dot_merge`` does): results
equal to rounding, not bit for bit, so ``CompileOptions(exact=True)`` leaves loops alone.

Example:
    >>> import numpy as np
    >>> import tapeflow.static as tf
    >>> from tapeflow.runtime import Spec
    >>> from tapeflow.static.compiler import compile
    >>> with tf.Graph().as_default() as g:
    ...     x = tf.placeholder(tf.float64, [5, 2, 3], name="x")
    ...     w = tf.constant(np.full((3, 4), 0.1))
    ...     step = lambda t, h: (t + 1, tf.tanh(tf.matmul(tf.gather(x, t), w) + h))
    ...     _, h = tf.while_loop(lambda t, h: t < 5, step,
    ...                          [tf.constant(0), tf.zeros([2, 4], tf.float64)])
    ...     (dx,) = tf.gradients(tf.reduce_sum(h), [x])
    >>> program = compile(g.as_ir([h, dx]), {x.node_id: Spec((5, 2, 3), tf.float64)})
    >>> outside = [n.op for n in program.graph.nodes if "loop_hoist" in n.name]
    >>> outside.count("matmul"), outside.count("scatter_add")  # (x[t] @ w; dx's rows)
    (2, 1)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ...graphs.control import OUTPUT, Body
from ...graphs.ir import Graph, Node
from ...runtime import ShapeError, Spec
from ...runtime import get as get_op
from .loop_bias import bias_of, reassociate
from .loop_rows import bound_of, gathered_rows, trimmed
from .rewrite import stable_toposort

__all__ = ["MAX_STEP_ELEMENTS", "Outer", "body_specs", "concrete", "each_loop", "hoist_forward",
           "hoist_loops", "hoisted", "index_rows", "open_loops", "placed", "rebound",
           "results_of", "small"]

Specs = dict[int, Spec]

#: The most elements a hoisted value may have per iteration (a row of a product, a step's
#: stacked gradient operand). A hoist saves the calls of the per-step work (about 1 us
#: each) and pays for passes over the stacked value outside the loop; on one core the
#: passes cost as much as the calls saved at about 1,000 elements a step (bench_rnn_modes,
#: float32, interleaved: the Elman's 16 x 32 per step gained 4 ms an epoch, the LSTM's
#: 16 x 128 gate gradient lost 8), so larger values stay in the loop.
MAX_STEP_ELEMENTS = 1024


def small(spec: Spec) -> bool:
    """Whether a value of ``spec`` is small enough per iteration to hoist."""
    shape = spec.shape
    if shape is None or not all(isinstance(d, int) for d in shape):
        return False  # (an unknown size: kept in the loop)
    return math.prod(shape) <= MAX_STEP_ELEMENTS


def hoist_loops(graph: Graph) -> Graph:
    """``graph`` with each loop's time-parallel work hoisted out (module docstring)."""
    from .loop_sums import hoist_reverse  # (loop_sums builds on this module's helpers)

    return gathered_rows(hoist_reverse(hoist_forward(graph)))


class Outer:
    """New nodes of the outer graph: fresh ids, shapes and dtypes from the registry."""

    def __init__(self, graph: Graph) -> None:
        self.by_id: dict[int, Node] = {n.id: n for n in graph.nodes}
        self.next_id = max(self.by_id, default=-1) + 1
        self.added: list[Node] = []

    def add(self, node: Node) -> int:
        self.by_id[node.id] = node
        self.added.append(node)
        return node.id

    def fresh(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def call(self, op: str, inputs: Sequence[int], attrs: Mapping[str, Any], like: Node,
             suffix: str) -> int:
        specs = [Spec(self.by_id[i].shape, self.by_id[i].dtype) for i in inputs]
        spec = get_op(op).infer(*specs, **attrs)
        return self.add(Node(self.fresh(), "call", op, tuple(inputs), dict(attrs), spec.shape,
                             spec.dtype, name=f"{like.name or like.op}/loop_hoist/{suffix}",
                             site=like.site, role=like.role))

    def result(self, loop: Node, index: int, node: int | None = None) -> int:
        """A ``control_output`` of ``loop``: result ``index`` (a body node's stack)."""
        attrs: dict[str, Any] = {"index": index, "bodies": (loop.attrs["cond"],
                                                            loop.attrs["body"]), "loop": True}
        if node is not None:
            attrs["node"] = node
        specs = [Spec(self.by_id[i].shape, self.by_id[i].dtype) for i in loop.inputs]
        spec = OUTPUT.infer(Spec(None, loop.dtype), *specs, **attrs)
        return self.add(Node(self.fresh(), "call", OUTPUT.name, (loop.id, *loop.inputs), attrs,
                             spec.shape, spec.dtype, name=f"{loop.name}/loop_hoist/stack",
                             site=loop.site, role=loop.role))


def body_specs(graph: Graph, loop: Node) -> Specs | None:
    """Every body node's spec when the loop's inputs have their (outer) specs, a stack of
    another loop's variable as :func:`_stack_spec` sharpens it; None when a shape rule
    refuses them."""
    body: Body = loop.attrs["body"]
    specs = [_stack_spec(graph, i) for i in loop.inputs]
    ids = [n.id for n in body.graph.nodes]
    try:
        return dict(zip(ids, body.specs_of(specs, ids), strict=True))
    except (ShapeError, ValueError, TypeError):
        return None


def _stack_spec(graph: Graph, nid: int) -> Spec:
    """The spec of ``nid``; for the stack of a loop variable whose shape every iteration
    keeps (its next value's spec is its start value's, both concrete), the stack of that
    shape, where the result's own spec has the variable's relaxed shape invariant (a
    reverse loop reading ``h_t`` of a forward loop whose ``h`` may change shape)."""
    node = graph[nid]
    spec = Spec(node.shape, node.dtype)
    if not (node.kind == "call" and node.op == "control_output" and node.attrs["loop"]):
        return spec
    loop = graph[node.inputs[0]]
    n_vars, k = loop.attrs["n_vars"], node.attrs["index"] - loop.attrs["n_vars"]
    if not 0 <= k < n_vars or "node" in node.attrs or loop.attrs.get("runners") is not None:
        return spec
    start = Spec(graph[loop.inputs[k]].shape, graph[loop.inputs[k]].dtype)
    try:
        after = loop.attrs["body"].output_specs(
            [Spec(graph[i].shape, graph[i].dtype) for i in loop.inputs])[k]
    except (ShapeError, ValueError, TypeError):
        return spec
    if after == start and concrete(start):
        return Spec((None, *start.shape), start.dtype)  # type: ignore[misc]
    return spec


def concrete(spec: Spec) -> bool:
    return spec.shape is not None and all(isinstance(d, int) for d in spec.shape)


def open_loops(graph: Graph) -> list[Node]:
    return [n for n in graph.nodes if n.kind == "call" and n.op == "while"
            and n.attrs.get("runners") is None]


def results_of(graph: Graph, loop: Node) -> list[Node]:
    return [n for n in graph.nodes if n.kind == "call" and n.op == "control_output"
            and n.inputs[0] == loop.id]


def placed(graph: Graph, replaced: Mapping[int, Node], after: Mapping[int, list[Node]],
            before: Mapping[int, list[Node]]) -> Graph:
    """The old nodes (``replaced`` by id) with new ones placed before or after old ones."""
    nodes: list[Node] = []
    for n in graph.nodes:
        nodes += before.get(n.id, [])
        nodes.append(replaced.get(n.id, n))
        nodes += after.get(n.id, [])
    order = stable_toposort(nodes)
    assert order is not None  # (new nodes read only what comes before them)
    return Graph(tuple(order), graph.outputs)


def rebound(results: list[Node], loop: Node, remap: Mapping[int, int] | None = None
             ) -> dict[int, Node]:
    """The loop's ``control_output`` nodes made to read the new ``loop`` (its inputs and
    bodies), each result index mapped by ``remap``."""
    bodies = (loop.attrs["cond"], loop.attrs["body"])
    found = {}
    for r in results:
        index = r.attrs["index"] if remap is None else remap[r.attrs["index"]]
        found[r.id] = r.with_(inputs=(loop.id, *loop.inputs),
                              attrs={**r.attrs, "index": index, "bodies": bodies})
    return found


# ---- forward: time-parallel nodes computed for every row at once ---------------------------


def hoist_forward(graph: Graph) -> Graph:
    """Each loop's time-parallel nodes that the rest of its body reads, computed for every
    row in the outer graph, the body reading row ``i`` of the result (module docstring)."""
    return each_loop(graph, _forward_one, before=True)


def each_loop(graph: Graph, rewrite: Any, before: bool) -> Graph:
    """``graph`` with ``rewrite(graph, loop, out)`` applied to each loop without runners:
    it returns the nodes that replace the loop and its results (or None: unchanged) and
    adds new outer nodes to ``out``, placed just ``before`` the loop or just after it."""
    out = Outer(graph)
    replaced: dict[int, Node] = {}
    made: dict[int, list[Node]] = {}
    for loop in open_loops(graph):
        start = len(out.added)
        found = rewrite(graph, loop, out)
        if found is not None:
            replaced.update(found)
            made[loop.id] = out.added[start:]
    if not replaced:
        return graph
    return placed(graph, replaced, {} if before else made, made if before else {})


def _forward_one(graph: Graph, loop: Node, out: Outer) -> dict[int, Node] | None:
    """The rewritten loop and its results, the new outer nodes added to ``out``; None when
    nothing in the body is worth hoisting."""
    specs = body_specs(graph, loop)
    if specs is None:
        return None
    n_vars = loop.attrs["n_vars"]
    body: Body = reassociate(loop.attrs["body"], specs, n_vars)
    loop = loop.with_(attrs={**loop.attrs, "body": body})
    outer = {p: loop.inputs[k] for k, p in enumerate(body.params) if k >= n_vars}
    rows, stacked = _parallel(graph, loop, specs, outer, out)
    keep = tuple(loop.attrs.get("keep", ()))
    read = _read_by(body, rows, keep)
    frontier = [n.id for n in body.graph.nodes if n.id in stacked and n.op != "take"
                and n.id in read and n.id not in body.graph.outputs]  # (see find_slices)
    if not frontier:
        return None
    nodes = {n.id: n for n in body.graph.nodes}
    cond = loop.attrs["cond"]
    # Each hoisted node becomes the row of a new parameter, read at its loop variable's
    # index (or a row at one), as residuals.py's: the runner slices it (find_slices), so no
    # program loads the parameter, whose id is below all others (``subgraph`` sorts by id).
    low = min(nodes) - 1
    top = max(n.id for n in cond.graph.nodes) + 1
    params, cond_params, cond_nodes = list(body.params), [], list(cond.graph.nodes)
    for j, f in enumerate(frontier):
        node = nodes[f]
        shape = None if node.shape is None else (None, *node.shape)
        param = Node(low - j, "placeholder", "", (), {}, shape, node.dtype,
                     name=f"{node.name}/hoisted", site=node.site, role=node.role)
        nodes[param.id] = param
        nodes[f] = node.with_(op="take", inputs=(param.id, rows[f]), attrs={"axis": 0})
        params.append(param.id)
        cond_nodes.append(param.with_(id=top + j))
        cond_params.append(top + j)
    order = [nodes[p] for p in params[len(body.params):]] + [nodes[n.id]
                                                            for n in body.graph.nodes]
    outputs = body.graph.outputs
    pruned = Body(Graph(tuple(order), (*outputs, *keep)), tuple(params), body.name).keeping(
        range(len(params)), range(len(outputs) + len(keep)))  # (the rows read no more)
    new_loop = loop.with_(inputs=(*loop.inputs, *(stacked[f] for f in frontier)), attrs={
        **loop.attrs,
        "body": Body(Graph(pruned.graph.nodes, outputs), pruned.params, body.name),
        "cond": Body(Graph(tuple(cond_nodes), cond.graph.outputs),
                     (*cond.params, *cond_params), cond.name)})
    return {loop.id: new_loop, **rebound(results_of(graph, loop), new_loop)}


def _read_by(body: Body, rows: Mapping[int, Any], keep: Sequence[int]) -> set[int]:
    """The time-parallel nodes (``rows``) whose values the rest of the body reads: an output,
    a kept node, or data (not only the shape) that a node outside ``rows`` needs to give
    an output or a kept value (a reverse body's replay that only lends its shape is none)."""
    live = set(_data_of(body, (*body.graph.outputs, *keep)))
    found = {o for o in (*body.graph.outputs, *keep) if o in rows}
    for n in body.graph.nodes:
        if n.kind == "call" and n.id in live and n.id not in rows:
            shape_only = n.opdef.shape_only
            found.update(i for k, i in enumerate(n.inputs) if i in rows and k not in shape_only)
    return found


def _data_of(body: Body, roots: Sequence[int]) -> set[int]:
    """The body nodes whose values ``roots`` are computed from (shape-only reads aside)."""
    seen: set[int] = set()
    stack = list(roots)
    while stack:
        nid = stack.pop()
        if nid not in seen:
            seen.add(nid)
            n = body.graph[nid]
            skip = n.opdef.shape_only if n.kind == "call" else ()
            stack.extend(i for k, i in enumerate(n.inputs) if k not in skip)
    return seen


def _parallel(graph: Graph, loop: Node, specs: Specs, outer: Mapping[int, int], out: Outer
              ) -> tuple[dict[int, int], dict[int, int]]:
    """The time-parallel nodes of the loop's body: node -> its row index node, and node ->
    the outer node holding its every row: rows of captured tensors (trimmed to the rows the
    loop can read, see :func:`.loop_rows.bound_of`), products of such a row by a captured
    matrix and such a product plus a captured bias (:func:`.loop_bias.bias_of`)."""
    body: Body = loop.attrs["body"]
    keep = set(loop.attrs.get("keep", ()))
    bound = bound_of(graph, loop, specs)
    indices = index_rows(body, specs, loop.attrs["n_vars"], outer)  # (what the runner slices)
    rows: dict[int, int] = {}
    stacked: dict[int, int] = {}
    cut: dict[int, int] = {}
    # rows of products, which a captured bias may join: node -> (the stacked product, the
    # sum of the biases it has joined): biases are summed first, one add of the stack
    products: dict[int, tuple[int, int | None]] = {}
    for node in body.graph.nodes:
        if node.kind != "call" or node.id in keep or not concrete(specs[node.id]):
            continue
        a = node.inputs[0] if node.inputs else None
        if node.op == "take" and int(node.attrs.get("axis", 0)) == 0 and a in outer:
            if node.inputs[1] in indices and specs[a].shape:
                rows[node.id] = node.inputs[1]
                stacked[node.id] = (trimmed(out, outer[a], bound[1], cut)
                                    if bound is not None and node.inputs[1] == bound[0]
                                    else outer[a])
        elif (node.op == "matmul" and a in rows and node.inputs[1] in outer
              and not node.attrs.get("transpose_a") and len(specs[a].shape or ()) == 2
              and len(specs[node.inputs[1]].shape or ()) == 2 and small(specs[node.id])):
            flat = out.call("reshape", [stacked[a]], {"shape": (-1, specs[a].shape[1])},
                            node, "rows")
            product = out.call("matmul", [flat, outer[node.inputs[1]]], node.attrs, node,
                               "matmul")
            rows[node.id] = rows[a]
            stacked[node.id] = out.call("reshape", [product], {
                "shape": (-1, *specs[node.id].shape)}, node, "steps")  # type: ignore[misc]
            products[node.id] = (stacked[node.id], None)
        elif (pair := bias_of(node, products, outer, specs)) is not None:
            rows[node.id] = rows[pair[0]]
            base, bias = products[pair[0]]
            bias = outer[pair[1]] if bias is None else out.call(
                "add", [bias, outer[pair[1]]], {}, node, "biases")
            products[node.id] = (base, bias)
            stacked[node.id] = out.call("add", [base, bias], {}, node, "bias")
    return rows, stacked


def index_rows(body: Body, specs: Specs, n_vars: int, outer: Mapping[int, int]
                ) -> dict[int, tuple[Any, ...]]:
    """The body's 0-d integer loop variables and the rows of captured tensors read at one
    of them (or at such a row): node -> ("var", k) or ("take", captured, index node)."""
    found: dict[int, tuple[Any, ...]] = {}
    for k, p in enumerate(body.params[:n_vars]):
        if specs[p].shape == () and specs[p].dtype.is_integer:
            found[p] = ("var", k)
    for n in body.graph.nodes:
        if (n.kind == "call" and n.op == "take" and int(n.attrs.get("axis", 0)) == 0
                and n.inputs[0] in outer and n.inputs[1] in found
                and specs[n.inputs[1]].shape == ()):
            found[n.id] = ("take", *n.inputs)
    return found


def hoisted(graph: Graph, options: Any) -> Graph:
    """:func:`hoist_loops` under ``options.loop_hoist`` (with ``optimize``, not ``exact``),
    else ``graph`` itself. ``loops.attach_runners`` calls it after ``save_residuals``,
    which matches the bodies as they were built."""
    if not (options.loop_hoist and options.optimize and not options.exact):
        return graph
    return hoist_loops(graph)
