"""Compiling the bodies of ``while`` and ``cond`` nodes: each body becomes a Program of its own.

A body is a complete graph (``graphs/control.py``), so it goes through the same
``compile`` as the outer graph: specialised to the shapes its inputs have at run time, the
passes, its own memory plan and arena, its own executor. A loop's body is compiled once,
on the first iteration, and every later iteration runs that schedule again (a body whose
inputs keep their shapes, which TF1's shape invariants guarantee unless they are relaxed;
a relaxed body gets one program per input signature). Nested loops compile the same way,
one level at a time.

:func:`attach_runners` hands each control node its body programs as the ``runners``
attribute its kernel calls, and each while node a ``loop`` attribute, the
:class:`~.loop_runner.LoopRunner` that runs the whole loop (with the body's in-place sums
and the rows it slices); the outer executor then runs the node as one kernel call. First
it prunes the loop variables nobody reads and has each forward loop keep what its reverse
loop would recompute (``residuals.py``).

Example:
    >>> # graph = attach_runners(specialized.graph, CompileOptions())
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ...graphs.control import Body, fused_step
from ...graphs.ir import Graph, Node
from ...runtime import Spec
from ...runtime import dtypes as dt
from .gate_grads import join_split_gradients
from .loop_counter import find_counter, without_counter
from .loop_hoist import hoisted
from .loop_runner import LoopRunner, find_slices, find_sums, with_slices, without_sums
from .loop_variants import Guard, alive_body, find_guards
from .options import CompileOptions
from .residuals import save_residuals

#: the attribute of each control op that holds its bodies, in the order of its runners
BODY_ATTRS = {"while": ("cond", "body"), "cond": ("true_body", "false_body")}


class BodyProgram:
    """The compiled program(s) of one body: ``runner(arrays) -> output arrays``.

    Attributes:
        body: the body graph.
        programs: one Program per input signature seen (one for a loop with fixed shapes).
    """

    def __init__(self, body: Body, options: CompileOptions) -> None:
        self.body = body
        self.options = options
        self.programs: dict[tuple[Any, ...], Any] = {}
        # the parameters the body reads: a program is compiled per signature of those only
        # (a reverse step that reads its stacks one sliced row at a time does not read the
        # stacks, whose length differs from batch to batch: one program serves them all)
        graph = body.graph
        read = {i for n in graph.nodes for i in n.inputs} | set(graph.outputs)
        self.read = tuple(k for k, p in enumerate(body.params) if p in read)

    def __call__(self, arrays: Sequence[Any]) -> list[Any]:
        values, _ = self.program_for(arrays).run(dict(zip(self.body.params, arrays,
                                                          strict=True)), {})
        return values  # type: ignore[no-any-return]

    def program_for(self, arrays: Sequence[Any]) -> Any:
        """The body's Program for inputs like ``arrays``, compiled on first use."""
        key = tuple((arrays[k].shape, arrays[k].dtype) for k in self.read)  # (compile_for's)
        program = self.programs.get(key)
        if program is None:
            program = self.programs[key] = self.compile(arrays)
        return program

    def compile(self, arrays: Sequence[Any]) -> Any:
        """The body's Program for inputs like ``arrays`` (the pipeline, as for any graph)."""
        return self.compile_for([Spec(tuple(a.shape), dt.as_dtype(a.dtype)) for a in arrays])

    def compile_for(self, specs: Sequence[Spec]) -> Any:
        """The body's Program for inputs of ``specs`` (concrete), compiled once and kept."""
        from .pipeline import compile as compile_graph  # (the pipeline imports this module)

        key = tuple((tuple(specs[k].shape), specs[k].dtype.np)  # type: ignore[arg-type]
                    for k in self.read)
        if key not in self.programs:
            fed = dict(zip(self.body.params, specs, strict=True))
            self.programs[key] = compile_graph(self.graph_for(specs), fed, self.options)
        return self.programs[key]

    def graph_for(self, specs: Sequence[Spec]) -> Graph:
        """The graph compiled for parameters of ``specs``: the body's own."""
        return self.body.graph

    def __repr__(self) -> str:
        return f"<BodyProgram '{self.body.name}': {len(self.programs)} compiled>"


class AliveProgram(BodyProgram):
    """A step's programs for the iterations where every guard's mask is all true: the step
    rewritten by :func:`~.loop_variants.alive_body` per input signature."""

    def __init__(self, step: Body, guards: Sequence[Guard], options: CompileOptions) -> None:
        super().__init__(step, options)
        self.guards = tuple(guards)

    def graph_for(self, specs: Sequence[Spec]) -> Graph:
        return alive_body(self.body, self.guards, specs).graph


def attach_runners(graph: Graph, options: CompileOptions) -> Graph:
    """``graph`` with a :class:`BodyProgram` per body of each control node (attr ``runners``)."""
    # (residuals match the bodies as built; then their time-parallel work is hoisted out)
    graph = hoisted(save_residuals(prune_loop_variables(graph)), options)
    graph = prune_captured(graph)  # (what the bodies no longer read is not computed)
    nodes = []
    changed = False
    saving = _saving_loops(graph)
    for n in graph.nodes:
        names = BODY_ATTRS.get(n.op) if n.kind == "call" else None
        if names is not None and n.attrs.get("runners") is None:
            bodies = [n.attrs[a] for a in names]
            keep = tuple(n.attrs.get("keep", ()))
            if n.op == "while":  # the body runs fused with the next test (one run a step)
                bodies[1] = join_split_gradients(fused_step(bodies[0], bodies[1]))
                if keep:  # (and hands over the values its reverse loop reads: residuals.py)
                    step = bodies[1]
                    bodies[1] = Body(Graph(step.graph.nodes, (*step.graph.outputs, *keep)),
                                     step.params, step.name)
            attrs = dict(n.attrs)
            if n.op == "while":
                found = saving.get(n.id)
                save = attrs["save"] = None if found is None else tuple(sorted(found))
                sums = find_sums(bodies[1], n.attrs["n_vars"], save or ())
                if sums:  # (the runner adds them up in place; the body hands over the terms)
                    bodies[1] = without_sums(bodies[1], n.attrs["n_vars"], sums)
                kept = [k for k in range(n.attrs["n_vars"]) if k not in sums]
                slices = find_slices(bodies[1], n.attrs["n_vars"], kept)
                if slices:  # (the runner hands the body the rows it reads)
                    bodies[1] = with_slices(bodies[1], slices)
                counter = find_counter(bodies[1], n.attrs["n_vars"], kept)
                if counter:  # (the runner counts it and tests it: loop_counter.py)
                    bodies[1] = without_counter(bodies[1], counter, len(kept))
            runners = tuple(BodyProgram(b, options) for b in bodies)
            attrs["runners"] = runners
            if n.op == "while":
                guards = find_guards(bodies[1], n.attrs["n_vars"], kept, slices)
                alive = AliveProgram(bodies[1], guards, options) if guards else None
                attrs["loop"] = LoopRunner(runners[0], runners[1], n.attrs["n_vars"], sums,
                                           slices, n.attrs["body"], keep, alive, counter)
            n = n.with_(attrs=attrs)
            changed = True
        nodes.append(n)
    return Graph(tuple(nodes), graph.outputs) if changed else graph


def prune_loop_variables(graph: Graph) -> Graph:
    """Loop DCE: drops the loop variables of each while node that this run never reads
    (no result of the node is used, the test does not read them, and no variable that is
    read is computed from them), as a TensorArray of outputs nobody fetches."""
    users = _loop_results(graph)
    replaced: dict[int, Node] = {}
    for n in graph.nodes:
        if n.kind == "call" and n.op == "while" and n.attrs.get("runners") is None:
            replaced.update(_pruned(n, users.get(n.id, [])))
    if not replaced:
        return graph
    return Graph(tuple(replaced.get(n.id, n) for n in graph.nodes), graph.outputs)


def _pruned(node: Node, outputs: list[Node]) -> dict[int, Node]:
    """The while node and its results rewritten without its dead loop variables. A loop
    that keeps values for its reverse loop (``keep``, after ``residuals.py``) keeps the
    variables they are computed from, and its kept stacks keep their order after the
    count: result ``2n + 1 + j`` becomes ``2m + 1 + j``."""
    cond, body, n = node.attrs["cond"], node.attrs["body"], node.attrs["n_vars"]
    keep = tuple(node.attrs.get("keep", ()))
    live = {k for k in cond.reads(0) if k < n} | {k for k in _positions(body, keep) if k < n}
    for out in outputs:
        index = out.attrs["index"]
        if index < 2 * n:
            live.add(index % n)
    frontier = list(live)
    while frontier:
        for j in body.reads(frontier.pop()):
            if j < n and j not in live:
                live.add(j)
                frontier.append(j)
    if len(live) == n:
        return {}
    kept = sorted(live)
    extra = list(range(n, len(node.inputs)))
    new_cond = cond.keeping(kept + extra, [0])
    m = len(kept)
    # (the kept nodes stay in the body as outputs of the pruning, then leave the outputs)
    wide = Body(Graph(body.graph.nodes, (*body.graph.outputs, *keep)), body.params, body.name)
    pruned = wide.keeping(kept + extra, [*kept, *range(n, n + len(keep))])
    new_body = Body(Graph(pruned.graph.nodes, pruned.graph.outputs[:m]), pruned.params,
                    body.name)
    inputs = tuple(node.inputs[k] for k in kept + extra)
    rewritten = {node.id: node.with_(inputs=inputs, attrs={
        **node.attrs, "cond": new_cond, "body": new_body, "n_vars": m})}
    for out in outputs:
        index = out.attrs["index"]
        if index > 2 * n:  # (a kept node's stack)
            index += 2 * (m - n)
        elif index == 2 * n:
            index = 2 * m
        else:
            index = kept.index(index % n) + (m if index >= n else 0)
        rewritten[out.id] = out.with_(inputs=(node.id, *inputs), attrs={
            **out.attrs, "index": index, "bodies": (new_cond, new_body)})
    return rewritten


def _positions(body: Body, roots: Sequence[int]) -> set[int]:
    """The positions of the parameters of ``body`` that the nodes ``roots`` are computed
    from."""
    position = {p: k for k, p in enumerate(body.params)}
    return {position[i] for i in _read(body, roots, outputs=False) if i in position}


def prune_captured(graph: Graph) -> Graph:
    """Drops the captured inputs of each while node that no node of its bodies reads (the
    gradient loop's copy of a forward value it never uses; a weight whose product was
    hoisted out of the loop), so the outer graph does not compute them for nothing."""
    outputs = _loop_results(graph)
    replaced: dict[int, Node] = {}
    for n in graph.nodes:
        if n.kind != "call" or n.op != "while" or n.attrs.get("runners") is not None:
            continue
        cond, body = n.attrs["cond"], n.attrs["body"]
        live = (_read(cond, ()), _read(body, n.attrs.get("keep", ())))
        dead = {k for k in range(n.attrs["n_vars"], len(n.inputs))
                if cond.params[k] not in live[0] and body.params[k] not in live[1]}
        if not dead:
            continue
        inputs = tuple(i for k, i in enumerate(n.inputs) if k not in dead)
        bodies = (_without_params(cond, dead, live[0]), _without_params(body, dead, live[1]))
        replaced[n.id] = n.with_(inputs=inputs, attrs={**n.attrs, "cond": bodies[0],
                                                       "body": bodies[1]})
        for out in outputs.get(n.id, []):  # (its results read the inputs for their shapes)
            replaced[out.id] = out.with_(inputs=(n.id, *inputs),
                                         attrs={**out.attrs, "bodies": bodies})
    if not replaced:
        return graph
    return Graph(tuple(replaced.get(n.id, n) for n in graph.nodes), graph.outputs)


def _loop_results(graph: Graph) -> dict[int, list[Node]]:
    """While node id -> its control_output nodes (its results)."""
    found: dict[int, list[Node]] = {}
    for n in graph.nodes:
        if n.kind == "call" and n.op == "control_output" and n.attrs["loop"]:
            found.setdefault(n.inputs[0], []).append(n)
    return found


def _read(body: Body, keep: Sequence[int], outputs: bool = True) -> set[int]:
    """The nodes of ``body`` that its outputs (unless not ``outputs``) and the ``keep``
    nodes are computed from."""
    found: set[int] = set()
    stack = [*(body.graph.outputs if outputs else ()), *keep]
    while stack:
        nid = stack.pop()
        if nid not in found:
            found.add(nid)
            stack.extend(body.graph[nid].inputs)
    return found


def _without_params(body: Body, dead: set[int], live: set[int]) -> Body:
    """``body`` without the parameters at positions ``dead`` and the nodes not ``live``."""
    params = tuple(p for k, p in enumerate(body.params) if k not in dead)
    kept = live | set(params)
    return Body(Graph(tuple(n for n in body.graph.nodes if n.id in kept), body.graph.outputs),
                params, body.name)


def _saving_loops(graph: Graph) -> dict[int, set[int]]:
    """For each while node whose saved values a gradient of this run reads, the loop
    variables whose stacks it reads: only those are kept per iteration (a forward-only run
    of a loop keeps nothing)."""
    saving: dict[int, set[int]] = {}
    for n in graph.nodes:
        if n.kind == "call" and n.op == "control_output" and n.attrs["loop"]:
            n_vars = len(n.attrs["bodies"][1].graph.outputs)
            if n.attrs["index"] >= n_vars:
                found = saving.setdefault(n.inputs[0], set())
                if n.attrs["index"] < 2 * n_vars:
                    found.add(n.attrs["index"] - n_vars)
    return saving


def body_programs(graph: Graph) -> list[BodyProgram]:
    """Every BodyProgram the control nodes of ``graph`` hold (outermost loops only)."""
    return [r for n in graph.nodes if n.kind == "call" and n.op in BODY_ATTRS
            for r in n.attrs.get("runners") or ()]


@dataclass(frozen=True)
class LoopPlan:
    """The memory of one body of a control node, as ``Session.plan`` reports it.

    Attributes:
        node: the control node's name; body: the body's name ("body", "cond", "true"...).
        plan: the body's own memory plan: one arena, reused by every iteration.
        saved_bytes_per_iteration: what the loop keeps per iteration for its gradient (the
            stacks of the loop variables the gradient reads; 0 when no gradient runs): the
            stacks grow by this much with each iteration actually run.
    """

    node: str
    body: str
    plan: Any
    saved_bytes_per_iteration: int

    def __str__(self) -> str:
        return (f"loop '{self.node}' body '{self.body}': arena_bytes {self.plan.arena_bytes} "
                f"(planned once, reused by every iteration), saves "
                f"{self.saved_bytes_per_iteration} bytes per iteration")


def loop_plans(graph: Graph) -> list[LoopPlan]:
    """The plan of every body whose inputs have concrete shapes (compiled now, once)."""
    plans = []
    for n in graph.nodes:
        if n.kind != "call" or n.op not in BODY_ATTRS or n.attrs.get("runners") is None:
            continue
        specs = [Spec(graph[i].shape, graph[i].dtype) for i in n.inputs]
        if n.op == "cond":
            specs = specs[1:]
        if not all(s.shape is not None and None not in s.shape for s in specs):
            continue  # (planned per input shape when it runs)
        saved = sum(_nbytes(specs[k]) for k in n.attrs.get("save") or ())
        if n.attrs.get("keep"):  # (and the values kept for the reverse loop)
            saved += sum(map(_nbytes, n.attrs["body"].specs_of(specs, n.attrs["keep"])))
        for name, runner in zip(BODY_ATTRS[n.op], n.attrs["runners"], strict=True):
            if n.op == "while" and name == "body":  # (the step: the rows it is handed too)
                specs = n.attrs["loop"].step_specs(specs)
            plan = getattr(runner.compile_for(specs), "plan", None)
            if plan is not None:
                plans.append(LoopPlan(n.name or f"%{n.id}", runner.body.name, plan,
                                      saved if name == "body" else 0))
    return plans


def _nbytes(spec: Spec) -> int:
    count = 1
    for d in spec.shape or ():
        count *= int(d)  # type: ignore[arg-type]
    return count * spec.dtype.itemsize
