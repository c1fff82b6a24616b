"""The static compiler's one entry point: ``compile(graph, feed_specs, options) -> Program``.

1. :func:`specialize` fits the graph to the run, the only place this happens: every fed
   node becomes a placeholder of the fed shape (TF1 lets any tensor be fed); pruning to
   the outputs; checks that name the node at fault (a placeholder nobody fed, a fed
   variable the run also assigns, a shape no kernel takes, a tensor above the size cap);
   shapes inferred again from the fed shapes;
2. with ``check_numerics``, or with both ``optimize`` and ``plan_memory`` off, the plain
   :class:`~.interpreter.Interpreter` runs that graph (the numerics check is its hook);
3. otherwise dtype promotion is made explicit (``cast`` nodes), the passes of
   :data:`PASSES` run in order (each switchable by name, ``graphs.verify`` after each),
   then the planner: the in-place set, the memory plan, ``stack``s written in place,
   the plan validated; the executor binds the schedule as straight-line Python.

The contract between ``Session.run`` and a Program:

* ``Program.source`` is the :class:`Specialized` graph it was made from: its ``feed_ids``
  (the feeds it reads), ``read_vars`` (the variables it reads) and ``assigned`` (the
  variables it writes);
* ``Program.run(feeds, variables)`` gets the fed arrays and the values of ``read_vars``
  (both keyed by node id; values from the start of the run; never to be written into) and
  returns ``(values, updates)``: one value per ``source.graph.outputs`` entry, in order (an
  assign node's value is the value it assigns; None may stand for an output that only a
  fetched op needs), and the NEW variable values (``{variable node id: array}``, the last
  assign of a variable wins). The session commits ``updates`` only after ``run`` returned,
  all at once, so a failed or interrupted run changes no variable;
* a Program whose returned values and updates are never the very feed or variable arrays
  it was given says so with a true class attribute ``fresh_results``; the session then
  skips checking each value against them.

Example:
    >>> import numpy as np
    >>> from tapeflow.graphs import Graph, Node
    >>> from tapeflow.runtime import Spec, dtypes
    >>> f64 = dtypes.float64
    >>> x = Node(0, "placeholder", "", (), {}, (None, 2), f64, name="x")
    >>> y = Node(1, "call", "exp", (0,), {}, (None, 2), f64, name="y")
    >>> program = compile(Graph((x, y), (1,)), {0: Spec((3, 2), f64)})
    >>> values, updates = program.run({0: np.zeros((3, 2))}, {})
    >>> values[0].sum(), updates
    (np.float64(6.0), {})
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, ClassVar, Protocol

from ...graphs import ir
from ...graphs.ir import Graph, verify
from ...runtime import ShapeError, Spec
from ...runtime import dtypes as dt
from ...runtime.backend import canonical_device
from ...runtime.memory import too_large
from ...runtime.registry import format_shape
from ..errors import InvalidArgumentError, ResourceExhaustedError
from .autotune import autotune
from .cuda_graph import with_cuda_graph
from .dot_merge import dot_merge
from .executor import Executor, MissingFeedError
from .fusion import fuse
from .gemm_acc import gemm_acc
from .interpreter import Interpreter, check_finite
from .loops import attach_runners, loop_plans
from .lowering import lower, tf_shape
from .options import CompileOptions, UnknownPassError, switch_names
from .passes import (
    Pass,
    cse,
    dce,
    fold_constants,
    insert_casts,
    materialize_transposes,
    reorder_for_memory,
    simplify,
)
from .planner import Plan, Slots, mark_inplace, plan_in_place, plan_memory
from .recompute import recompute


class Program(Protocol):
    """A runnable specialised graph: see the module docstring for the contract."""

    source: Specialized
    fresh_results: ClassVar[bool]

    def run(self, feeds: Mapping[int, Any], variables: Mapping[int, Any]
            ) -> tuple[list[Any], dict[int, Any]]: ...


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
        executor: the bound step list (``print(executor.source)`` shows it as Python).
        source: the specialised graph the passes started from.
    """

    graph: Graph
    plan: Plan | None
    passes: list[PassRecord]
    executor: Executor
    source: Specialized
    # every value run() hands back is an array made for that run, or a view of one; never
    # a feed or variable array (the executor copies those), so the session need not check
    fresh_results: ClassVar[bool] = True

    def __post_init__(self) -> None:
        self.run = self.executor.run  # type: ignore[method-assign]  (no call in between)

    def run(self, feeds: Mapping[int, Any], variables: Mapping[int, Any]
            ) -> tuple[list[Any], dict[int, Any]]:
        """Runs once: (values of the outputs in order, {variable id: new value})."""
        return self.executor.run(feeds, variables)

    def inspect_plan(self) -> Plan:
        """The memory plan; when planning is off, the plan it would have used."""
        if self.plan is not None:
            return self.plan
        return plan_memory(self.graph, mark_inplace(self.graph))

    def format_passes(self) -> str:
        """One line per pass: its name, whether it changed the graph, node counts."""
        return "\n".join(f"{r.name:<16} {'changed' if r.changed else 'unchanged':<10} "
                         f"{r.nodes_before:>5} -> {r.nodes_after:<5} nodes" for r in self.passes)


# ---- fitting the graph to the run ----------------------------------------------------------


@dataclass(frozen=True)
class Specialized:
    """A graph fitted to one feed signature, and what a run of it reads and writes.

    Attributes:
        graph: pruned, fed nodes as placeholders, every shape inferred from the feeds.
        feed_ids: the fed nodes the graph uses, sorted (feeds of other nodes are ignored).
        read_vars: variables whose start-of-run value the graph reads.
        assigned: variables the graph assigns (a run of it must commit them).
    """

    graph: ir.Graph
    feed_ids: tuple[int, ...]
    read_vars: tuple[int, ...]
    assigned: tuple[int, ...]


def specialize(graph: ir.Graph, feed_specs: Mapping[int, Spec]) -> Specialized:
    """``graph`` bound to feeds of ``feed_specs``, pruned, checked and specialised."""
    nodes: dict[int, ir.Node] = {n.id: n for n in graph.nodes}
    for nid, spec in feed_specs.items():
        node = nodes[nid]
        if node.kind == "placeholder" and not shape_fits(node.shape, spec.shape):
            raise InvalidArgumentError(
                f"cannot feed a value of shape {format_shape(spec.shape)} for placeholder "
                f"'{node.name or nid}' of shape {format_shape(node.shape)}", op_name=node.name)
        nodes[nid] = node.with_(kind="placeholder", op="", inputs=(), attrs={},
                                shape=tuple(spec.shape), value=None)  # type: ignore[arg-type]
    pruned = ir.subgraph(nodes, graph.outputs)
    _check_feeds(pruned, graph, feed_specs)
    fitted = _infer(pruned)
    _check_sizes(fitted)
    assigned = tuple(sorted({n.inputs[0] for n in fitted.nodes if n.kind == "assign"}))
    return Specialized(fitted, tuple(sorted(i for i in feed_specs if i in fitted)),
                       _read_variables(fitted), assigned)


def shape_fits(declared: tuple[int | None, ...] | None, fed: tuple[int, ...]) -> bool:
    """Whether a fed shape matches a declared one (None dims and unknown rank match all)."""
    if declared is None:
        return True
    return len(declared) == len(fed) and all(d is None or d == f
                                             for d, f in zip(declared, fed, strict=True))


def _check_feeds(pruned: ir.Graph, graph: ir.Graph, feed_specs: Mapping[int, Spec]) -> None:
    for n in pruned.nodes:
        if n.kind == "assign" and n.inputs[0] in feed_specs:
            var, update = graph[n.inputs[0]], n.name or f"%{n.id}"
            raise InvalidArgumentError(
                f"Cannot feed variable '{var.name}': the run also assigns it (node '{update}'), "
                "and an update needs the variable itself, not a fed value (TF1: 'was passed "
                f"float from {var.name}:0 incompatible with expected float_ref'). Feed a "
                "tensor computed from the variable instead, or run the update without the "
                "feed.", op_name=var.name)
    missing = [n for n in pruned.nodes if n.kind == "placeholder" and n.id not in feed_specs]
    if missing:
        raise MissingFeedError(
            "You must feed a value for placeholder tensor "
            + ", ".join(f"'{n.name}' with dtype {n.dtype.name} and shape {tf_shape(n.shape)}"
                        f" (built at {n.site})" for n in missing), op_name=missing[0].name)


def _infer(graph: ir.Graph) -> ir.Graph:
    """Every node's shape and dtype inferred again from the concrete shapes of its sources."""
    specs: dict[int, Spec] = {}
    nodes: list[ir.Node] = []
    for n in graph.nodes:
        if n.kind == "call":
            inputs = [specs[i] for i in n.inputs]
            try:
                spec = n.opdef.infer(*inputs, **n.attrs)
            except ShapeError as exc:
                shown = ", ".join(format_shape(s.shape) for s in inputs)
                raise InvalidArgumentError(f"{exc} (node '{n.name}' with input shapes {shown}, "
                                           f"built at {n.site})", op_name=n.name) from None
        elif n.kind == "const":
            spec = Spec(tuple(n.value.shape), dt.as_dtype(n.value.dtype))
        elif n.kind == "assign":
            spec = specs[n.inputs[1]]
        else:
            spec = Spec(n.shape, n.dtype)
        if spec.shape != n.shape or spec.dtype is not n.dtype:
            n = n.with_(shape=spec.shape, dtype=spec.dtype)
        specs[n.id] = spec
        nodes.append(n)
    return ir.Graph(tuple(nodes), graph.outputs)


def _check_sizes(graph: ir.Graph) -> None:
    """TF1's OOM error, raised before anything is allocated: names node, shape and bytes."""
    for node in graph.nodes:
        if node.kind != "call" or node.shape is None or None in node.shape:
            continue
        why = too_large(node.shape, node.dtype.itemsize)  # type: ignore[arg-type]
        if why is not None:
            shape = ",".join(str(d) for d in node.shape)
            raise ResourceExhaustedError(
                f"OOM when allocating tensor with shape[{shape}] and type {node.dtype.name}: "
                f"node '{node.name}' (op {node.op}, built at {node.site}) would need {why}",
                op_name=node.name)


def _read_variables(graph: ir.Graph) -> tuple[int, ...]:
    """Variables whose value the graph uses (not those it only assigns to)."""
    read: set[int] = {o for o in graph.outputs if graph[o].kind == "variable"}
    for node in graph.nodes:
        inputs = node.inputs[1:] if node.kind == "assign" else node.inputs
        read.update(i for i in inputs if graph[i].kind == "variable")
    return tuple(sorted(read))


# ---- the passes and the entry point -------------------------------------------------------


@dataclass(frozen=True)
class PassEntry:
    """One pass of the pipeline; ``name`` is also its ``CompileOptions`` switch."""

    name: str
    fn: Pass
    optimization: bool = True  # runs only while CompileOptions.optimize is on
    # changes the order of floating-point arithmetic or an operand's layout: off under exact
    inexact: bool = False
    configured: bool = False  # runs as fn(graph, **options.pass_settings(name))


class PassList:
    """The passes in order, with their switches: the only place that decides what runs.

    Example:
        >>> PASSES.selected(CompileOptions(exact=True, cse=False))[0].name
        'fold_constants'
        >>> PASSES.check(["cse", "dot_merj"])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tapeflow.static.compiler.options.UnknownPassError: unknown pass 'dot_merj'; ...
    """

    def __init__(self, entries: Iterable[PassEntry]) -> None:
        self.entries = tuple(entries)
        unswitched = [e.name for e in self.entries
                      if not (e.configured or e.name in switch_names())]
        if unswitched:  # every pass must be switchable by name
            raise UnknownPassError(f"passes without a CompileOptions switch: {unswitched}")

    @property
    def names(self) -> tuple[str, ...]:
        """The distinct pass names, in pipeline order."""
        return tuple(dict.fromkeys(e.name for e in self.entries))

    def check(self, names: Iterable[str]) -> None:
        """Raises UnknownPassError for a name that is no pass of this list."""
        unknown = [n for n in names if n not in self.names]
        if unknown:
            raise UnknownPassError(f"unknown pass {', '.join(map(repr, unknown))}; "
                                   f"the passes are {', '.join(self.names)}")

    def selected(self, options: CompileOptions) -> list[PassEntry]:
        """The entries that run under ``options``, in order."""
        return [e for e in self.entries
                if getattr(options, e.name) and (options.optimize or not e.optimization)
                and not (options.exact and e.inexact)]

    def run(self, graph: Graph, options: CompileOptions, records: list[PassRecord]) -> Graph:
        """Runs the selected passes on ``graph``; one PassRecord each is appended."""
        for e in self.selected(options):
            fn = partial(e.fn, **options.pass_settings(e.name)) if e.configured else e.fn
            graph = apply(e.name, fn, graph, options, records)
        return graph


def apply(name: str, fn: Pass, graph: Graph, options: CompileOptions,
          records: list[PassRecord]) -> Graph:
    """One pass: run, verified (unless ``options.verify`` is off), recorded."""
    result, changed = fn(graph)
    if options.verify:
        verify(result)
    records.append(PassRecord(name, changed, len(graph.nodes), len(result.nodes)))
    return result


#: The pipeline. Order matters twice: ``dot_merge`` runs before ``lower`` because it merges
#: the ``sum_to`` and flagged-``matmul`` nodes that lowering rewrites; CSE runs again after
#: lowering, which makes equal nodes of unequal ones (two ``sum_to`` of one gradient to two
#: same-shaped biases become one ``sum``; dot merging's stacks and views), so that each
#: transpose is one node when ``materialize_transposes`` counts its readers.
PASSES = PassList([
    PassEntry("fold_constants", fold_constants),
    PassEntry("cse", cse),
    PassEntry("simplify", simplify, configured=True),
    PassEntry("dot_merge", dot_merge, inexact=True, configured=True),
    PassEntry("lower", lower),
    PassEntry("cse", cse),
    # (bit-identical on numpy's OpenBLAS, but another BLAS may sum a packed copy otherwise)
    PassEntry("materialize_transposes", materialize_transposes, inexact=True),
    PassEntry("dce", dce),
    PassEntry("reorder", reorder_for_memory, optimization=False),
    PassEntry("recompute", recompute, optimization=False, configured=True),
    PassEntry("gemm_acc", gemm_acc, inexact=True, configured=True),  # (fuse takes adds)
    PassEntry("fuse", fuse),  # (last: the passes before it match and clone single ops)
])


def compile(graph: Graph, feed_specs: Mapping[int, Spec] | None = None,  # noqa: A001
            options: CompileOptions | None = None) -> Program:
    """The Program for ``graph`` (its outputs: what the run needs) fed as ``feed_specs``.

    ``feed_specs`` maps each fed node's id to the spec of the array fed to it; a fed node
    that is not a placeholder becomes one. Errors name the node at fault: a placeholder not
    fed, a fed variable that the run assigns, a shape no kernel takes (InvalidArgumentError),
    a tensor above the size cap (ResourceExhaustedError).
    """
    options = options or CompileOptions()
    device = canonical_device(options.device)
    source = specialize(graph, feed_specs or {})
    source = replace(source, graph=attach_runners(source.graph, options))  # loop bodies
    if options.check_numerics:
        return Interpreter(source, device, check_finite(source.graph, device))
    if not (options.optimize or options.plan_memory):
        return Interpreter(source, device)
    fitted = PassRecord("specialize", True, len(graph.nodes), len(source.graph.nodes))
    return _build(source, options, device, [fitted])


def _build(source: Specialized, options: CompileOptions, device: str,
           records: list[PassRecord]) -> CompiledProgram:
    """Casts, passes, memory plan and executor for a specialised graph."""
    g = apply("insert_casts", insert_casts, source.graph, options, records)
    g = PASSES.run(g, options, records)
    plan: Plan | None = None
    slots: Slots = {}
    if options.plan_memory:
        marks = mark_inplace(g) if options.inplace else frozenset()
        if options.inplace:
            records.append(PassRecord("inplace", bool(marks), len(g.nodes), len(g.nodes)))
        # (plan_in_place places the offsets once, after the stacks took their operands)
        plan, slots = plan_in_place(g, marks) if options.inplace else (plan_memory(g, marks), {})
        plan.loops = loop_plans(g)  # each loop body planned once, now (compiler/loops.py)
        plan.providers = {} if options.exact else autotune(g, options.blas)  # GEMM libraries
        plan.validate()
    executor = with_cuda_graph(Executor(g, plan, device, slots), plan, options.cuda_graph)
    return CompiledProgram(g, plan, records, executor, source)


def inspect_plan(program: Program, options: CompileOptions) -> Plan:
    """The memory plan behind a program (``Session.plan``). A program that was not compiled
    (the interpreter) is compiled with planning on, only to show the plan it would get."""
    if isinstance(program, CompiledProgram):
        return program.inspect_plan()
    planned = replace(options, plan_memory=True, check_numerics=False)
    plan = _build(program.source, planned, canonical_device(options.device), []).plan
    assert plan is not None  # planning was switched on
    return plan
