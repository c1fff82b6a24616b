"""The graph IR both modes share: plain frozen nodes in topological order.

A :class:`Node` is one value: a source (``placeholder``, ``variable``, ``const``), a
``call`` of a registry op on earlier nodes, or an ``assign`` that writes a new value into
a variable (the only side effect). A :class:`Graph` is a tuple of nodes in topological
order plus the ids of its outputs. Passes are functions ``Graph -> (Graph, changed)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ..runtime import get as get_op
from ..runtime.dtypes import DType
from ..runtime.registry import Shape, format_shape

KINDS = ("placeholder", "variable", "const", "call", "assign")
ROLES = ("forward", "backward", "update", "recompute")  # recompute: static/compiler/recompute.py

#: structured control-flow ops (``while``, ``cond`` and their output projection), which own
#: body graphs and so cannot live in the runtime registry (graphs/control.py fills these)
CONTROL_OPS: dict[str, Any] = {}
#: op name -> check of a control node's body signatures, run by :func:`verify`
BODY_CHECKS: dict[str, Any] = {}


def op_of(name: str) -> Any:
    """The OpDef of ``name``: a control-flow op, else the runtime registry's entry."""
    found = CONTROL_OPS.get(name)
    return found if found is not None else get_op(name)


class IRError(AssertionError):
    """The IR broke one of its invariants (a bug in a pass or a builder, not a user error)."""


def freeze(value: Any) -> Any:
    """A hashable form of an attribute value (lists -> tuples, dicts -> sorted tuples)."""
    if isinstance(value, dict):
        return tuple(sorted((k, freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    if isinstance(value, slice):
        return ("slice", value.start, value.stop, value.step)
    return value


@dataclass(frozen=True, eq=False)
class Node:
    """One value in a graph.

    ``op`` is the registry op for ``call`` nodes and ``""`` for the rest. ``attrs`` are the
    op's keyword attributes. ``value`` holds a const's array. ``name`` is the user-facing
    name (``MatMul_1``), ``site`` the user's source line that built it, and ``role`` says
    which part of a training graph the node belongs to (forward, backward, update).
    """

    id: int
    kind: str
    op: str
    inputs: tuple[int, ...]
    attrs: Mapping[str, Any]
    shape: Shape
    dtype: DType
    name: str = ""
    site: str = ""
    role: str = "forward"
    value: Any = field(default=None, repr=False)

    @property
    def opdef(self):
        return op_of(self.op)

    def key(self) -> tuple[Any, ...]:
        """What makes two call nodes compute the same value (for CSE)."""
        return (self.kind, self.op, self.inputs, freeze(dict(self.attrs)))

    def with_(self, **changes: Any) -> Node:
        return replace(self, **changes)

    def format(self) -> str:
        args = ", ".join(f"%{i}" for i in self.inputs)
        attrs = ", ".join(f"{k}={_short(v)}" for k, v in self.attrs.items() if k != "generator")
        head = f"%{self.id}: {self.dtype.name}{format_shape(self.shape)}"
        if self.kind == "call":
            body = f"{self.op}({args}{', ' if args and attrs else ''}{attrs})"
        elif self.kind == "assign":
            body = f"assign({args})"
        elif self.kind == "const":
            body = f"const({_short(self.value)})"
        else:
            body = f"{self.kind}()"
        suffix = f"  # {self.name}" if self.name else ""
        return f"{head} = {body}{suffix}"


def _short(value: Any) -> str:
    shape = getattr(value, "shape", None)
    if shape is not None and getattr(value, "size", 0) > 4:
        return f"array{tuple(shape)}"
    if shape is not None:
        return repr(value.tolist())
    return repr(value)


@dataclass(frozen=True, eq=False)
class Graph:
    """Nodes in topological order (every input id appears before its user) and outputs."""

    nodes: tuple[Node, ...]
    outputs: tuple[int, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {n.id: n for n in self.nodes})

    def __getitem__(self, node_id: int) -> Node:
        return self._by_id[node_id]  # type: ignore[attr-defined]

    def __contains__(self, node_id: int) -> bool:
        return node_id in self._by_id  # type: ignore[attr-defined]

    def __len__(self) -> int:
        return len(self.nodes)

    def users(self) -> dict[int, list[int]]:
        """For each node id, the ids of the nodes that read it (in order)."""
        result: dict[int, list[int]] = {n.id: [] for n in self.nodes}
        for n in self.nodes:
            for i in n.inputs:
                result[i].append(n.id)
        return result

    def format(self) -> str:
        """A readable printout, one node a line (in the spirit of a jaxpr or torch.fx graph)."""
        lines = [n.format() for n in self.nodes]
        lines.append("return " + ", ".join(f"%{o}" for o in self.outputs))
        return "\n".join(lines)

    __str__ = format


def toposort(nodes: Mapping[int, Node], roots: Iterable[int]) -> list[int]:
    """The ids needed to compute ``roots``, inputs before users; iterative (no recursion).

    Ties keep the order of node ids, so a schedule follows the order the user built.
    """
    needed: set[int] = set()
    stack = list(roots)
    while stack:
        nid = stack.pop()
        if nid in needed:
            continue
        if nid not in nodes:
            raise IRError(f"node %{nid} is referenced but not in the graph")
        needed.add(nid)
        stack.extend(nodes[nid].inputs)
    # ids are assigned in creation order and inputs always exist before their users,
    # so sorting by id is a valid topological order
    order = sorted(needed)
    seen: set[int] = set()
    for nid in order:
        for i in nodes[nid].inputs:
            if i not in seen:
                raise IRError(f"node %{nid} uses %{i}, which comes later")
        seen.add(nid)
    return order


def subgraph(nodes: Mapping[int, Node], outputs: Sequence[int]) -> Graph:
    """The graph of just what ``outputs`` need (pruning), in topological order."""
    return Graph(tuple(nodes[i] for i in toposort(nodes, outputs)), tuple(outputs))


def verify(graph: Graph) -> None:
    """Checks the IR invariants; raises IRError naming the first broken one."""
    seen: set[int] = set()
    for n in graph.nodes:
        if n.id in seen:
            raise IRError(f"node id %{n.id} appears twice")
        if n.kind not in KINDS:
            raise IRError(f"node %{n.id} has unknown kind {n.kind!r}")
        if n.role not in ROLES:
            raise IRError(f"node %{n.id} has unknown role {n.role!r}")
        for i in n.inputs:
            if i not in seen:
                raise IRError(f"node %{n.id} ({n.op or n.kind}) uses %{i} before it is defined")
        if n.kind == "call":
            op = op_of(n.op)
            if n.op in BODY_CHECKS:
                BODY_CHECKS[n.op](graph, n)
            if op.arity is not None and len(n.inputs) != op.arity:
                raise IRError(
                    f"node %{n.id}: op {n.op} takes {op.arity} inputs, has {len(n.inputs)}"
                )
        elif n.kind == "assign":
            if len(n.inputs) != 2 or graph[n.inputs[0]].kind != "variable":
                raise IRError(f"node %{n.id}: assign takes (variable, value)")
        elif n.inputs:
            raise IRError(f"node %{n.id}: a {n.kind} has no inputs")
        if n.kind == "const" and n.value is None:
            raise IRError(f"const node %{n.id} has no value")
        seen.add(n.id)
    for o in graph.outputs:
        if o not in seen:
            raise IRError(f"output %{o} is not a node of the graph")


def to_networkx(graph: Graph) -> Any:
    """The graph as a ``networkx.DiGraph``: node attributes kind, op, shape, dtype, name, role."""
    import networkx as nx

    g = nx.DiGraph()
    for n in graph.nodes:
        g.add_node(
            n.id,
            kind=n.kind,
            op=n.op,
            shape=n.shape,
            dtype=n.dtype.name,
            name=n.name,
            role=n.role,
            site=n.site,
        )
        for position, i in enumerate(n.inputs):
            g.add_edge(i, n.id, position=position)
    return g
