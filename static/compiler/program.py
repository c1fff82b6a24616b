"""The execution contract between ``Session`` and whatever runs a pruned graph.

``Session.run`` prunes the graph to what its fetches need (a ``graphs.ir.Graph`` whose
``outputs`` are the fetched tensors' ids followed by the ids that fetched ops run), then asks
:func:`build_program` for a :class:`Program`, once per (fetches, feed signature):

* the graph arrives *specialised*: every fed node is a ``placeholder`` carrying the fed
  shape and dtype, and every call node the shape inferred from those;
* ``Program.run(feeds, variables)`` gets the fed arrays and the values of the variables the
  graph reads (both keyed by node id; values from the start of the run; never to be written
  into) and returns ``(values, updates)``: one value per ``graph.outputs`` entry, in order
  (an assign node's value is the value it assigns; a Program may return None for an output
  that only a fetched op needs, as the session never reads it), and the NEW variable values
  (``{variable node id: array}``, the last assign of a variable wins). The session commits
  ``updates`` only after ``run`` returned, so a failed run changes no variable.
* a Program whose returned values and updates are never the very feed or variable arrays
  it was given (arrays made for the run, or views of those) says so with a true class
  attribute ``fresh_results``; the session then skips checking each value against them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ...graphs.ir import Graph


@dataclass(frozen=True)
class CompileOptions:
    """How a Session turns a pruned graph into a Program.

    Example:
        >>> CompileOptions(optimize=False).plan_memory
        True
    """

    optimize: bool = True  # run the compiler's graph passes (when a compiler is plugged in)
    plan_memory: bool = True  # place intermediates in one planned arena
    device: str = "cpu"  # where arrays live: "cpu" (numpy) or "gpu" (cupy)
    # compiler hook: each optimisation on its own (used only while ``optimize`` is on)
    fold_constants: bool = True
    cse: bool = True
    simplify: bool = True
    # one GEMM for matmuls that share an operand across unrolled steps (compiler/dot_merge.py);
    # it changes the order of summation: results equal to float tolerance, not bit for bit
    dot_merge: bool = True
    # one row-major copy per run of a weight that many matmuls read transposed (the
    # backward g @ w.T of every unrolled step): BLAS packs it faster (static/compiler/layout.py)
    materialize_transposes: bool = True
    dce: bool = True
    reorder: bool = True  # memory-aware schedule: reductions run as soon as they can
    inplace: bool = True  # in-place writes (part of planning: used while plan_memory is on)
    # debugging: run node by node and stop at the first NaN/Inf (static/numerics.py)
    check_numerics: bool = False


class Program(Protocol):
    """A runnable pruned graph: see the module docstring for the contract."""

    def run(self, feeds: Mapping[int, Any], variables: Mapping[int, Any]
            ) -> tuple[list[Any], dict[int, Any]]: ...


def build_program(graph_ir: Graph, feed_ids: tuple[int, ...],
                  options: CompileOptions | None = None) -> Program:
    """The Program for ``graph_ir`` fed at ``feed_ids``: for now the plain interpreter.

    Example:
        >>> # program = build_program(pruned, (feed_id,), CompileOptions())
        >>> # values, updates = program.run({feed_id: x}, {var_id: w})
    """
    from .interpreter import InterpretedProgram

    options = options or CompileOptions()
    if getattr(options, "check_numerics", False):
        from ..numerics import CheckedProgram

        return CheckedProgram(graph_ir, feed_ids, options)
    # compiler hook: optimised and/or memory-planned programs come from static/compiler/pipeline.py
    if options.optimize or options.plan_memory:
        from .pipeline import compile_program

        return compile_program(graph_ir, feed_ids, options)
    return InterpretedProgram(graph_ir, feed_ids, options)
