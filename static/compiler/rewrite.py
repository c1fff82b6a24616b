"""Assembling a rewritten graph: new nodes placed among the old ones, in a valid order.

A rewrite (``dot_merge``) builds new nodes with fresh ids (or an old id, to take that
node's place) and an anchor, the old node each must come before; :func:`assemble` puts
them there and restores a topological order with the fewest moves, keeping the user's
order of everything else (and of random draws, which must not change).

Example:
    >>> # graph, changed = assemble(graph, builder.added, builder.anchor_of, removed)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ...graphs.ir import Graph, Node


def assemble(graph: Graph, added: Sequence[Node], anchor_of: Mapping[int, int],
             removed: set[int]) -> tuple[Graph, bool]:
    """The old nodes (minus ``removed``; an ``added`` node with an old id replaces it) with
    each new node placed before the old node ``anchor_of`` names, then a stable topological
    order (inputs pulled forward). Unchanged, with False, when the new nodes would form a
    cycle or change the order of random draws."""
    replaced = {n.id: n for n in added if n.id in graph}
    before: dict[int, list[Node]] = {}
    for n in added:
        if n.id not in graph:
            before.setdefault(anchor_of[n.id], []).append(n)
    nodes: list[Node] = []
    for n in graph.nodes:
        nodes.extend(before.get(n.id, ()))
        if n.id in replaced:
            nodes.append(replaced[n.id])
        elif n.id not in removed:
            nodes.append(n)
    order = stable_toposort(nodes)
    if order is None:  # a merge would make a value need itself: keep the graph as it was
        return graph, False
    draws = [n.id for n in graph.nodes if n.kind == "call" and n.opdef.kind == "random"]
    if [n.id for n in order if n.kind == "call" and n.opdef.kind == "random"] != draws:
        return graph, False  # random draws must keep their order (and all happen)
    return Graph(tuple(order), graph.outputs), True


def stable_toposort(nodes: Sequence[Node]) -> list[Node] | None:
    """``nodes`` in their order, except that a node's missing inputs are pulled in first;
    None when they form a cycle."""
    by_id = {n.id: n for n in nodes}
    done: set[int] = set()
    order: list[Node] = []
    for start in nodes:
        path: list[tuple[Node, int]] = [(start, 0)]
        on_path = {start.id}
        while path:
            node, k = path.pop()
            if node.id in done:
                on_path.discard(node.id)
                continue
            if k < len(node.inputs):
                path.append((node, k + 1))
                i = node.inputs[k]
                if i not in done:
                    if i in on_path:
                        return None  # a cycle
                    path.append((by_id[i], 0))
                    on_path.add(i)
                continue
            done.add(node.id)
            on_path.discard(node.id)
            order.append(node)
    return order
