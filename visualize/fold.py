"""Folding repeated steps: an unrolled loop drawn as its cell once, with repeat counts.

An RNN unrolled over T steps holds T copies of the same cell in the forward graph and T
copies of the cell's gradient in the backward graph. Drawn node by node, the T=64 training
graph has thousands of nodes and ``dot`` needs minutes. Folding groups nodes that compute
the same thing at different steps: two nodes are *alike* when their computation trees agree
to ``depth`` levels (op, attrs, shape, dtype, role; sources by identity; constants by
value; step-dependent slice indices ignored). This is the Weisfeiler-Lehman refinement
used for graph hashing, cut at a fixed depth. A group with at least ``min_repeats``
members is drawn as one node ``tanh x61``; its edges are merged and counted, and the edge
from a step's state to the next step's becomes a loop. The first ``depth`` steps (whose
trees still reach the loop's initial state) stay separate, so the picture shows how the
loop starts and then its folded body.

Name scopes help too: when nodes carry a ``step_N`` or ``t_N`` scope, that number is
dropped, so scoped steps fold even when their trees differ.

Example:
    >>> # folded = fold(graph); folded.group_of[node_id] -> group id; folded.members[gid]
"""

from __future__ import annotations

import re
from collections.abc import Container, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..graphs.ir import Graph, Node, freeze

_STEP_SCOPE = re.compile(r"(^|/)(step|t|time|timestep|cell)_?\d+(/|$)")
_NUMBER_SUFFIX = re.compile(r"_\d+(?=_|$)")  # MatMul_3, MatMul_3_grad
_STEP_ATTRS = ("index",)  # attrs whose integers name the step (a getitem's x[:, t, :])


@dataclass(frozen=True)
class Folded:
    """The grouping :func:`fold` found.

    Attributes:
        group_of: node id -> group id (the id of the group's first member).
        members: group id -> the node ids in it, in graph order.
        order: group ids in the order of their first members (a topological order of the
            unfolded graph restricted to first members).
    """

    group_of: dict[Any, Any]
    members: dict[Any, tuple[Any, ...]]
    order: tuple[Any, ...]

    @property
    def folded_count(self) -> int:
        """How many groups hold more than one node."""
        return sum(1 for m in self.members.values() if len(m) > 1)

    def __len__(self) -> int:
        return len(self.members)


def generalise_steps(value: Any) -> Any:
    """``value`` with every integer replaced by ``*`` (a step-independent pattern)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return "*"
    if isinstance(value, tuple):
        return tuple(generalise_steps(v) for v in value)
    return value


def _const_key(node: Node) -> Any:
    value = node.value
    size = getattr(value, "size", 1)
    if value is not None and size <= 16 and hasattr(value, "tolist"):
        return ("const", repr(value.tolist()))
    return ("const", node.id)  # big constants are told apart by identity


def _base(node: Node) -> Any:
    if node.kind in ("placeholder", "variable"):
        return ("source", node.id)
    if node.kind == "const":
        return (*_const_key(node), node.shape, node.dtype.name, node.role,
                _scope_pattern(node.name))
    attrs = []
    for key, value in sorted(node.attrs.items()):
        if key == "generator":
            continue
        frozen = freeze(value)
        attrs.append((key, generalise_steps(frozen) if key in _STEP_ATTRS else repr(frozen)))
    return (node.kind, node.op, node.role, node.shape, node.dtype.name, tuple(attrs),
            _scope_pattern(node.name))


def _scope_pattern(name: str) -> str:
    """The name scope with step numbers dropped: ``rnn/step_7/MatMul_3_grad`` and
    ``rnn/step_8/MatMul_5_grad`` give the same pattern. The outermost scope keeps its number
    (``unrolled_40`` and ``unrolled_10`` are different graphs sharing variables)."""
    if "/" not in name:
        return ""
    outer, _, inner = name.rsplit("/", 1)[0].partition("/")
    inner = _STEP_SCOPE.sub(r"\1#\3", inner)
    return outer + "/" + "/".join(_NUMBER_SUFFIX.sub("", part) for part in inner.split("/"))


def fold(graph: Graph | Sequence[Node], depth: int = 3, min_repeats: int = 3) -> Folded:
    """Groups the repeated-step nodes of ``graph`` (see the module docstring).

    Args:
        graph: a :class:`~tapeflow.graphs.ir.Graph` or its nodes in topological order.
        depth: how many levels of inputs two nodes must agree on to be alike.
        min_repeats: the smallest group that is folded; smaller ones stay separate nodes.
    """
    nodes = graph.nodes if isinstance(graph, Graph) else tuple(graph)
    return fold_keys([n.id for n in nodes], {n.id: _base(n) for n in nodes},
                     {n.id: n.inputs for n in nodes},
                     {n.id for n in nodes if n.kind in ("placeholder", "variable")},
                     depth, min_repeats)


def fold_keys(order: Sequence[Hashable], base: Mapping[Hashable, Hashable],
              inputs: Mapping[Hashable, Sequence[Hashable]], fixed: Container[Hashable] = (),
              depth: int = 3, min_repeats: int = 3) -> Folded:
    """The folding of any DAG (a static graph, a dynamic tape): ``order`` lists its vertices
    inputs first, ``base`` says what each computes locally, ``inputs`` its inputs (ids not in
    ``order`` count as distinct leaves); vertices in ``fixed`` never fold."""
    base_hash = {v: hash(base[v]) for v in order}
    label = dict(base_hash)
    for _ in range(depth):
        # one refinement round: a vertex's label becomes its base plus its inputs' labels
        label = {v: hash((base_hash[v], tuple(label.get(i, hash(("leaf", i)))
                                              for i in inputs.get(v, ()))))
                 for v in order}
    by_label: dict[Hashable, list[Hashable]] = {}
    for v in order:
        key = ("fixed", v) if v in fixed else label[v]
        by_label.setdefault(key, []).append(v)
    group_of: dict[Hashable, Hashable] = {}
    members: dict[Hashable, tuple[Hashable, ...]] = {}
    for ids in by_label.values():
        groups = [ids] if len(ids) >= min_repeats else [[i] for i in ids]
        for group in groups:
            gid = group[0]
            members[gid] = tuple(group)
            for i in group:
                group_of[i] = gid
    return Folded(group_of, members, tuple(v for v in order if group_of[v] == v))


def common_name(names: Sequence[str]) -> str:
    """A short name for a folded group: the first member's name without its ``_N`` suffix."""
    if not names:
        return ""
    first = names[0]
    return _NUMBER_SUFFIX.sub("", first) if len(names) > 1 else first
