"""Structured control flow in the IR: a ``while`` node and a ``cond`` node that own their bodies.

As in XLA's ``While``/``Conditional`` and JAX's ``while_p``/``cond_p`` (not TF1's
Enter/Exit/Merge/Switch frames), one node stands for the whole loop. Its attributes hold
:class:`Body` graphs, each a complete ``Graph`` whose parameters are placeholders:

* ``while(*loop_vars, *captured; cond, body, n_vars)``: ``cond`` and ``body`` both take
  every input (the loop variables, then the captured outer values) and give one boolean
  scalar (``cond``) or the next loop variables (``body``);
* ``cond(pred, *operands; true_body, false_body)``: both branches take the operands and
  give outputs of the same count and dtypes.

A node is one value, so a control node's value is the tuple of its results, and each
result is a ``control_output(ctrl, *ctrl_inputs; index, bodies, loop)`` view of it. The
extra inputs are read for their shape only: a result's shape is inferred from the body and
the specs of the inputs, so it becomes concrete when the outer graph is specialised.

The kernels here run a body with a plain node-by-node evaluator; the compiler passes
``runners`` (one compiled program per body, see ``static/compiler/loops.py``) instead.
The loop is a Python ``while``: 10,000 iterations need no recursion.

Example:
    >>> import numpy as np
    >>> from tapeflow.graphs.ir import Graph, Node
    >>> from tapeflow.runtime import dtypes
    >>> f64, b = dtypes.float64, dtypes.bool_
    >>> x = Node(0, "placeholder", "", (), {}, (), f64)
    >>> lim = Node(1, "const", "", (), {}, (), f64, value=np.float64(10.0))
    >>> cond = Body(Graph((x, lim, Node(2, "call", "lt", (0, 1), {}, (), b)), (2,)), (0,))
    >>> two = Node(1, "const", "", (), {}, (), f64, value=np.float64(2.0))
    >>> body = Body(Graph((x, two, Node(2, "call", "mul", (0, 1), {}, (), f64)), (2,)), (0,))
    >>> WHILE.kernel(np, np.float64(1.0), cond=cond, body=body, n_vars=1)
    (array(16.),)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..runtime import dtypes as dt
from ..runtime.registry import OpDef, ShapeError, Spec, format_shape
from .ir import BODY_CHECKS, CONTROL_OPS, Graph, IRError, subgraph, verify

Runner = Callable[[Sequence[Any]], list[Any]]


@dataclass(frozen=True, eq=False)
class Body:
    """A body graph of a control node: ``params`` are its placeholders, in input order.

    Hashable by identity (a node's attributes must be), so CSE merges two control nodes
    only when they hold the very same bodies.
    """

    graph: Graph
    params: tuple[int, ...]
    name: str = "body"

    def __repr__(self) -> str:
        return f"<body '{self.name}': {len(self.params)} inputs, {len(self.graph)} nodes>"

    @property
    def param_specs(self) -> list[Spec]:
        return [Spec(self.graph[p].shape, self.graph[p].dtype) for p in self.params]

    def output_specs(self, specs: Sequence[Spec]) -> list[Spec]:
        """The specs of the body's outputs when its parameters have ``specs``."""
        return self.specs_of(specs, self.graph.outputs)

    def specs_of(self, specs: Sequence[Spec], ids: Sequence[int]) -> list[Spec]:
        """The specs of the body's nodes ``ids`` when its parameters have ``specs``."""
        known: dict[int, Spec] = dict(zip(self.params, specs, strict=True))
        for n in self.graph.nodes:
            if n.id in known:
                continue
            if n.kind == "call":
                inputs = [known[i] for i in n.inputs]
                try:
                    known[n.id] = n.opdef.infer(*inputs, **n.attrs)
                except ShapeError as exc:  # (name the body's node: the caller names the loop)
                    raise ShapeError(f"{exc} (node '{n.name}' of body '{self.name}' with input "
                                     f"shapes {', '.join(format_shape(s.shape) for s in inputs)}"
                                     f"{f', built at {n.site}' if n.site else ''})") from None
            else:
                known[n.id] = Spec(n.shape, n.dtype)
        return [known[o] for o in ids]

    def reads(self, output: int) -> set[int]:
        """The positions of the parameters that output ``output`` is computed from."""
        position = {p: k for k, p in enumerate(self.params)}
        found: set[int] = set()
        stack, seen = [self.graph.outputs[output]], set()
        while stack:
            nid = stack.pop()
            if nid not in seen:
                seen.add(nid)
                if nid in position:
                    found.add(position[nid])
                stack.extend(self.graph[nid].inputs)
        return found

    def keeping(self, params: Sequence[int], outputs: Sequence[int]) -> Body:
        """This body with only the parameters and outputs at these positions (and the
        nodes those outputs need)."""
        kept = [self.params[k] for k in params]
        graph = subgraph({n.id: n for n in self.graph.nodes},
                         [self.graph.outputs[k] for k in outputs])
        wanted = {n.id for n in graph.nodes} | set(kept)
        nodes = [n for n in self.graph.nodes if n.id in wanted]  # (in the body's order)
        return Body(Graph(tuple(nodes), graph.outputs), tuple(kept), self.name)

    def evaluate(self, xp: Any, arrays: Sequence[Any], extra: Sequence[int] = ()) -> list[Any]:
        """Runs the body node by node on ``arrays`` (the uncompiled runner): its outputs,
        then the values of the nodes ``extra``."""
        env: dict[int, Any] = dict(zip(self.params, arrays, strict=True))
        for n in self.graph.nodes:
            if n.id in env:
                continue
            if n.kind == "call":
                env[n.id] = xp.asarray(n.opdef.kernel(xp, *[env[i] for i in n.inputs],
                                                      **n.attrs))
            elif n.kind == "const":
                env[n.id] = xp.asarray(n.value)
            else:
                raise IRError(f"body '{self.name}': a {n.kind} node (%{n.id}) in a body")
        return [env[o] for o in (*self.graph.outputs, *extra)]


def _runner(body: Body, xp: Any, given: Runner | None) -> Runner:
    return given if given is not None else (lambda arrays: body.evaluate(xp, arrays))


def _own(xp: Any, value: Any, inputs: Sequence[Any]) -> Any:
    # a loop that ran zero times, or a body that passes a value through, hands back an input
    # array; the caller may write into a result, never into its inputs
    for a in inputs:
        if hasattr(a, "shape") and xp.may_share_memory(value, a):
            return xp.array(value, copy=True)
    return value


def while_kernel(xp: Any, *args: Any, cond: Body, body: Body, n_vars: int,
                 maximum_iterations: int | None = None, back_prop: bool = True,
                 save: tuple[int, ...] | None = None, keep: tuple[int, ...] = (),
                 runners: tuple[Runner, Runner] | None = None, loop: Any = None
                 ) -> tuple[Any, ...]:
    """Runs ``body`` while ``cond`` holds (at most ``maximum_iterations`` times).

    ``runners`` (from the compiler): ``cond``'s program, and the program of
    :func:`fused_step`, which runs the body and the next test in one go.

    Returns the loop variables; with ``save`` (a gradient reads them), then per loop
    variable the stack of the values each iteration started from (None for a variable not
    in ``save``: its gradient needs none), and the iteration count; then per node of
    ``body`` in ``keep`` (values its reverse loop reads, ``static/compiler/residuals.py``)
    the stack of its values, one per iteration. ``loop`` (from the compiler,
    ``static/compiler/loop_runner.py``) runs the whole loop instead.
    """
    if loop is not None:
        return loop(xp, args, maximum_iterations, save)  # type: ignore[no-any-return]
    run_cond = _runner(cond, xp, runners[0] if runners else None)
    if runners and not keep:
        run_step = runners[1]
    else:
        def run_step(arrays: Sequence[Any]) -> list[Any]:
            found = body.evaluate(xp, arrays, keep)
            after = found[:n_vars]
            return after + run_cond(after + list(arrays[n_vars:])) + found[n_vars:]
    values, captured = list(args[:n_vars]), list(args[n_vars:])
    saved: dict[int, list[Any]] = {k: [] for k in save or ()}
    kept: list[list[Any]] = [[] for _ in keep]
    count = 0
    test = bool(run_cond(values + captured)[0])
    while test and (maximum_iterations is None or count < maximum_iterations):
        for k, stack in saved.items():
            stack.append(values[k])
        out = run_step(values + captured)
        values, test = out[:n_vars], bool(out[n_vars])
        for stack, value in zip(kept, out[n_vars + 1:], strict=True):
            stack.append(value)
        count += 1
    results = tuple(_own(xp, v, args) for v in values)
    if save is None:
        return results
    stacks = tuple(stacked(xp, saved[k], args[k]) if k in saved else None
                   for k in range(n_vars))
    return (*results, *stacks, xp.asarray(count, dtype=xp.int32),
            *residuals(xp, body, args, keep, kept))


def residuals(xp: Any, body: Body, args: Sequence[Any], keep: Sequence[int],
              kept: Sequence[list[Any]]) -> tuple[Any, ...]:
    """The stacks of the ``keep`` nodes' values; a loop that ran no iteration gives empty
    stacks of the shapes the nodes would have had."""
    if not keep or kept[0]:
        return tuple(xp.stack(values) for values in kept)
    specs = body.specs_of([Spec(tuple(xp.shape(a)), dt.as_dtype(xp.asarray(a).dtype))
                           for a in args], keep)
    return tuple(xp.empty((0, *(s.shape or ())), s.dtype.np) for s in specs)


def fused_step(cond: Body, body: Body) -> Body:
    """One loop iteration as one graph: ``body``, then ``cond`` on its results; outputs the
    next loop variables and the next test (one program run per iteration, not two)."""
    n_vars = len(body.graph.outputs)
    nodes = list(body.graph.nodes)
    next_id = max(n.id for n in nodes) + 1
    renamed = {p: body.graph.outputs[k] if k < n_vars else body.params[k]
               for k, p in enumerate(cond.params)}
    for n in cond.graph.nodes:
        if n.id not in renamed:
            nodes.append(n.with_(id=next_id, inputs=tuple(renamed[i] for i in n.inputs)))
            renamed[n.id] = next_id
            next_id += 1
    outputs = (*body.graph.outputs, renamed[cond.graph.outputs[0]])
    return Body(Graph(tuple(nodes), outputs), body.params, body.name)


def stacked(xp: Any, values: list[Any], like: Any) -> Any:
    """``values`` stacked on a new first axis; none: an empty stack of ``like``'s shape."""
    if values:
        return xp.stack(values)
    return xp.empty((0, *xp.shape(like)), xp.asarray(like).dtype)


def cond_kernel(xp: Any, pred: Any, *operands: Any, true_body: Body, false_body: Body,
                runners: tuple[Runner, Runner] | None = None) -> tuple[Any, ...]:
    """Runs the branch that ``pred`` picks on ``operands``."""
    k = 0 if bool(pred) else 1
    branch = (true_body, false_body)[k]
    run = _runner(branch, xp, runners[k] if runners else None)
    return tuple(_own(xp, v, operands) for v in run(list(operands)))


def output_kernel(xp: Any, results: tuple[Any, ...], *shape_only: Any, index: int,
                  bodies: tuple[Body, ...], loop: bool, node: int | None = None) -> Any:
    """Result ``index`` of a control node (a view: the very array the loop made)."""
    return results[index]


def _tuple_spec(*specs: Spec, **attrs: Any) -> Spec:
    # a control node's own value is a tuple: no shape, and no dtype a kernel reads
    return Spec(None, specs[0].dtype if specs else dt.bool_)


def joined(a: tuple[int | None, ...] | None, b: tuple[int | None, ...] | None
           ) -> tuple[int | None, ...] | None:
    """The most specific shape both ``a`` and ``b`` fit (differing dims become None)."""
    if a is None or b is None or len(a) != len(b):
        return None
    return tuple(x if x == y else None for x, y in zip(a, b, strict=True))


def compatible(shape: tuple[int | None, ...] | None, like: tuple[int | None, ...] | None) -> bool:
    """Whether ``shape`` fits ``like`` (None dims of ``like`` and unknown ranks fit all)."""
    if shape is None or like is None:
        return True
    return len(shape) == len(like) and all(d is None or e is None or d == e
                                           for d, e in zip(shape, like, strict=True))


def _output_spec(ctrl: Spec, *inputs: Spec, index: int, bodies: tuple[Body, ...],
                 loop: bool, node: int | None = None) -> Spec:
    if loop:  # a while's bodies: (cond, body)
        body = bodies[1]
        n_vars = len(body.graph.outputs)
        if index == 2 * n_vars:  # (the results a gradient reads: see while_kernel)
            return Spec((), dt.int32)
        if node is not None:  # the stack of a body node's values (``keep``)
            value = body.specs_of(list(inputs), [node])[0]
            return Spec(None if value.shape is None else (None, *value.shape), value.dtype)
        if index >= n_vars:
            var = _output_spec(ctrl, *inputs, index=index - n_vars, bodies=bodies, loop=True)
            return Spec(None if var.shape is None else (None, *var.shape), var.dtype)
        out = body.output_specs(list(inputs))[index]
        invariant = body.param_specs[index].shape
        shape = joined(inputs[index].shape, out.shape)
        if shape is not None and invariant is not None:
            shape = tuple(None if d is None else s for s, d in zip(shape, invariant, strict=True))
        return Spec(shape, out.dtype)
    operands = list(inputs[1:])
    a, b = (branch.output_specs(operands)[index] for branch in bodies)
    return Spec(joined(a.shape, b.shape), a.dtype)


def _check_params(node_id: int, body: Body, specs: Sequence[Spec]) -> None:
    if len(body.params) != len(specs):
        raise IRError(f"node %{node_id}: body '{body.name}' takes {len(body.params)} inputs, "
                      f"the node gives {len(specs)}")
    for k, (param, spec) in enumerate(zip(body.param_specs, specs, strict=True)):
        if param.dtype is not spec.dtype or not compatible(spec.shape, param.shape):
            raise IRError(f"node %{node_id}: input {k} of body '{body.name}' is {param}, the "
                          f"node gives {spec}")
    verify(body.graph)


def _check_while(graph: Graph, n: Any) -> None:
    specs = [Spec(graph[i].shape, graph[i].dtype) for i in n.inputs]
    cond, body, n_vars = n.attrs["cond"], n.attrs["body"], n.attrs["n_vars"]
    _check_params(n.id, cond, specs)
    _check_params(n.id, body, specs)
    (test,) = cond.graph.outputs if len(cond.graph.outputs) == 1 else (None,)
    if test is None or cond.graph[test].dtype is not dt.bool_ or not compatible(
            cond.graph[test].shape, ()):
        raise IRError(f"node %{n.id}: body 'cond' must give one bool scalar")
    if len(body.graph.outputs) != n_vars:
        raise IRError(f"node %{n.id}: body '{body.name}' gives {len(body.graph.outputs)} "
                      f"values for {n_vars} loop variables")
    for k, o in enumerate(body.graph.outputs):
        out, param = body.graph[o], body.param_specs[k]
        if out.dtype is not param.dtype or not compatible(out.shape, param.shape):
            raise IRError(f"node %{n.id}: loop variable {k} enters the body as {param} and "
                          f"leaves it as {out.dtype.name}{format_shape(out.shape)}")


def _check_cond(graph: Graph, n: Any) -> None:
    specs = [Spec(graph[i].shape, graph[i].dtype) for i in n.inputs[1:]]
    true_body, false_body = n.attrs["true_body"], n.attrs["false_body"]
    _check_params(n.id, true_body, specs)
    _check_params(n.id, false_body, specs)
    a, b = true_body.graph, false_body.graph
    if [a[o].dtype for o in a.outputs] != [b[o].dtype for o in b.outputs]:
        raise IRError(f"node %{n.id}: the branches of a cond give different outputs")


WHILE = OpDef(name="while", kernel=while_kernel, infer=_tuple_spec, vjps=None, arity=None,
              kind="control", doc="A loop owning its cond and body graphs.")
COND = OpDef(name="cond", kernel=cond_kernel, infer=_tuple_spec, vjps=None, arity=None,
             kind="control", doc="A two-way branch owning both branch graphs.")
OUTPUT = OpDef(name="control_output", kernel=output_kernel, infer=_output_spec, vjps=None,
               arity=None, kind="view", view=True, doc="One result of a control node.",
               shape_only=tuple(range(1, 1024)))
for _op in (WHILE, COND, OUTPUT):
    CONTROL_OPS[_op.name] = _op
BODY_CHECKS["while"] = _check_while
BODY_CHECKS["cond"] = _check_cond

__all__ = ["COND", "OUTPUT", "WHILE", "Body", "compatible", "cond_kernel", "fused_step", "joined",
           "output_kernel", "residuals", "stacked", "while_kernel"]
