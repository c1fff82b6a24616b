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

1. *Free* forward values are one computing call from the sources, data movement (views,
   ``MOVES``) aside: a slice of a fed input, a zero initial state, ``dot_merge``'s product
   of a block of stacked input steps with a weight. Wherever the schedule puts them, a
   clone recomputes them from the sources, so they never need a checkpoint and do not
   count as crossing edges. The other forward calls form the *chain*. A chain node is an
   articulation point when no chain value made before it is read after it: cutting there
   splits the forward in two.
2. The checkpoint candidates are the stashed articulation points that own memory (not
   views, fixed shape, not returned by the run). ``recompute="sqrt"`` keeps about every
   k-th candidate, ``k = round(sqrt(n))`` for ``n`` candidates: about ``2 sqrt(n)`` stashed
   values are alive at once instead of ``n``, for about one extra forward pass. A backward
   op that reads several stashed values at once (``dot_merge``'s stack of a block of states
   for one weight-gradient product) must not straddle a checkpoint, or two segments would
   be rebuilt together: each checkpoint is the *clean* cut nearest k past the previous
   one (:func:`clean_cuts`; ``dot_merge``'s blocks of sqrt(T) steps line up with them).
   When the planned arena would not shrink, the graph is left as it was.
3. ``recompute=<bytes>``: the fewest recomputations that fit. No recomputation if the plain
   plan's arena fits; else spacings ``k = 1, 2, ...`` are tried in turn, each planned (the
   in-place set, stacks written in place, greedy-by-size offsets, as compile does), and the
   first whose arena fits the budget is taken; when none does, the smallest arena found,
   or the graph as it was when no spacing shrinks the arena at all.

A backward ``stack`` that reads clones reads a *copy* of any kept forward value it stacks
(a checkpoint): the planner writes a stack's operands straight into its slices, and a
checkpoint written there would hold the whole stack from the forward pass on.

Clones and copies have role ``"recompute"`` and a name ending in ``/recompute``: that is how
``Session.plan``, the memory chart and the graph drawings tell them apart.

Never changes results: a clone runs the same kernel on the same bits as the original (no
summation order changes), and nodes with random draws (``random`` ops, a ``generator``
attribute), control flow and variables are never recomputed. The memory plan, its
validator and ``Session.plan`` see clones as ordinary calls.

Example:
    >>> # program = compile(graph, feeds, CompileOptions(recompute="sqrt"))
    >>> # [n.op for n in program.graph.nodes if n.role == "recompute"]
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable

from ...graphs.ir import CONTROL_OPS, Graph, Node
from ...graphs.liveness import is_view
from .lowering import concrete
from .planner import is_arena_value, mark_inplace, outside_arena, plan_in_place

#: what ``CompileOptions.recompute`` may be besides a positive byte budget
MODES = (None, "sqrt")
#: ops that only move data: they do not count as a computing step towards a free value
MOVES = frozenset({"stack", "copy", "concat"})


def check_setting(setting: object) -> None:
    """Raises ValueError unless ``setting`` is None, "sqrt" or a positive int of bytes."""
    if setting in MODES and not isinstance(setting, bool):
        return
    if isinstance(setting, int) and not isinstance(setting, bool) and setting > 0:
        return
    raise ValueError(f"CompileOptions.recompute must be None, 'sqrt' or a budget in bytes "
                     f"(a positive int), got {setting!r}")


def recomputable(n: Node) -> bool:
    """Whether a forward node may be run a second time with the same result (a call with
    no inputs too, such as a zero initial state: it costs a fill instead of a buffer)."""
    return (n.kind == "call" and n.role == "forward" and n.op not in CONTROL_OPS
            and n.opdef.kind != "random" and "generator" not in n.attrs)


def candidates(graph: Graph) -> list[Node]:
    """The stashed articulation points of the forward chain, in schedule order."""
    users = graph.users()
    outside = outside_arena(graph)
    depth: dict[int, int] = {}  # computing calls on the longest path from the sources
    for n in graph.nodes:
        moves = n.kind != "call" or is_view(n) or n.op in MOVES
        depth[n.id] = max((depth[i] for i in n.inputs), default=0) + (not moves)
    chain = [n for n in graph.nodes if n.kind == "call" and n.role == "forward"
             and depth[n.id] > 1]
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


def clean_cuts(graph: Graph, found: list[Node]) -> list[int]:
    """The positions in ``found`` where a checkpoint splits no gathering backward reader.

    A backward node that reads several candidates at once (``dot_merge``'s stack of a
    block's states for one weight-gradient product) needs all of them alive together: a
    checkpoint strictly inside the range it reads would put two segments' recomputations
    in memory at once, so only positions outside every such range are clean.
    """
    pos = {n.id: k for k, n in enumerate(found)}
    inside = [0] * (len(found) + 1)  # a difference array over the unclean positions
    for n in graph.nodes:
        read = [pos[i] for i in n.inputs if i in pos]
        if n.role != "forward" and len(set(read)) > 1 and max(read) - min(read) > 1:
            inside[min(read) + 1] += 1
            inside[max(read)] -= 1
    clean, depth = [], 0
    for k in range(len(found)):
        depth += inside[k]
        if depth == 0:
            clean.append(k)
    return clean


def spaced(found: list[Node], spacing: int, clean: list[int]) -> list[int]:
    """The ids of checkpoints about ``spacing`` candidates apart: each the clean position
    nearest to ``spacing`` past the previous one (every ``spacing``-th when all are clean)."""
    chosen: list[int] = []
    last = -1
    while last + spacing <= len(found) - 1:
        target = last + spacing
        k = bisect.bisect_left(clean, target)
        near = [p for p in clean[max(k - 1, 0):k + 1] if p > last]
        if not near:
            break
        last = min(near, key=lambda p: (abs(p - target), p))
        chosen.append(found[last].id)
    return chosen


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
            inputs = []
            for i in n.inputs:
                if (i not in clone_of and n.op == "stack"
                        and _copied(graph[i], order, next_id, outside)):
                    i, next_id = next_id, next_id + 1  # read the copy instead
                inputs.append(clone_of.get(i, i))
            n = n.with_(inputs=tuple(inputs))
        order.append(n)
    if not clone_of:
        return graph, False
    return Graph(tuple(order), graph.outputs), True


def _copied(n: Node, order: list[Node], new_id: int, outside: set[int]) -> bool:
    """Whether a backward ``stack`` (that reads clones) reads a copy of ``n``, made just
    before it as node ``new_id``: when ``n`` is a kept forward value with a buffer of its
    own. The planner writes a stack's operands straight into its slices
    (``planner.stack_in_place``); a checkpoint written there would hold the whole stack,
    a block of a segment's states, from the forward pass on."""
    if n.role != "forward" or not is_arena_value(n, outside):
        return False
    order.append(n.with_(id=new_id, op="copy", inputs=(n.id,), attrs={}, role="recompute",
                         name=f"{n.name or n.op}/recompute"))
    return True


def arena_of(graph: Graph) -> int:
    """The arena compile would plan for ``graph`` (in-place writes, stacks written in
    place)."""
    return plan_in_place(graph, mark_inplace(graph))[0].arena_bytes


def _within_budget(graph: Graph, found: list[Node], budget: int) -> tuple[Graph, bool]:
    plain = arena_of(graph)
    if plain <= budget:
        return graph, False
    best: tuple[int, Graph, bool] | None = None
    rising = 0
    clean = clean_cuts(graph, found)
    for spacing in range(1, len(found) + 2):
        trial, changed = with_clones(graph, spaced(found, spacing, clean))
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
    if best[0] >= plain:  # no spacing shrinks the arena: clones would only cost compute
        return graph, False
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
    trial, changed = with_clones(graph, spaced(found, spacing, clean_cuts(graph, found)))
    if changed and arena_of(trial) >= arena_of(graph):
        return graph, False  # a backward op reads every stashed value at once: no gain
    return trial, changed
