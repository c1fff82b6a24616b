"""Compiler passes: plain, pure functions ``Graph -> (Graph, changed)``.

Each pass returns a new graph (the input is never modified) and whether it changed
anything, like torch.fx's ``eliminate_dead_code() -> bool``. Outputs keep their positions:
when a pass replaces an output node by an equivalent one, ``graph.outputs`` names the
replacement, so the i-th output still means the i-th fetch.

Besides the optimisations (constant folding, CSE, simplification, DCE, explicit casts),
two passes about cost: ``materialize_transposes`` (one row-major copy of a weight that
many matmuls read transposed) and ``reorder_for_memory`` (a schedule that frees memory
early). The pipeline that runs them in order, with their switches, is ``pipeline.PASSES``.

Example:
    >>> from tapeflow.static.compiler.passes import dce
    >>> # graph, changed = dce(graph)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ...graphs.ir import Graph, Node
from ...graphs.liveness import is_view
from ...runtime import evaluate
from ...runtime.registry import operand_dtype
from .lowering import concrete, dims, size_of
from .planner import nbytes_of, outside_arena

Pass = Callable[[Graph], tuple[Graph, bool]]

FOLD_MAX_ELEMENTS = 4096  # constant folding never materialises a bigger const than this
SMALL_CONST = 64  # consts up to this many elements are merged by value in CSE


def _rebuild(graph: Graph, nodes: list[Node], alias: Mapping[int, int]) -> Graph:
    """``nodes`` with every input and output renamed through ``alias`` (followed to its end)."""

    def resolve(i: int) -> int:
        while i in alias:
            i = alias[i]
        return i

    renamed = []
    for n in nodes:
        inputs = tuple(resolve(i) for i in n.inputs)
        renamed.append(n if inputs == n.inputs else n.with_(inputs=inputs))
    return Graph(tuple(renamed), tuple(resolve(o) for o in graph.outputs))


# ---- dead-code elimination -------------------------------------------------


def dce(graph: Graph) -> tuple[Graph, bool]:
    """Dead-code elimination: drops every node that no output needs (order is kept).

    Assign nodes have effects only when they are outputs (a fetched train op), so an
    assign that no output reaches is dead too.
    """
    needed: set[int] = set()
    stack = list(graph.outputs)
    while stack:
        nid = stack.pop()
        if nid not in needed:
            needed.add(nid)
            stack.extend(graph[nid].inputs)
    kept = tuple(n for n in graph.nodes if n.id in needed)
    if len(kept) == len(graph.nodes):
        return graph, False
    return Graph(kept, graph.outputs), True


def insert_casts(graph: Graph) -> tuple[Graph, bool]:
    """Makes dtype promotion explicit: a ``cast`` node wherever an op's inputs disagree.

    Kernels then run on inputs of one dtype, as ``runtime.evaluate`` would arrange, so
    the executor never promotes on the hot path.
    """
    next_id = max((n.id for n in graph.nodes), default=-1) + 1
    by_id = {n.id: n for n in graph.nodes}
    nodes: list[Node] = []
    for n in graph.nodes:
        if n.kind == "call" and n.opdef.promote is not None:
            ins = [by_id[i] for i in n.inputs]
            common = operand_dtype(n.opdef, [i.dtype for i in ins], [None] * len(ins))
            chosen = n.opdef.promote_inputs
            inputs = list(n.inputs)
            for k, x in enumerate(ins):
                if common is None or x.dtype is common or (chosen is not None and k not in chosen):
                    continue
                cast = Node(next_id, "call", "cast", (x.id,), {"dtype": common}, x.shape, common,
                            name=f"{n.name or n.op}/cast_{k}", site=n.site, role=n.role)
                next_id += 1
                nodes.append(cast)
                by_id[cast.id] = cast
                inputs[k] = cast.id
            if tuple(inputs) != n.inputs:
                n = n.with_(inputs=tuple(inputs))
        nodes.append(n)
    if len(nodes) == len(graph.nodes):
        return graph, False
    return Graph(tuple(nodes), graph.outputs), True


# ---- constant folding and common-subexpression elimination --------------------------------


def fold_constants(graph: Graph, max_elements: int = FOLD_MAX_ELEMENTS) -> tuple[Graph, bool]:
    """Evaluates, once, every call whose inputs are all consts (random ops excepted).

    Inputs an op reads only for their shape (``full_like``'s ``like``) need only a concrete
    shape. Results bigger than ``max_elements`` stay in the graph, computed each run.
    """
    by_id = {n.id: n for n in graph.nodes}
    nodes: list[Node] = []
    changed = False
    for n in graph.nodes:
        if n.kind == "call":
            value = _try_fold(n, by_id, max_elements)
            if value is not None:
                n = Node(n.id, "const", "", (), {}, n.shape, n.dtype, name=n.name, site=n.site,
                         role=n.role, value=value)
                by_id[n.id] = n
                changed = True
        nodes.append(n)
    if not changed:
        return graph, False
    # inputs read only for their shape may now be unused
    return dce(Graph(tuple(nodes), graph.outputs))[0], True


def _try_fold(n: Node, by_id: Mapping[int, Node], max_elements: int) -> Any:
    op = n.opdef
    if op.kind == "random" or not concrete(n.shape) or size_of(n.shape) > max_elements:
        return None
    args = []
    for k, i in enumerate(n.inputs):
        x = by_id[i]
        if x.kind == "const":
            args.append(x.value)
        elif k in op.shape_only and concrete(x.shape):
            args.append(np.empty(x.shape, x.dtype.np))  # only its shape is read
        else:
            return None
    value = np.array(evaluate(op, [np.asarray(a) for a in args], dict(n.attrs)), copy=True)
    if value.shape != dims(n.shape) or value.dtype != n.dtype.np:
        return None  # never change a value's shape or dtype
    return value


def cse(graph: Graph) -> tuple[Graph, bool]:
    """Common-subexpression elimination: one node per distinct computation.

    Calls are keyed by ``Node.key()`` (op, inputs after renaming, attrs); random ops are
    never merged (two draws differ). Small consts are merged by dtype, shape and bytes.
    """
    seen: dict[Any, int] = {}
    alias: dict[int, int] = {}
    nodes: list[Node] = []
    for n in graph.nodes:
        n = n.with_(inputs=tuple(alias.get(i, i) for i in n.inputs)) if alias else n
        key = _cse_key(n)
        if key is not None and key in seen:
            alias[n.id] = seen[key]
            continue
        if key is not None:
            seen[key] = n.id
        nodes.append(n)
    if not alias:
        return graph, False
    return _rebuild(graph, nodes, alias), True


def _cse_key(n: Node) -> Any:
    if n.kind == "call" and n.opdef.kind != "random":
        key = n.key()
    elif n.kind == "const" and np.size(n.value) <= SMALL_CONST:
        value = np.asarray(n.value)
        key = ("const", value.dtype.str, value.shape, value.tobytes())
    else:
        return None
    try:
        hash(key)
    except TypeError:
        return None
    return key


# ---- algebraic simplification ----------------------------------------------------------


_NO_OPS = ("reshape", "reshape_like", "broadcast_to", "broadcast_like", "sum_to", "identity",
           "stop_gradient", "cast", "squeeze", "unsqueeze")


def simplify(graph: Graph, zero_products: bool = True) -> tuple[Graph, bool]:
    """Removes trivial ops whose result is, bit for bit, one of their inputs.

    x*1, 1*x, x/1, x**1, x+0, 0+x, x-0; transpose(transpose(x)) when the permutations
    cancel; and shape ops that change nothing once shapes are concrete (reshape to the
    same shape, sum_to/broadcast_like/reshape_like of a value that already has the target
    shape, a cast to the same dtype). The result must have exactly x's shape and dtype.

    Zeros too (``tf.zeros`` of a large shape stays a ``full`` node): a forward matmul with
    an all-zero operand is a zero ``full``, and adding it is dropped, so an RNN from a zero
    state loses ``h0 @ w_hh`` (0.6 % of RNN-large's step), bit for bit the same for finite
    operands (with an inf or NaN in the other one, numpy's product would be NaN). Backward
    ones are kept: ``h0^T @ g_0`` is a term of a sum that ``dot_merge`` cuts into blocks
    sharing one stack of step gradients with another sum; without it the blocks no longer
    line up (RNN-large: +580 us of copies against 200 us of product saved). With
    ``zero_products`` off (``CompileOptions(exact=True)``) every product is kept, as numpy
    computes it.
    """
    by_id = {n.id: n for n in graph.nodes}
    alias: dict[int, int] = {}
    zeros: set[int] = set()  # nodes known to be all zeros
    nodes: list[Node] = []
    changed = False
    for n in graph.nodes:
        n = n.with_(inputs=tuple(alias.get(i, i) for i in n.inputs)) if alias else n
        if zero_products and _zero_product(n, zeros):
            n = Node(n.id, "call", "full", (), {"shape": tuple(n.shape),  # type: ignore[arg-type]
                                                "value": 0, "dtype": n.dtype},
                     n.shape, n.dtype, name=n.name, site=n.site, role=n.role)
            changed = True
        if _is_zero(n):
            zeros.add(n.id)
        same = _trivial_input(n, by_id, zeros) if n.kind == "call" else None
        if same is not None:
            alias[n.id] = same
            continue
        by_id[n.id] = n
        nodes.append(n)
    if not alias:
        return (Graph(tuple(nodes), graph.outputs), True) if changed else (graph, False)
    return _rebuild(graph, nodes, alias), True


def _is_zero(n: Node) -> bool:
    if n.kind == "call" and n.op == "full":
        return n.attrs.get("value") == 0 and concrete(n.shape)
    return _is_const(n, 0)


def _zero_product(n: Node, zeros: set[int]) -> bool:
    """A forward float matmul of concrete shape that reads an all-zero operand."""
    return (n.kind == "call" and n.op == "matmul" and n.role == "forward" and concrete(n.shape)
            and n.dtype.np.kind == "f" and any(i in zeros for i in n.inputs))


def _trivial_input(n: Node, by_id: Mapping[int, Node], zeros: set[int]) -> int | None:
    ins = [by_id[i] for i in n.inputs]
    candidates: list[Node] = []
    if n.op in _NO_OPS:
        candidates = [ins[0]]
    elif n.op == "mul":
        candidates = [x for x, other in ((ins[0], ins[1]), (ins[1], ins[0]))
                      if _is_const(other, 1)]
    elif n.op == "add":
        candidates = [x for x, other in ((ins[0], ins[1]), (ins[1], ins[0]))
                      if other.id in zeros]
    elif n.op in ("div", "pow", "sub"):
        if (ins[1].id in zeros) if n.op == "sub" else _is_const(ins[1], 1):
            candidates = [ins[0]]
    elif n.op == "transpose" and ins[0].kind == "call" and ins[0].op == "transpose":
        inner = ins[0]
        rank = None if n.shape is None else len(n.shape)
        if rank is not None and _compose(inner.attrs.get("axes"), n.attrs.get("axes"), rank):
            candidates = [by_id[inner.inputs[0]]]
    for x in candidates:
        if concrete(n.shape) and x.shape == n.shape and x.dtype is n.dtype:
            return x.id
    return None


def _is_const(node: Node, unit: int) -> bool:
    if node.kind != "const" or np.size(node.value) > FOLD_MAX_ELEMENTS:
        return False
    return bool(np.all(np.asarray(node.value) == unit))


def _compose(first: Any, second: Any, rank: int) -> bool:
    # transpose(transpose(x, p1), p2)[i] reads axis p1[p2[i]] of x: identity iff that is i
    p1 = tuple(reversed(range(rank))) if first is None else tuple(a % rank for a in first)
    p2 = tuple(reversed(range(rank))) if second is None else tuple(a % rank for a in second)
    return all(p1[p2[i]] == i for i in range(rank))


# ---- layout: an operand that many matmuls read transposed is transposed once per run ------
#
# BLAS packs a GEMM's operands into panels on every call, and packing a transposed
# (column-major) right operand is slower than packing a row-major one: on OpenBLAS a
# 32x128 @ (128x128)^T product takes about twice as long as the same product with the
# transpose already in memory, and 64x512 @ (512x512)^T about 20 % longer. The backward
# pass of an unrolled RNN reads ``w_hh^T`` once per step (``g_t @ w_hh^T``), so after CSE
# one ``transpose`` view of ``w_hh`` feeds T matmuls. The copy costs about as much as 1 to
# 15 of the saved packing differences (more for big matrices), hence the threshold. Only
# the layout of one operand changes: the products and their order of summation are the
# same (bit-identical on numpy's OpenBLAS; another BLAS may round a packed copy otherwise,
# so ``CompileOptions(exact=True)`` leaves it off).


#: a transposed operand is copied once when at least this many matmuls read it
MIN_MATMUL_READS = 8


def materialize_transposes(graph: Graph) -> tuple[Graph, bool]:
    """A contiguous ``copy`` of every rank-2 ``transpose`` that many matmuls read."""
    reads: Counter[int] = Counter()
    for n in graph.nodes:
        if n.kind == "call" and n.op == "matmul":
            reads.update(set(n.inputs))
    chosen = {n.id for n in graph.nodes if _qualifies(n, reads[n.id])}
    if not chosen:
        return graph, False
    next_id = max(n.id for n in graph.nodes) + 1
    copy_of: dict[int, int] = {}
    nodes: list[Node] = []
    for n in graph.nodes:
        if n.kind == "call" and n.op == "matmul" and any(i in copy_of for i in n.inputs):
            n = n.with_(inputs=tuple(copy_of.get(i, i) for i in n.inputs))
        nodes.append(n)
        if n.id in chosen:  # right after the view, which lowering put before its first use
            copy = Node(next_id, "call", "copy", (n.id,), {}, n.shape, n.dtype,
                        name=f"{n.name}/contiguous", site=n.site, role=n.role)
            copy_of[n.id] = next_id
            next_id += 1
            nodes.append(copy)
    return Graph(tuple(nodes), graph.outputs), True


def _qualifies(n: Node, matmul_reads: int) -> bool:
    return (n.kind == "call" and n.op == "transpose" and matmul_reads >= MIN_MATMUL_READS
            and concrete(n.shape) and len(n.shape) == 2)  # type: ignore[arg-type]


# ---- memory-aware scheduling ---------------------------------------------------------------
#
# The builder's order is a valid schedule but not always a frugal one: a call that frees
# memory may be created long after its inputs, as when user code builds ten large matmuls
# and only then sums them (``total = total + part`` in a loop after the list is built); run
# in creation order, every part stays alive until the sums. (tf.gradients no longer needs
# this for its own sums: the shared sweep, graphs/sweep.py, adds each partial gradient into
# the running sum as soon as it arrives, so a weight read at every step of an unrolled RNN
# gets its ``add`` right after each step's partial.) The pass keeps the original order and
# pulls a call forward only when all its inputs are scheduled and the bytes of the inputs
# it is the last reader of are at least its own output's bytes. Same nodes, same operand
# order: results stay bit-identical, and ops without inputs (random draws) never move.


def reorder_for_memory(graph: Graph) -> tuple[Graph, bool]:
    """A topological order that runs memory-reducing calls as early as possible."""
    by_id = {n.id: n for n in graph.nodes}
    users = graph.users()
    remaining = {nid: len(u) for nid, u in users.items()}  # readers not yet scheduled
    outside = outside_arena(graph)
    frees = {n.id: nbytes_of(n) if (n.kind == "call" and not is_view(n) and concrete(n.shape)
                                  and n.id not in outside) else 0 for n in graph.nodes}
    done: set[int] = set()
    order: list[Node] = []
    # distinct inputs not yet scheduled: asking "all inputs done?" by scanning the inputs
    # made a node read by T steps (a stack, a sum) cost T per step, T squared in all
    waiting = {n.id: len(set(n.inputs)) for n in graph.nodes}

    def emit(n: Node) -> None:
        done.add(n.id)
        order.append(n)
        for i in n.inputs:
            remaining[i] -= 1
        for u in set(users[n.id]):
            waiting[u] -= 1

    def eager(n: Node) -> bool:
        if n.kind != "call" or not n.inputs or not concrete(n.shape):
            return False
        if waiting[n.id]:
            return False
        # each input this node is the last reader of dies here (count a repeated input once)
        reads = Counter(n.inputs)
        freed = sum(frees[i] for i, count in reads.items() if remaining[i] == count)
        return freed >= nbytes_of(n) > 0

    for n in graph.nodes:
        if n.id in done:
            continue
        emit(n)
        work = [n.id]
        while work:
            produced = work.pop()
            for u in users[produced]:
                user = by_id[u]
                if u not in done and eager(user):
                    emit(user)
                    work.append(u)
    changed = [n.id for n in order] != [n.id for n in graph.nodes]
    return (Graph(tuple(order), graph.outputs), True) if changed else (graph, False)
