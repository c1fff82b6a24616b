"""A product summed into one row of a block: the step of an RNN whose input projection was
computed for a block of steps at once (``dot_merge``), written where that row lies.

After ``dot_merge`` and ``gemm_acc``, an unrolled RNN's forward step ``t`` is
``tanh(addmm(add(S[t], b_hh), h, w_hh))``: ``S`` is the block's ``x @ w_ih + b_ih``, and
``S[t]`` a view of its row. Two things remove the ``add``'s pass over the step's values:

* :func:`fold_row_bias`: where every row of ``S`` gets the same bias added and nothing
  else reads the rows, the bias joins the block's (``S = addmm(b_ih + b_hh, x, w_ih)``,
  one (H,) add) and each step reads its row as it is;
* :func:`writes_row`: the planner may then let the step's ``addmm`` write over its row
  (``planner.mark_inplace``), since no other step reads that row and the rows of ``S``
  are disjoint: the library adds ``h @ w_hh`` into the row itself (``beta = 1``).

Both change only where sums happen: ``(p + b1) + b2`` becomes ``p + (b1 + b2)``, rounding
otherwise, so this runs inside ``gemm_acc`` (off under ``CompileOptions(exact=True)``).

Example:
    >>> from tapeflow.graphs import Graph
    >>> empty = Graph((), ())
    >>> fold_row_bias(empty) is empty
    True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ...graphs.ir import Graph, Node
from ...graphs.liveness import is_view


def _row_index(n: Node) -> int | None:
    """k for a ``getitem(v, index=(k,))`` (one row of ``v``), else None."""
    if n.kind != "call" or n.op != "getitem":
        return None
    index = n.attrs.get("index")
    if isinstance(index, (tuple, list)) and len(index) == 1 and type(index[0]) is int:
        return index[0]
    return None


def _rows_of(v: Node, users: Mapping[int, Sequence[int]], by_id: Mapping[int, Node],
             outputs: Sequence[int]) -> list[Node] | None:
    """Every reader of ``v`` when each is a distinct row of it read by one node, else None."""
    rows = [by_id[u] for u in users[v.id]]
    size = (v.shape or (None,))[0]
    # (S[-1] is S[n-1]: counted once, or two steps would write over one row)
    indices = [k if k is None or k >= 0 else k + size if type(size) is int else None
               for k in map(_row_index, rows)]
    if not rows or None in indices or len(set(indices)) != len(indices) \
            or v.id in outputs or any(r.id in outputs or len(users[r.id]) != 1 for r in rows):
        return None
    return rows


def _block(v: Node, users: Mapping[int, Sequence[int]], by_id: Mapping[int, Node],
           outputs: Sequence[int]) -> Node | None:
    """The call ``v`` views the rows of: ``v`` itself, or the node ``v`` is the only
    ``reshape`` of; None when ``v`` is some other view."""
    if v.kind != "call" or v.id in outputs:
        return None
    if v.op != "reshape":
        return None if v.opdef.view else v
    s = by_id[v.inputs[0]]
    if s.kind != "call" or s.opdef.view or users[s.id] != [v.id] or s.id in outputs:
        return None
    return s


def fold_row_bias(graph: Graph) -> Graph:
    """Each ``add(S[k], c)`` over every row of a block ``S = addmm(b, x, w)`` (``b`` and
    ``c`` vectors of one row's width, ``c`` made before ``S``) becomes ``S[k]``, ``S``
    taking ``b + c`` (see the module doc)."""
    users = graph.users()
    by_id = {n.id: n for n in graph.nodes}
    position = {n.id: k for k, n in enumerate(graph.nodes)}
    next_id = max((n.id for n in graph.nodes), default=-1) + 1
    alias: dict[int, int] = {}
    before: dict[int, Node] = {}  # block id -> the bias sum made just before it
    sums: dict[tuple[int, int], Node] = {}
    changed: dict[int, Node] = {}
    for v in graph.nodes:
        s = _block(v, users, by_id, graph.outputs) if users[v.id] else None
        rows = _rows_of(v, users, by_id, graph.outputs) if s is not None else None
        if s is None or rows is None or s.op != "addmm" or s.id in changed:
            continue
        b = by_id[s.inputs[0]]
        adds = [by_id[users[r.id][0]] for r in rows]
        if any(a.op != "add" or a.shape != r.shape or a.dtype is not r.dtype
               or a.inputs.count(r.id) != 1 or a.id in graph.outputs
               for a, r in zip(adds, rows, strict=True)):
            continue
        cs = {a.inputs[1] if a.inputs[0] == r.id else a.inputs[0]
              for a, r in zip(adds, rows, strict=True)}
        if len(cs) != 1:
            continue
        c = by_id[cs.pop()]
        width = s.shape[-1]  # type: ignore[index]
        if b.shape != (width,) or c.shape != (width,) or c.dtype is not s.dtype \
                or position[c.id] > position[s.id]:
            continue
        bias = sums.get((b.id, c.id))
        if bias is None:  # (one sum for every block of the same two biases)
            bias = sums[(b.id, c.id)] = Node(next_id, "call", "add", (b.id, c.id), {},
                                             (width,), s.dtype, name=f"{s.name}/bias",
                                             site=s.site, role=s.role)
            next_id += 1
            before[s.id] = bias
        changed[s.id] = s.with_(inputs=(bias.id, *s.inputs[1:]))
        alias.update((a.id, r.id) for a, r in zip(adds, rows, strict=True))
    if not alias:
        return graph
    nodes = []
    for n in graph.nodes:
        if n.id in alias:
            continue
        if n.id in before:
            nodes.append(before[n.id])
        n = changed.get(n.id, n)
        if any(i in alias for i in n.inputs):
            n = n.with_(inputs=tuple(alias.get(i, i) for i in n.inputs))
        nodes.append(n)
    return Graph(tuple(nodes), tuple(alias.get(o, o) for o in graph.outputs))


def writes_row(n: Node, by_id: Mapping[int, Node], users: Mapping[int, Sequence[int]],
               outputs: Sequence[int]) -> bool:
    """Whether ``addmm`` node ``n`` may write over its addend, a row ``S[k]`` of a block
    whose rows no other node reads (each row read once, by its own step): the planner then
    gives ``n`` that row (``planner.mark_inplace``)."""
    if n.op != "addmm":
        return False
    x = by_id[n.inputs[0]]
    if _row_index(x) is None or users[x.id] != [n.id] or (x.shape, x.dtype) != (n.shape,
                                                                                n.dtype):
        return False
    v = by_id[x.inputs[0]]
    s = _block(v, users, by_id, outputs)
    if s is None or _rows_of(v, users, by_id, outputs) is None:
        return False
    return all(i not in (x.id, v.id, s.id) for i in n.inputs[1:])


def over_views(plan: Any, graph: Graph) -> set[int]:
    """The calls ``plan`` (a ``planner.Plan``) writes over a view, not a buffer's start: a
    step's ``addmm`` over its row of a block, and in turn each call in place over such a
    call (the step's ``tanh`` over the addmm's row). The executor binds their outputs to
    that row; at the buffer's start they would write over row 0."""
    found: set[int] = set()
    for s in plan.steps if plan is not None else ():
        if s.where == "inplace" and (is_view(graph[s.inputs[0]]) or s.inputs[0] in found):
            found.add(s.node_id)
    return found


__all__ = ["fold_row_bias", "over_views", "writes_row"]
