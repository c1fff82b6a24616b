"""The static compiler's one entry point: ``compile(graph, feed_specs, options) -> Program``.

1. ``specialize``: feeds bound, pruned to the outputs, checked, shapes inferred from the
   fed shapes (the only place this happens);
2. with ``check_numerics``, or with both ``optimize`` and ``plan_memory`` off, the plain
   :class:`~.interpreter.Interpreter` runs that graph (the numerics check is its hook);
3. otherwise dtype promotion is made explicit (``cast`` nodes), the passes of
   :data:`PASSES` run in order (each switchable by name, ``graphs.verify`` after each),
   then the planner: the in-place set, the memory plan, ``stack``s written in place,
   the plan validated; the executor binds the schedule as straight-line Python.

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

from ...graphs.ir import Graph, verify
from ...runtime import Spec
from ...runtime.backend import canonical_device
from .cuda_graph import with_cuda_graph
from .dot_merge import dot_merge
from .executor import Executor
from .inplace import Slots, mark_inplace, stack_in_place
from .interpreter import Interpreter, check_finite
from .layout import materialize_transposes
from .lowering import lower
from .options import CompileOptions, UnknownPassError, switch_names
from .passes import Pass, cse, dce, fold_constants, insert_casts, simplify
from .planner import Plan, plan_memory
from .program import CompiledProgram, PassRecord, Program
from .schedule import reorder_for_memory
from .specialize import Specialized, specialize


@dataclass(frozen=True)
class PassEntry:
    """One pass of the pipeline; ``name`` is also its ``CompileOptions`` switch."""

    name: str
    fn: Pass
    optimization: bool = True  # runs only while CompileOptions.optimize is on
    # changes the order of floating-point arithmetic or a kernel's operand layout: off
    # under CompileOptions(exact=True), whatever its switch says
    inexact: bool = False


class PassList:
    """The passes in order, with their switches: the only place that decides what runs.

    Example:
        >>> PASSES.selected(CompileOptions(exact=True, cse=False))[0].name
        'fold_constants'
        >>> PASSES.check(["cse", "dot_merj"])
        Traceback (most recent call last):
        ...
        tapeflow.static.compiler.options.UnknownPassError: unknown pass 'dot_merj'; ...
    """

    def __init__(self, entries: Iterable[PassEntry]) -> None:
        self.entries = tuple(entries)
        unswitched = [e.name for e in self.entries if e.name not in switch_names()]
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
        for entry in self.selected(options):
            graph = apply(entry.name, entry.fn, graph, options, records)
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
    PassEntry("simplify", simplify),
    PassEntry("dot_merge", dot_merge, inexact=True),
    PassEntry("lower", lower),
    PassEntry("cse", cse),
    # (bit-identical on numpy's OpenBLAS, but another BLAS may sum a packed copy otherwise)
    PassEntry("materialize_transposes", materialize_transposes, inexact=True),
    PassEntry("dce", dce),
    PassEntry("reorder", reorder_for_memory, optimization=False),
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
        plan = plan_memory(g, marks)
        if options.inplace:
            plan, slots = stack_in_place(g, plan, marks)
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
