"""The execution contract between ``Session`` and whatever runs a specialised graph.

``compile(graph, feed_specs, options)`` (``pipeline.py``) gives a Program, once per
(fetches, feed signature); ``Session.run`` then calls it:

* ``Program.source`` is the :class:`~.specialize.Specialized` graph it was made from: its
  ``feed_ids`` (the feeds it reads), ``read_vars`` (the variables it reads) and
  ``assigned`` (the variables it writes);
* ``Program.run(feeds, variables)`` gets the fed arrays and the values of ``read_vars``
  (both keyed by node id; values from the start of the run; never to be written into) and
  returns ``(values, updates)``: one value per ``source.graph.outputs`` entry, in order (an
  assign node's value is the value it assigns; a Program may return None for an output
  that only a fetched op needs, as the session never reads it), and the NEW variable values
  (``{variable node id: array}``, the last assign of a variable wins). The session commits
  ``updates`` only after ``run`` returned, all at once, so a failed or interrupted run
  changes no variable;
* a Program whose returned values and updates are never the very feed or variable arrays
  it was given (arrays made for the run, or views of those) says so with a true class
  attribute ``fresh_results``; the session then skips checking each value against them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from ...graphs.ir import Graph
from .executor import Executor
from .inplace import mark_inplace
from .planner import Plan, plan_memory
from .specialize import Specialized


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
