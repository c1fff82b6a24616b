"""The static compiler: prune, specialise, optimise, plan memory, bind an executor.

``compile_graph`` turns one (graph, feed signature) into a :class:`CompiledProgram`:

1. prune to the fetches;
2. specialise: shape inference again with the concrete shapes of this run's feeds;
3. make dtype promotion explicit (``cast`` nodes), so kernels never promote per step;
4. the optimisation pipeline (constant folding, CSE, algebraic simplification, lowering
   of shape-dependent ops, DCE), each pass switchable, the IR verified after every one;
5. a memory-aware schedule (``schedule.reorder_for_memory``);
6. in-place marking, then the memory plan (validated), then the executor, which turns the
   schedule into straight-line Python (``program.executor.source``).

Example:
    >>> # program = compile_graph(graph, {feed_id: Spec((4, 2), float32)})
    >>> # values, updates = program.run({feed_id: x}, {var_id: w})
    >>> # print(program.plan)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from ...graphs.ir import Graph, verify
from ...graphs.liveness import analyze
from ...runtime import Spec
from .executor import Executor
from .passes import PIPELINE, insert_casts, mark_inplace, prune, specialize
from .planner import Plan, greedy_by_size, plan_memory
from .schedule import reorder_for_memory


@dataclass(frozen=True)
class CompilerOptions:
    """Switches for each stage; results are identical whichever are on, bit for bit, except
    ``dot_merge``, which sums the merged products in another order (equal to 1e-12 relative
    in float64). With the same switches, planned and unplanned runs are bit-identical.

    Example:
        >>> CompilerOptions(cse=False, plan=False).plan
        False
    """

    prune: bool = True  # off: every node of the graph runs (so every placeholder is needed)
    fold_constants: bool = True
    cse: bool = True
    simplify: bool = True
    dot_merge: bool = True  # merged matmuls: equal to float tolerance, not bit for bit
    lower: bool = True  # sum_to with known shapes -> sum (+ reshape view)
    materialize_transposes: bool = True  # one row-major copy of a weight read transposed
    dce: bool = True
    reorder: bool = True  # memory-aware schedule (static/compiler/schedule.py)
    inplace: bool = True
    plan: bool = True  # off: every value gets an array of its own, each run
    verify: bool = True  # graphs.verify after every pass
    device: str = "cpu"

    def enabled(self, name: str) -> bool:
        return bool(getattr(self, name, True))


@dataclass(frozen=True)
class PassRecord:
    """What one pass did: its name, whether it changed the graph, node counts around it."""

    name: str
    changed: bool
    nodes_before: int
    nodes_after: int


@dataclass
class CompiledProgram:
    """A graph compiled for one feed signature: ``run(feeds, variables)`` per the contract.

    Attributes:
        graph: the optimised graph that runs (its outputs line up with the fetches).
        plan: the memory plan (None when planning is off).
        passes: one PassRecord per pass, in order.
        executor: the bound step list.
    """

    graph: Graph
    plan: Plan | None
    passes: list[PassRecord]
    executor: Executor
    source_graph: Graph = field(repr=False)
    # every value run() hands back is an array made for that run, or a view of one; never
    # a feed or variable array (the executor copies those), so the session need not check
    fresh_results: ClassVar[bool] = True

    def run(self, feeds: Mapping[int, Any], variables: Mapping[int, Any]
            ) -> tuple[list[Any], dict[int, Any]]:
        """Runs once: (values of the outputs in order, {variable id: new value})."""
        return self.executor.run(feeds, variables)

    def inspect_plan(self) -> Plan:
        """The memory plan; when planning is off, the plan it would have used."""
        if self.plan is not None:
            return self.plan
        return plan_memory(mark_inplace(self.graph)[0])

    def format_passes(self) -> str:
        return "\n".join(f"{r.name:<16} {'changed' if r.changed else 'unchanged':<10} "
                         f"{r.nodes_before:>5} -> {r.nodes_after:<5} nodes" for r in self.passes)


def compile_program(graph: Graph, feed_ids: tuple[int, ...], options: Any) -> CompiledProgram:
    """The Session's entry point (``program.build_program``): TF1 ``CompileOptions`` mapped.

    The session hands over a graph already pruned and specialised to the fed shapes (fed
    nodes are placeholders), so pruning and shape inference here only confirm it.
    """
    from ...runtime import canonical_device

    optimize = bool(options.optimize)
    return compile_graph(graph, {}, compiler_options(options, optimize,
                                                     canonical_device(options.device)))


def compiler_options(options: Any, optimize: bool, device: str) -> CompilerOptions:
    """CompilerOptions from a Session's ``CompileOptions`` (missing switches count as on)."""
    def on(name: str) -> bool:
        return bool(getattr(options, name, True))

    return CompilerOptions(
        fold_constants=optimize and on("fold_constants"), cse=optimize and on("cse"),
        simplify=optimize and on("simplify"), lower=optimize and on("simplify"),
        dot_merge=optimize and on("dot_merge"),
        materialize_transposes=optimize and on("materialize_transposes"),
        dce=optimize and on("dce"),
        reorder=on("reorder"), inplace=on("inplace"), plan=on("plan_memory"), device=device)


def plan_of(program: Any, graph: Graph, options: Any) -> Plan:
    """The memory plan behind a Session's cached program (``Session.plan``).

    For a program that was not compiled (the plain interpreter), the graph is compiled
    with planning on, only to show the plan it would get.
    """
    if isinstance(program, CompiledProgram):
        return program.inspect_plan()
    from ...runtime import canonical_device

    device = canonical_device(getattr(options, "device", "cpu"))
    planned = compiler_options(options, bool(getattr(options, "optimize", True)), device)
    plan = compile_graph(graph, {}, replace(planned, plan=True)).plan
    assert plan is not None  # planning was switched on
    return plan


def compile_graph(graph: Graph, source_specs: Mapping[int, Spec],
                  options: CompilerOptions | None = None) -> CompiledProgram:
    """Compiles ``graph`` for sources (feeds, variables) of the given concrete specs.

    Raises ShapeError (naming the placeholder or node) when the fed shapes do not fit.
    """
    options = options or CompilerOptions()
    records: list[PassRecord] = []

    def apply(name: str, fn: Any, g: Graph, *args: Any) -> Graph:
        before = len(g.nodes)
        result: Graph
        result, changed = fn(g, *args)
        if options.verify:
            verify(result)
        records.append(PassRecord(name, changed, before, len(result.nodes)))
        return result

    g = graph
    if options.prune:
        g = apply("prune", prune, g)
    g = apply("specialize", specialize, g, source_specs)
    g = apply("insert_casts", insert_casts, g)
    for name, fn in PIPELINE:
        if options.enabled(name):
            g = apply(name, fn, g)
    if options.reorder:
        g = apply("reorder", reorder_for_memory, g)
    plan = None
    slots: Slots = {}
    if options.plan:
        if options.inplace:
            g = apply("inplace", mark_inplace, g)
        plan = plan_memory(g)
        if options.inplace:
            plan, slots = stack_in_place(g, plan)
        plan.validate()
    executor = Executor(g, plan, options.device, slots)
    return CompiledProgram(g, plan, records, executor, graph)


Slots = dict[int, tuple[int, tuple[Any, ...]]]  # operand id -> (stack id, index of its slice)


def stack_in_place(graph: Graph, plan: Plan) -> tuple[Plan, Slots]:
    """Lets the operands of a ``stack`` be written straight into its slices (no copy).

    A stack qualifies when no later op overwrites it in place; an operand, when it is a call
    with a buffer of its own in ``plan`` (or one it took over in place) that no later op
    overwrites in place, and that it is the operand of no other such stack. Its value (and
    its views) then live in the stack's slice, and the stack's buffer is alive from the first
    such operand's step; the other operands are copied in at the stack's step. Offsets are
    placed again (greedy by size) for the new lifetimes. The values are the same bytes as
    with the copying stack, so planned and unplanned runs stay bit-identical.

    Returns the new plan and ``{operand id: (stack id, index of its slice)}``.
    """
    live = analyze(graph.nodes, graph.outputs)
    marks: frozenset[int] = getattr(graph, "inplace", frozenset())
    overwritten = {graph[n].inputs[0] for n in marks}
    buffer_of, lifetimes = dict(plan.buffer_of), dict(plan.lifetimes)
    steps = {s.node_id: s for s in plan.steps}
    slots: Slots = {}
    hosts: set[int] = set()
    for n in graph.nodes:
        if n.kind != "call" or n.op != "stack" or steps[n.id].where != "arena":
            continue
        if n.id in overwritten:  # a later op writes over the stack while operands are read
            continue
        axis = int(n.attrs.get("axis", 0)) % len(n.shape)  # type: ignore[arg-type]
        chosen = []
        for t, x in enumerate(n.inputs):
            node = graph[x]
            if (node.kind == "call" and x in buffer_of and live.root[x] == x
                    and x not in overwritten and x not in slots and x not in hosts
                    and n.inputs.count(x) == 1
                    and node.dtype is n.dtype and steps[x].where in ("arena", "inplace")):
                # (the Ellipsis keeps the slice of a stack of scalars a 0-d view)
                chosen.append((x, (slice(None),) * axis + (t, Ellipsis)))
        if not chosen:
            continue
        hosts.add(n.id)
        stack_buffer = buffer_of[n.id]
        first, last = lifetimes[stack_buffer]
        for x, index in chosen:
            slots[x] = (n.id, index)
            for member in (x, *live.views_of(x)):
                buffer_of[member] = stack_buffer
            first = min(first, live.step_of[x])
            last = max(last, live.root_last[x])
        lifetimes[stack_buffer] = (first, last)
    if not slots:
        return plan, slots
    used = set(buffer_of.values())
    sizes = {b: size for b, size in plan.sizes.items() if b in used}
    lifetimes = {b: life for b, life in lifetimes.items() if b in used}
    offsets = greedy_by_size(sizes, lifetimes)
    longest = sorted(sizes, key=lambda b: (lifetimes[b][0] - lifetimes[b][1], -sizes[b], b))
    alternative = greedy_by_size(sizes, lifetimes, longest)
    if max(alternative[b] + sizes[b] for b in sizes) < max(offsets[b] + sizes[b] for b in sizes):
        offsets = alternative
    new_steps = []
    for step in plan.steps:
        if step.node_id in buffer_of and buffer_of[step.node_id] != step.buffer:
            step = replace(step, buffer=buffer_of[step.node_id], offset=None, nbytes=0,
                           where="view")  # (it writes into the stack's slice)
        elif step.offset is not None:
            step = replace(step, offset=offsets[step.buffer])  # type: ignore[index]
        new_steps.append(step)
    return Plan(new_steps, buffer_of, offsets, sizes, lifetimes,
                {b: v for b, v in plan.nbytes.items() if b in used},
                {b: v for b, v in plan.names.items() if b in used}), slots
