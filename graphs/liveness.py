"""Liveness over a schedule: when each value is made, when it is last read, what it aliases.

A *schedule* is the list of ``call`` nodes in the order they run; step ``i`` runs
``schedule[i]``. Sources (placeholders, variables, consts) exist before step 0 (step -1).
Like torch.fx's ``register_last_uses``, one forward walk records each value's last reader.

Views (ops declared ``view=True``) own no memory: their *storage root* is the root of their
input 0, and every read of a view counts as a read of that root, so a buffer stays alive
while any view of it is still needed.

Example:
    >>> from tapeflow.graphs.liveness import analyze
    >>> # live = analyze(graph.nodes, graph.outputs); live.lifetime(root_id) -> (first, last)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .ir import Node

SOURCE_STEP = -1  # sources exist before the first step


def is_view(node: Node) -> bool:
    """Whether ``node`` is a call of a view op (its output aliases its input 0)."""
    return node.kind == "call" and node.opdef.view


@dataclass(frozen=True)
class Liveness:
    """The result of :func:`analyze`.

    Attributes:
        schedule: the ids of the call nodes, in run order.
        step_of: node id -> the step that makes it (``-1`` for sources).
        last_use: node id -> the last step that reads it (its own step when nobody reads it;
            ``end`` for values the graph returns).
        root: node id -> the id of the node that owns its memory (itself unless a view).
        end: one past the last step (the step at which outputs are handed back).
        root_last: storage root -> the last step that reads it or any view of it.
        members: storage root -> the view nodes that alias it.
    """

    schedule: tuple[int, ...]
    step_of: dict[int, int]
    last_use: dict[int, int]
    root: dict[int, int]
    end: int
    root_last: dict[int, int]
    members: dict[int, tuple[int, ...]]

    def lifetime(self, root: int) -> tuple[int, int]:
        """(first, last) step during which the storage owned by ``root`` must stay intact."""
        return self.step_of[root], self.root_last[root]

    def views_of(self, root: int) -> tuple[int, ...]:
        """The view nodes whose memory belongs to ``root`` (not including ``root``)."""
        return self.members.get(root, ())


def analyze(nodes: Sequence[Node], outputs: Iterable[int] = ()) -> Liveness:
    """Lifetimes of every value in ``nodes`` (topological order) run as one schedule.

    ``outputs`` are read after the last step, so they live to ``end``. Assign nodes are
    not steps; they read their value at ``end`` too (the update is taken after the run).
    """
    schedule = tuple(n.id for n in nodes if n.kind == "call")
    step_of: dict[int, int] = {}
    last_use: dict[int, int] = {}
    root: dict[int, int] = {}
    end = len(schedule)
    step = 0
    for n in nodes:
        if n.kind == "call":
            step_of[n.id] = step
            for i in n.inputs:
                last_use[i] = step  # steps only grow, so the latest write is the last use
            step += 1
        elif n.kind == "assign":
            step_of[n.id] = end
            for i in n.inputs:
                last_use[i] = end
        else:
            step_of[n.id] = SOURCE_STEP
        last_use.setdefault(n.id, step_of[n.id])
        root[n.id] = root[n.inputs[0]] if is_view(n) else n.id
    for o in outputs:
        last_use[o] = end
    root_last: dict[int, int] = {}
    members: dict[int, list[int]] = {}
    for n in nodes:
        r = root[n.id]
        root_last[r] = max(root_last.get(r, SOURCE_STEP), last_use[n.id])
        if r != n.id:
            members.setdefault(r, []).append(n.id)
    return Liveness(schedule, step_of, last_use, root, end, root_last,
                    {r: tuple(m) for r, m in members.items()})


def overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """Whether two inclusive step ranges share a step (a step's inputs and output coexist)."""
    return a[0] <= b[1] and b[0] <= a[1]
