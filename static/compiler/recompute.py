"""Trading compute for memory: drop forward values, recompute them in the backward pass.

Without this pass every forward value that the backward reads (a *stashed* value: tanh's
output, a matmul's input) stays alive from the forward step that makes it to the backward
step that reads it, so an unrolled network of ``n`` steps holds ``n`` of them at the turn
from forward to backward. The pass keeps only some of them (the *checkpoints*) and gives the
backward readers of the rest a **recomputation**: a clone of the forward node (role
``"recompute"``, same op, same attributes) that reads the checkpoints or other clones. The
clones are put in the schedule just before their first reader, so one segment between two
checkpoints is rebuilt at a time, when the backward sweep reaches it (Chen et al. 2016,
"Training Deep Nets with Sublinear Memory Cost"; MXNet's memory-optimisation note).

The method:

1. *Free* forward values read sources only (a slice of a fed input, a weight's transpose,
   a zero initial state): wherever the schedule puts them, a clone recomputes them from the
   sources, so they never need a checkpoint and do not count as crossing edges. The other
   forward calls form the *chain*. A chain node is an articulation point when no chain
   value made before it is read after it: cutting there splits the forward in two.
2. The checkpoint candidates are the stashed articulation points that own memory (not
   views, fixed shape, not returned by the run). ``recompute="sqrt"`` keeps every k-th
   candidate, ``k = round(sqrt(n))`` for ``n`` candidates: about ``2 sqrt(n)`` stashed values
   are alive at once instead of ``n``, for about one extra forward pass. When the planned
   arena would not shrink (a backward op that reads all stashed values at once, such as
   ``dot_merge``'s stacked weight-gradient GEMM), the graph is left as it was.
3. ``recompute=<bytes>``: the fewest recomputations that fit. No recomputation if the plain
   plan's arena fits; else spacings ``k = 1, 2, ...`` are tried in turn, each planned (the
   in-place set and greedy-by-size offsets, as compile does), and the first whose arena
   fits the budget is taken; when none does, the smallest arena found.

Never changes results: a clone runs the same kernel on the same bits as the original (no
summation order changes), and nodes with random draws (``random`` ops, a ``generator``
attribute), control flow and variables are never recomputed. The memory plan, its
validator and ``Session.plan`` see clones as ordinary calls.

Example:
    >>> # program = compile(graph, feeds, CompileOptions(recompute="sqrt"))
    >>> # [n.op for n in program.graph.nodes if n.role == "recompute"]
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from ...graphs.ir import CONTROL_OPS, Graph, Node
from ...graphs.liveness import is_view
from .lowering import concrete
from .planner import mark_inplace, outside_arena, plan_memory

#: what ``CompileOptions.recompute`` may be besides a positive byte budget
MODES = (None, "sqrt")


def check_setting(setting: object) -> None:
    """Raises ValueError unless ``setting`` is None, "sqrt" or a positive int of bytes."""
    if setting in MODES and not isinstance(setting, bool):
        return
    if isinstance(setting, int) and not isinstance(setting, bool) and setting > 0:
        return
    raise ValueError(f"CompileOptions.recompute must be None, 'sqrt' or a budget in bytes "
                     f"(a positive int), got {setting!r}")


def recomputable(n: Node) -> bool:
    """Whether a forward node may be run a second time with the same result."""
    return (n.kind == "call" and n.role == "forward" and bool(n.inputs)
            and n.op not in CONTROL_OPS and n.opdef.kind != "random"
            and "generator" not in n.attrs)


def candidates(graph: Graph) -> list[Node]:
    """The stashed articulation points of the forward chain, in schedule order."""
    users = graph.users()
    outside = outside_arena(graph)
    sources = {n.id for n in graph.nodes if n.kind != "call" or not n.inputs}
    chain = [n for n in graph.nodes if n.kind == "call" and n.role == "forward"
             and not all(i in sources for i in n.inputs)]
    pos = {n.id: k for k, n in enumerate(chain)}
    last: dict[int, int] = {}
    for n in chain:
        for i in n.inputs:
            if i in pos:
                last[i] = max(last.get(i, -1), pos[n.id])
    found: list[Node] = []
    reach = -1  # the latest chain position read by a value made so far
    for k, n in enumerate(chain):
        stashed = any(graph[u].role != "forward" for u in users[n.id])
        if (reach <= k and stashed and recomputable(n) and not is_view(n)
                and concrete(n.shape) and n.id not in outside):
            found.append(n)
        reach = max(reach, last.get(n.id, -1))
    return found


def with_clones(graph: Graph, keep: Iterable[int]) -> tuple[Graph, bool]:
    """``graph`` with every backward read of a droppable forward value (not in ``keep``)
    moved to a clone, each clone placed just before its first reader."""
    kept = set(keep)
    outside = outside_arena(graph)
    dropped: set[int] = set()
    for n in graph.nodes:
        if not recomputable(n) or n.id in kept or n.id in outside:
            continue
        if is_view(n) and n.inputs[0] not in dropped:
            continue  # a view of a kept value costs nothing to keep
        dropped.add(n.id)
    clone_of: dict[int, int] = {}
    next_id = max((n.id for n in graph.nodes), default=-1) + 1
    order: list[Node] = []

    def clone(root: int) -> None:
        # post-order without recursion: a segment may be long
        nonlocal next_id
        stack = [root]
        while stack:
            nid = stack[-1]
            if nid in clone_of:
                stack.pop()
                continue
            missing = [i for i in graph[nid].inputs if i in dropped and i not in clone_of]
            if missing:
                stack.extend(missing)
                continue
            stack.pop()
            n = graph[nid]
            inputs = tuple(clone_of.get(i, i) for i in n.inputs)
            order.append(n.with_(id=next_id, inputs=inputs, role="recompute",
                                 name=f"{n.name or n.op}/recompute"))
            clone_of[nid] = next_id
            next_id += 1

    for n in graph.nodes:
        if n.role != "forward" and any(i in dropped for i in n.inputs):
            for i in n.inputs:
                if i in dropped:
                    clone(i)
            n = n.with_(inputs=tuple(clone_of.get(i, i) for i in n.inputs))
        order.append(n)
    if not clone_of:
        return graph, False
    return Graph(tuple(order), graph.outputs), True


def every_kth(found: list[Node], spacing: int) -> list[int]:
    """The ids of every ``spacing``-th candidate (the checkpoints)."""
    return [n.id for n in found[spacing - 1::spacing]]


def arena_of(graph: Graph) -> int:
    """The arena compile would plan for ``graph`` (in-place writes on, stack slots aside)."""
    return plan_memory(graph, mark_inplace(graph)).arena_bytes


def _within_budget(graph: Graph, found: list[Node], budget: int) -> tuple[Graph, bool]:
    if arena_of(graph) <= budget:
        return graph, False
    best: tuple[int, Graph, bool] | None = None
    rising = 0
    for spacing in range(1, len(found) + 2):
        trial, changed = with_clones(graph, every_kth(found, spacing))
        arena = arena_of(trial)
        if arena <= budget:
            return trial, changed
        if best is not None and arena >= best[0]:
            rising += 1
            if rising >= 3:  # past the bottom of the curve: wider spacings only cost more
                break
        else:
            rising = 0
        if best is None or arena < best[0]:
            best = (arena, trial, changed)
    assert best is not None
    return best[1], best[2]


def recompute(graph: Graph, setting: object = "sqrt") -> tuple[Graph, bool]:
    """The pass: ``setting`` is ``CompileOptions.recompute`` ("sqrt" or a byte budget).

    Example:
        >>> from tapeflow.graphs import Graph
        >>> recompute(Graph((), ()), "sqrt")
        (Graph(nodes=(), outputs=()), False)
    """
    check_setting(setting)
    if setting is None:
        return graph, False
    found = candidates(graph)
    if isinstance(setting, int):
        return _within_budget(graph, found, setting)
    spacing = max(1, round(math.sqrt(len(found))))
    trial, changed = with_clones(graph, every_kth(found, spacing))
    if changed and arena_of(trial) >= arena_of(graph):
        return graph, False  # a backward op reads every stashed value at once: no gain
    return trial, changed
