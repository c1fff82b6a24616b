"""The summarised view of a static graph: an unrolled loop as one cell box marked x T.

A graph a learner can read first, as TensorBoard opens one: the repeated steps of an
unrolled loop (an RNN over T words) are drawn as *one* cell, boxed and marked ``x T``,
with the edge that carries the state to the next step drawn as a recurrence edge; the
backward graph gets its own cell (the gradient flows from step t+1 back to step t), and
the optimizer's name scope collapses into one box. Constants are left out (they appear in
the tooltips of the ops that read them). The op-level view stays one option away
(``static_graph(..., collapse=False)``).

How the cell is found: :func:`~tapeflow.visualize.fold.fold` groups nodes that compute
the same thing at different steps; the first steps, whose computation still reaches the
loop's initial state, stay apart there. :func:`cell_fold` then *absorbs* each such node
into the group it repeats (same op and attributes, each input from the same group, or
from another absorbed node), so a group holds one node per step.

Example:
    >>> # s = summarise(nodes); s.cells["forward"] -> (T, group ids in the cell)
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..graphs.ir import Node
from .fold import _NUMBER_SUFFIX, Folded, _base, fold

COLLAPSED_SCOPES = ("GradientDescent", "Adam", "Momentum", "RMSProp", "Adagrad")
_SCOPE_OF = re.compile(r"(^|/)(" + "|".join(COLLAPSED_SCOPES) + r")(/|$)")


@dataclass(frozen=True)
class Summary:
    """What the summarised view draws.

    Attributes:
        folded: the grouping (cells' repeated groups, collapsed scopes, single nodes).
        cells: role -> (T, group ids drawn inside that role's cell box).
        scopes: group id -> the collapsed name scope it stands for.
        hidden: ids of the constants left out of the drawing.
        through: id of an op drawn as a plain edge (a ``sum_to`` to the shape it already
            has: gradient bookkeeping that moves no data) -> the id its value comes from.
        loops: a cell drawn as one box (see :func:`collapse_cells`): its id -> (the role of
            the cell, how many ops one step of it runs).
    """

    folded: Folded
    cells: dict[str, tuple[int, tuple[int, ...]]]
    scopes: dict[int, str]
    hidden: frozenset[int]
    through: dict[int, int]
    loops: dict[int, tuple[str, int]] = field(default_factory=dict)

    def source(self, node_id: int) -> int:
        """Where the value ``node_id`` passes on comes from, looking through ``through``."""
        while node_id in self.through:
            node_id = self.through[node_id]
        return node_id


def cell_fold(nodes: Sequence[Node], min_repeats: int = 3) -> Folded:
    """:func:`fold`, then the loop's first steps absorbed into the groups they repeat."""
    folded = fold(nodes, min_repeats=min_repeats)
    by_id = {n.id: n for n in nodes}
    group_of = dict(folded.group_of)
    members = {g: list(m) for g, m in folded.members.items()}
    # compared against: a late step's member, whose inputs all come from the loop's groups
    reference = {g: [m[-1]] for g, m in members.items()}
    repeated = {g for g, m in members.items() if len(m) >= min_repeats}
    base = {n.id: _base(n) for n in nodes}
    by_base: dict[object, list[int]] = {}
    for g in repeated:
        by_base.setdefault(base[g], []).append(g)
    changed = True
    while changed:
        changed = False
        for n in nodes:
            if group_of[n.id] in repeated or n.kind != "call":
                continue
            target = _absorbing_group(n, by_id, by_base.get(base[n.id], []), group_of,
                                      repeated, reference)
            if target is not None:
                members.pop(group_of[n.id], None)
                group_of[n.id] = target
                members[target].append(n.id)
                changed = True
    position = {n.id: k for k, n in enumerate(nodes)}
    fixed: dict[int, tuple[int, ...]] = {}
    for ids in members.values():
        ids.sort(key=position.__getitem__)
        fixed[ids[0]] = tuple(ids)
        for i in ids:
            group_of[i] = ids[0]
    order = tuple(sorted(fixed, key=position.__getitem__))
    return Folded(group_of, fixed, order)


def _absorbing_group(node: Node, by_id: dict[int, Node], candidates: list[int],
                     group_of: dict[int, int], repeated: set[int],
                     members: dict[int, list[int]]) -> int | None:
    """The one repeated group ``node`` is a step of: each input comes from the same group
    as that input of the group's members, or from a node not (yet) in any repeated group."""
    fits = []
    for g in candidates:
        head = by_id[members[g][0]]
        if len(head.inputs) != len(node.inputs):
            continue
        ok = True
        for mine, theirs in zip(node.inputs, head.inputs, strict=True):
            mine_group, their_group = group_of.get(mine, mine), group_of.get(theirs, theirs)
            if their_group == g and mine_group in repeated:
                continue  # the start of an accumulation chain: add(g0, g1) before add(acc, g)
            if mine_group != their_group and mine_group in repeated:
                ok = False
                break
            if mine_group not in repeated and by_id.get(mine) is not None and \
                    by_id[mine].kind in ("variable", "placeholder") and mine != theirs:
                ok = False
                break
        if ok:
            fits.append(g)
    return fits[0] if len(fits) == 1 else None


def _collapsed_scope(name: str) -> str | None:
    match = _SCOPE_OF.search(name)
    return name[:match.end(2)] if match else None


def _group_parallel(nodes: Sequence[Node], group_of: dict[int, int], looped: set[int],
                    scopes: dict[int, str], min_repeats: int) -> None:
    """Single ops that repeat side by side (one ``ClipByValue`` per gradient) become one
    box: same role, op and name without its number; at least ``min_repeats`` of them."""
    alike: dict[tuple[str, str, str], list[int]] = {}
    for n in nodes:
        gid = group_of.get(n.id)
        if n.kind != "call" or gid is None or gid in looped or gid in scopes:
            continue
        name = _NUMBER_SUFFIX.sub("", n.name.rsplit("/", 1)[-1])
        alike.setdefault((n.role, n.op, name), []).append(n.id)
    for ids in alike.values():
        if len(ids) >= min_repeats:
            for i in ids:
                group_of[i] = ids[0]


def summarise(nodes: Sequence[Node], min_repeats: int = 3) -> Summary:
    """The grouping of the summarised view of ``nodes`` (topological order)."""
    folded = cell_fold(nodes, min_repeats)
    by_id = {n.id: n for n in nodes}
    hidden = frozenset(n.id for n in nodes if n.kind == "const")
    through = {n.id: n.inputs[0] for n in nodes if n.op == "sum_to" and n.inputs
               and n.inputs[0] in by_id and by_id[n.inputs[0]].shape == n.shape}
    group_of = {i: g for i, g in folded.group_of.items()
                if i not in hidden and i not in through}
    looped = {g for g, m in folded.members.items() if len(m) >= min_repeats}
    scope_head: dict[str, int] = {}
    scopes: dict[int, str] = {}
    for n in nodes:
        scope = _collapsed_scope(n.name) if n.kind not in ("variable", "placeholder") else None
        if scope is None or n.id not in group_of:
            continue
        head = scope_head.setdefault(scope, n.id)
        scopes[head] = scope
        group_of[n.id] = head
    _group_parallel(nodes, group_of, looped, scopes, min_repeats)
    members: dict[int, list[int]] = {}
    for n in nodes:
        if n.id in group_of:
            members.setdefault(group_of[n.id], []).append(n.id)
    # a group is named by its first drawn member (the first may have been looked through)
    scopes = {members[g][0]: scope for g, scope in scopes.items()}
    members = {m[0]: m for m in members.values()}
    group_of = {i: g for g, m in members.items() for i in m}
    looped_members = {i for g in looped for i in folded.members[g]}
    cells: dict[str, tuple[int, tuple[int, ...]]] = {}
    for role in ("forward", "backward"):
        inside = [g for g, m in members.items() if len(m) >= min_repeats and g not in scopes
                  and m[-1] in looped_members
                  and by_id[g].role == role]
        if inside:
            # the loop's length: what most of the forward cell's groups hold (the backward
            # cell of the same loop may miss a step, e.g. no gradient for the initial state)
            steps = cells["forward"][0] if "forward" in cells else \
                Counter(len(members[g]) for g in inside).most_common(1)[0][0]
            cells[role] = (steps, tuple(inside))
    order = tuple(n.id for n in nodes if group_of.get(n.id) == n.id)
    return Summary(Folded(group_of, {g: tuple(m) for g, m in members.items()}, order),
                   cells, scopes, hidden, through)


def collapse_cells(summary: Summary) -> Summary:
    """``summary`` with each loop cell drawn as one box (TensorBoard's closed name scope):
    every group of the cell merges into the cell's first group."""
    if not summary.cells:
        return summary
    group_of = dict(summary.folded.group_of)
    members = {g: list(m) for g, m in summary.folded.members.items()}
    cells: dict[str, tuple[int, tuple[int, ...]]] = {}
    loops: dict[int, tuple[str, int]] = {}
    for role, (steps, groups) in summary.cells.items():
        head = groups[0]
        for g in groups[1:]:
            for i in members.pop(g):
                group_of[i] = head
                members[head].append(i)
        cells[role] = (steps, (head,))
        loops[head] = (role, len(groups))
    order = tuple(g for g in summary.folded.order if g in members)
    return Summary(Folded(group_of, {g: tuple(m) for g, m in members.items()}, order), cells,
                   summary.scopes, summary.hidden, summary.through, loops)
