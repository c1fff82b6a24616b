"""Dot merging: matmuls that share an operand across (unrolled) steps become one GEMM.

A static graph knows its whole schedule, so the T small matrix products of an unrolled
loop can run as one big one (XLA's dot-merger idea). Two rewrites, both pure
``Graph -> (Graph, changed)`` and built only from registry ops (``stack``, ``reshape``,
``getitem``, ``matmul``, ``sum_to``):

* **sums of products** (the weight gradients of a loop): an ``add`` tree whose terms
  include several ``matmul(a_t, b_t)`` of equal shapes and flags is one product of the
  operands stacked along the contracted axis::

      sum_t a_t^T b_t  =  [a_0; ...; a_T]^T [b_0; ...; b_T]      (rows paired by t)

  and several ``sum_to(g_t, like)`` terms are one ``sum_to`` of the stacked ``g_t``
  (the bias gradients);
* **a shared right operand** (the input projection of every step): ``matmul(a_t, w)`` for
  several independent ``a_t`` of one shape is one matmul of the stacked ``a_t``, and each
  step reads its rows back through a ``getitem`` view.

Operands are stacked step-major (step t's rows are one contiguous block, so the compiler
can let their producers write straight into the stack). When they are exactly the slices
``x[:, 0], ..., x[:, T-1]`` of one tensor (the steps of an input sequence), the stack is
one contiguous copy of ``x`` with its step axis moved first (one call, not T), or ``x``
itself when that axis already is the first.
A merge is skipped when it would make a value depend on itself (``a_t`` computed from an
earlier step's product, as in the recurrence ``h_t @ w_hh``) or reorder random draws.

**Blocks.** ``n >= 16`` merged steps are cut into blocks of ``round(sqrt(n))`` steps
(:func:`block_size`), one product each, placed right after its last operand is made. One
product over all steps needs every step's operands alive at once (the stacked states and
step gradients were 13 MB of RNN-large's 16 MB arena, B=64 T=50 H=512); a block needs its
own only. The blocks are also the segments that recomputation (``compiler/recompute.py``)
rebuilds one at a time. They never depend on that option, so results are the same bits
with and without it.

The merged products add in a different order, so results equal the unmerged ones to
float tolerance (1e-12 relative in float64), not bit for bit; with the pass on, planned
and unplanned runs are still bit-identical. Switch it off with
``CompileOptions(dot_merge=False)``.

Example:
    >>> from tapeflow.static.compiler.dot_merge import dot_merge
    >>> # graph, changed = dot_merge(graph)  # T matmuls x_t @ w_ih -> 1
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ...graphs.ir import Graph, Node
from ...runtime import Spec
from ...runtime import get as get_op
from ...runtime.ops_index import encode_index
from .dot_slices import FULL, consecutive_slices, step_order
from .lowering import concrete
from .rewrite import assemble


class _Builder:
    """New nodes for one rewrite: fresh ids, shapes and dtypes from the registry's rules."""

    def __init__(self, graph: Graph) -> None:
        self.by_id: dict[int, Node] = {n.id: n for n in graph.nodes}
        self.next_id = max((n.id for n in graph.nodes), default=-1) + 1
        self.added: list[Node] = []  # new nodes, in creation order
        self.stacks: dict[tuple[tuple[int, ...], int], int] = {}  # (operands, axis) -> id
        self.anchor = -1  # new nodes are placed before this old node (then sorted)
        self.anchor_of: dict[int, int] = {}
        self.rank: dict[int, int] = {}  # right operand of a merged product -> its step
        self.fetched = set(graph.outputs)

    def call(self, op: str, inputs: Sequence[int], attrs: Mapping[str, Any], like: Node,
             suffix: str, node_id: int | None = None) -> Node:
        specs = [Spec(self.by_id[i].shape, self.by_id[i].dtype) for i in inputs]
        spec = get_op(op).infer(*specs, **attrs)
        if node_id is None:
            node_id, self.next_id = self.next_id, self.next_id + 1
            name = f"{like.name or like.op}/dot_merge/{suffix}"
        else:
            name = like.name
        node = Node(node_id, "call", op, tuple(inputs), dict(attrs), spec.shape, spec.dtype,
                    name=name, site=like.site, role=like.role)
        self.by_id[node.id] = node
        self.added.append(node)
        self.anchor_of[node.id] = self.anchor
        return node

    def joined(self, operands: Sequence[int], axis: int, like: Node) -> int:
        """The rank-2 ``operands`` stacked at ``axis``, that axis then merged with the next.

        Index ``t * n + i`` along ``axis`` of the result is index ``i`` of operand ``t``
        (step-major): stacked at axis 0, each operand's slice is one contiguous block.
        """
        stacked = self.stacked(operands, axis, like)
        shape = list(_dims(self.by_id[operands[0]]))
        shape[axis] *= len(operands)
        return self.call("reshape", [stacked], {"shape": tuple(shape)}, like, "join").id

    def stacked(self, operands: Sequence[int], axis: int, like: Node) -> int:
        """``stack(operands, axis)``, one node per stack. When the operands are consecutive
        slices ``x[..., t0, ...], ..., x[..., t1-1, ...]`` of one tensor (a block of an
        input sequence's steps), it is ``x`` itself (all steps, sliced at ``axis``) or one
        contiguous copy of ``x[..., t0:t1, ...]`` with that axis moved to ``axis``: one
        strided copy, not a view per step and a stack of them."""
        key = (tuple(operands), axis)
        if key not in self.stacks:
            found = consecutive_slices(operands, self.by_id)
            if found is None:
                whole = self.call("stack", operands, {"axis": axis}, like, "stack").id
            else:
                whole = self._moved(*found, axis, like)
            self.stacks[key] = whole
        return self.stacks[key]

    def _moved(self, x: int, at: int, start: int, stop: int, axis: int, like: Node) -> int:
        """``x[..., start:stop, ...]`` (sliced at axis ``at``) with axis ``at`` moved to
        ``axis``: ``x`` or a view of it where that is contiguous, else one copy."""
        dims = _dims(self.by_id[x])
        whole = (start, stop) == (0, dims[at])
        if not whole:
            index = [FULL] * len(dims)
            index[at] = ("slice", start, stop, None)
            x = self.call("getitem", [x], {"index": tuple(index)}, like, "steps").id
        if at == axis and (whole or axis == 0):
            return x  # all of x, or a run of its leading axis
        if at != axis:
            perm = [a for a in range(len(dims)) if a != at]
            perm.insert(axis, at)
            x = self.call("transpose", [x], {"axes": tuple(perm)}, like, "move").id
        return self.call("copy", [x], {}, like, "stack").id


def _dims(n: Node) -> tuple[int, ...]:
    return tuple(int(d) for d in n.shape)  # type: ignore[union-attr, arg-type]


#: fewer merged steps than this make one block (their stacks are small)
MIN_BLOCKED = 16


def block_size(n: int) -> int:
    """Steps per merged block when ``n`` steps merge: about sqrt(n), or all of them below
    ``MIN_BLOCKED``."""
    return n if n < MIN_BLOCKED else round(math.sqrt(n))


def _blocks(members: list[Node]) -> list[list[Node]]:
    """Ordered ``members`` cut into consecutive blocks of ``block_size(len(members))``."""
    size = block_size(len(members))
    return [members[k:k + size] for k in range(0, len(members), size)]


def _is_plain_matmul(n: Node, by_id: Mapping[int, Node]) -> bool:
    if n.kind != "call" or n.op != "matmul" or not concrete(n.shape):
        return False
    return all(by_id[i].shape is not None and len(by_id[i].shape) == 2  # type: ignore[arg-type]
               and concrete(by_id[i].shape) for i in n.inputs)


def _flags(n: Node) -> tuple[bool, bool]:
    return bool(n.attrs.get("transpose_a")), bool(n.attrs.get("transpose_b"))


# ---- sums of products ------------------------------------------------------------------


def _add_trees(graph: Graph, users: Mapping[int, list[int]]) -> list[tuple[Node, list[int],
                                                                          list[int]]]:
    """Each maximal tree of same-shape ``add`` nodes: (root, internal add ids, term ids)."""
    outputs = set(graph.outputs)

    def is_add(n: Node) -> bool:
        return (n.kind == "call" and n.op == "add" and concrete(n.shape)
                and all(graph[i].shape == n.shape and graph[i].dtype is n.dtype
                        for i in n.inputs))

    def private(nid: int, parent: int) -> bool:
        # read only by `parent` (once), and not handed out of the run
        return users[nid] == [parent] and nid not in outputs

    trees = []
    for n in graph.nodes:
        if not is_add(n):
            continue
        parents = users[n.id]
        if len(parents) == 1 and private(n.id, parents[0]) and is_add(graph[parents[0]]):
            continue  # not a root: part of its parent's tree
        internal, terms, stack = [], [], [n.id]
        while stack:
            nid = stack.pop()
            internal.append(nid)
            for i in reversed(graph[nid].inputs):
                if is_add(graph[i]) and private(i, nid):
                    stack.append(i)
                else:
                    terms.append(i)
        trees.append((n, internal, terms))
    return trees


def _term_groups(terms: list[int], root: Node, graph: Graph, users: Mapping[int, list[int]],
                 by_id: Mapping[int, Node]) -> list[list[Node]]:
    """The terms that merge: matmuls of equal operand shapes and flags, or sum_tos of equal
    shapes; each read only by the tree."""
    outputs = set(graph.outputs)
    groups: dict[Any, list[Node]] = {}
    for t in terms:
        n = graph[t]
        if len(users[t]) != 1 or t in outputs or n.dtype is not root.dtype:
            continue
        if _is_plain_matmul(n, by_id):
            key: Any = ("matmul", _flags(n), *(graph[i].shape for i in n.inputs))
        elif n.kind == "call" and n.op == "sum_to" and concrete(graph[n.inputs[0]].shape):
            key = ("sum_to", graph[n.inputs[0]].shape, graph[n.inputs[1]].shape)
        else:
            continue
        groups.setdefault(key, []).append(n)
    return [g for g in groups.values() if len(g) > 1]


def _merge_product(members: list[Node], b: _Builder, like: Node, node_id: int | None) -> int:
    # sum_t op(a_t) op(b_t): stack both along the contracted axis, in the same order
    ta, tb = _flags(members[0])
    for m in members:  # (the sums of sum_to terms stack these in the same order)
        b.rank.setdefault(m.inputs[1], len(b.rank))
    a = b.joined([m.inputs[0] for m in members], 0 if ta else 1, like)
    w = b.joined([m.inputs[1] for m in members], 1 if tb else 0, like)
    return b.call("matmul", [a, w], {"transpose_a": ta, "transpose_b": tb}, like, "matmul",
                  node_id).id


def _merge_reduction(members: list[Node], b: _Builder, like: Node, node_id: int | None) -> int:
    # sum_t sum_to(g_t, y) = sum_to(stack_t g_t, y) when the new axis is one sum_to removes
    operands = [m.inputs[0] for m in members]
    rank = len(b.by_id[operands[0]].shape)  # type: ignore[arg-type]
    target = b.by_id[members[0].inputs[1]]
    lead = rank + 1 - len(target.shape)  # type: ignore[arg-type]
    stacked = next((whole for (ids, axis), whole in b.stacks.items()
                    if sorted(ids) == sorted(operands) and axis < lead), None)
    if stacked is None:  # (no product stacked these operands already)
        stacked = b.stacked(sorted(operands), 0, like)
    return b.call("sum_to", [stacked, target.id], {}, like, "sum_to", node_id).id


def merge_sums(graph: Graph) -> tuple[Graph, bool]:
    """Add trees of matmul terms (and of sum_to terms) become one matmul (one sum_to)."""
    users = graph.users()
    b = _Builder(graph)
    plans = []
    for root, internal, terms in _add_trees(graph, users):
        groups = _term_groups(terms, root, graph, users, b.by_id)
        if groups:
            merged = {m.id for members in groups for m in members}
            rest = [t for t in terms if t not in merged]
            plans.append((root, internal, rest, groups, merged))
    if not plans:
        return graph, False
    position = {n.id: k for k, n in enumerate(graph.nodes)}
    # root id -> [(anchor: the old node a part is placed before, the part's id)]
    parts: dict[int, list[tuple[int, int]]] = {root.id: [] for root, *_ in plans}
    for kind in ("matmul", "sum_to"):  # products first: their stacks can serve the sums
        for root, _, rest, groups, _ in plans:
            for members in groups:
                if members[0].op != kind:
                    continue
                if kind == "matmul":
                    members = step_order(members, 0, b.by_id)
                else:  # the step order of the products' right operands, when they have one
                    members = sorted(members, key=lambda m: (b.rank.get(m.inputs[0], -1),
                                                             m.inputs[0]))
                blocks = _blocks(members)
                # a merged term that is the whole sum takes the root's place (and id)
                alone = len(groups) == 1 and not rest and len(blocks) == 1
                make = _merge_product if kind == "matmul" else _merge_reduction
                for block in blocks:
                    # right after its last operand is made, before the next block's
                    ready = max(position[i] for m in block for i in m.inputs)
                    b.anchor = graph.nodes[ready + 1].id
                    parts[root.id].append((b.anchor, make(block, b, root,
                                                          root.id if alone else None)))
    removed: set[int] = set()
    for root, internal, rest, _, merged in plans:
        removed.update(merged)
        removed.update(i for i in internal if i != root.id)
        # each block is added in as soon as it is made: a running sum, one block alive
        terms = sorted(parts[root.id], key=lambda p: position[p[0]]) + [(root.id, t)
                                                                         for t in rest]
        total = terms[0][1]
        for k, (b.anchor, term) in enumerate(terms[1:], start=2):  # (anchors ascend)
            total = b.call("add", [total, term], {}, root, "add",
                           root.id if k == len(terms) else None).id
    return assemble(graph, b.added, b.anchor_of, removed)


# ---- a shared right operand --------------------------------------------------------------


def _reachable(starts: Iterable[int], users: Mapping[int, list[int]]) -> set[int]:
    seen: set[int] = set()
    stack = list(starts)
    while stack:
        nid = stack.pop()
        for u in users[nid]:
            if u not in seen:
                seen.add(u)
                stack.append(u)
    return seen


def _merge_block(members: list[Node], b: _Builder, first: Node, users: Mapping[int, list[int]],
                 removed: set[int], fold_bias: bool = True) -> None:
    """One product for ``matmul(a_t, w)`` of the ``members`` (placed before ``first``). When
    every step adds one bias to its product (``x_t @ w_ih + b_ih``), the block adds it once:
    the same sums, as one call on the block while it is still in cache."""
    b.anchor = first.id
    ta, tb = _flags(first)
    rows = 1 if ta else 0  # the axis of a_t that becomes the product's rows
    joined = b.joined([m.inputs[0] for m in members], rows, first)
    product = b.call("matmul", [joined, first.inputs[1]],
                     {"transpose_a": ta, "transpose_b": tb}, first, "matmul")
    bias = None if not fold_bias or b.fetched.intersection(m.id for m in members) else \
        _shared_bias(members, users, b.by_id)
    if bias is not None:
        operands = [product.id, bias[0]] if bias[1] == 0 else [bias[0], product.id]
        product = b.call("add", operands, {}, first, "bias")
        removed.update(m.id for m in members)  # the steps' rows are read from the sums
    n_rows, cols = _dims(first)
    split = b.call("reshape", [product.id], {"shape": (len(members), n_rows, cols)},
                   first, "split")
    for t, m in enumerate(members):  # step t's rows: one contiguous block
        step = b.by_id[users[m.id][0]] if bias is not None else m
        b.call("getitem", [split.id], {"index": encode_index(t)}, step, "rows", node_id=step.id)


def _shared_bias(members: list[Node], users: Mapping[int, list[int]],
                 by_id: Mapping[int, Node]) -> tuple[int, int] | None:
    """``(bias id, the product's operand position)`` when each member's one reader is an
    ``add`` of the same vector (rank <= 1: broadcast alike over a step's rows and over a
    block's) that keeps the member's shape and dtype."""
    found = set()
    for m in members:
        readers = users.get(m.id, [])
        if len(readers) != 1:
            return None
        add = by_id[readers[0]]
        if (add.kind != "call" or add.op != "add" or add.shape != m.shape
                or add.dtype is not m.dtype or len(set(add.inputs)) != 2):
            return None
        k = add.inputs.index(m.id)
        other = by_id[add.inputs[1 - k]]
        if other.shape is None or len(other.shape) > 1 or other.dtype is not m.dtype:
            return None
        found.add((other.id, k))
    return found.pop() if len(found) == 1 else None


def merge_shared_operand(graph: Graph, fold_bias: bool = True) -> tuple[Graph, bool]:
    """``matmul(a_t, w)`` for independent ``a_t`` of one shape: one matmul, rows read back
    (with the steps' shared bias added once per block, unless ``fold_bias`` is off)."""
    users = graph.users()
    groups: dict[Any, list[Node]] = {}
    by_id = {n.id: n for n in graph.nodes}
    for n in graph.nodes:
        if _is_plain_matmul(n, by_id):
            groups.setdefault((n.inputs[1], _flags(n), graph[n.inputs[0]].shape), []).append(n)
    b = _Builder(graph)
    position = {n.id: k for k, n in enumerate(graph.nodes)}
    merged, removed = False, set[int]()
    for members in groups.values():
        # an a_t that is a member's product, or computed from one (``(x @ w) @ w``, the
        # recurrence ``h_t @ w_hh``), would make the merged matmul need itself
        while len(members) > 1:
            downstream = {m.id for m in members} | _reachable((m.id for m in members), users)
            kept = [m for m in members if m.inputs[0] not in downstream]
            if len(kept) == len(members):
                break
            members = kept
        if len(members) < 2:
            continue
        for block in _blocks(step_order(members, 0, b.by_id)):
            _merge_block(block, b, min(block, key=lambda m: position[m.id]), users, removed,
                         fold_bias)
            merged = True
    if not merged:
        return graph, False
    return assemble(graph, b.added, b.anchor_of, removed)


def dot_merge(graph: Graph, fold_bias: bool = True) -> tuple[Graph, bool]:
    """Both rewrites: sums of products first (so a gradient's terms are merged as a sum),
    then products sharing a right operand. ``fold_bias`` off keeps each step's bias add:
    recomputation does (a step's row of a block's sum keeps the whole block alive)."""
    graph, summed = merge_sums(graph)
    graph, shared = merge_shared_operand(graph, fold_bias)
    return graph, summed or shared


__all__ = ["dot_merge", "merge_shared_operand", "merge_sums"]
