"""Memory-aware scheduling: run a node early when doing so frees more than it allocates.

The builder's order is a valid schedule but not a frugal one. Reverse-mode gradients are
the typical case: a weight used at every step of an unrolled RNN gets one partial gradient
per step, and ``gradients`` sums them with a chain of ``add`` nodes created only when the
weight itself is reached, at the very end. Run in creation order, every partial stays
alive until then (50 steps of a 512x512 weight: 50 MB). Run each ``add`` as soon as its
inputs exist and the partials are folded into a running total instead (one or two alive).

The pass keeps the original order and pulls a call forward only when (a) all its inputs
have been scheduled and (b) the bytes of the inputs it is the last reader of are at least
its own output's bytes. The arithmetic is unchanged (same nodes, same operand order), so
results stay bit-identical; the relative order of random draws is unchanged too, as ops
without inputs are never moved.

Example:
    >>> from tapeflow.static.compiler.schedule import reorder_for_memory
    >>> # graph, changed = reorder_for_memory(graph)
"""

from __future__ import annotations

from ...graphs.ir import Graph, Node
from ...graphs.liveness import is_view
from .lowering import concrete
from .planner import nbytes_of, outside_arena


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

    def emit(n: Node) -> None:
        done.add(n.id)
        order.append(n)
        for i in n.inputs:
            remaining[i] -= 1

    def eager(n: Node) -> bool:
        if n.kind != "call" or not n.inputs or not concrete(n.shape):
            return False
        if any(i not in done for i in n.inputs):
            return False
        # each input this node is the last reader of dies here (count a repeated input once)
        freed = sum(frees[i] for i in set(n.inputs)
                    if remaining[i] == n.inputs.count(i))
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
