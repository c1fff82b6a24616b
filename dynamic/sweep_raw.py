"""The reverse sweep of a plain ``backward()``, fused with the raw engine's rules.

:func:`tapeflow.graphs.sweep.reverse_sweep` drives any engine through a protocol: per node a
``vjp`` call that returns a tuple of ``(edge, gradient, input)``, per edge a ``fits`` call
and an id-keyed dict entry. On a chain of tiny ops those calls cost more than the rules'
own arithmetic. :func:`raw_sweep` walks the same way for :class:`RawEngine` (newest node
first, one run per node once every gradient for it has arrived, gradients summed in the
order they arrive, broadcasting undone by the same ``refit``) with the rule call, the
version checks, the freeing and the edge loop in one loop body, so the gradients are the
same bit for bit. Two shortcuts change nothing about the order:

* a node reached for the first time that is newer than every node waiting in the heap
  runs next without a trip through the heap (a chain never touches it);
* the gradients on their way are keyed by the node object itself (its identity hash), so
  no ``id()`` call per edge; leaves, which user code may subclass, are keyed by id.

Anything out of the ordinary (a custom Function, a variadic op, a foreign ``grad_fn``, a
hook, ``autograd.grad``'s capture) goes through the engine's own methods.
"""

from __future__ import annotations

from heapq import heappop, heappush, heapreplace
from typing import TYPE_CHECKING, Any

import numpy as np

from ..graphs.sweep import Gathered, Swept
from ..runtime import transposes
from ..runtime.blas import RAW
from .engine_raw import _array_of, check_versions, free, rule_edges
from .tape import FREED_MESSAGE, Node
from .thread_state import set_grad

if TYPE_CHECKING:
    from .engine_raw import RawEngine

_ndarray = np.ndarray


def raw_sweep(seeds: list[tuple[Any, Any]], engine: RawEngine) -> Swept:
    """:func:`tapeflow.graphs.sweep.reverse_sweep` for ``engine``: the same nodes run in
    the same order with the same gradients (module docstring). ``Swept.ran`` stays empty:
    the raw engine frees each node as it runs; ``Swept.ends`` holds a ``(leaf, gradient)``
    tuple for a leaf that one gradient reached (:func:`gathered` makes Gathered of all).

    Grad mode is turned off only while user code runs (a node's hook, a custom Function's
    backward: the first such node turns it off, the end of the sweep restores it): the
    rules on arrays record nothing whatever the mode, so a plain backward never switches.
    """
    mode: list[Any] = [None]  # grad mode before the sweep turned it off; None: untouched
    provider = engine.gemm
    # the thread's GEMM provider for R.matmul while the rules run (RawEngine._by_provider
    # sets it per node; nothing between two nodes calls matmul), restored whatever happens
    held = RAW.provider
    if provider is not None:
        RAW.provider = provider
    tables = transposes.open_table()  # weights' row-major transposes, this backward's
    try:
        return _sweep(seeds, engine, mode)
    finally:
        transposes.close_table(tables)
        if provider is not None:
            RAW.provider = held
        if mode[0] is not None:
            set_grad(mode[0])


def _sweep(seeds: list[tuple[Any, Any]], engine: RawEngine, mode: list[Any]) -> Swept:
    pending: dict[Any, Any] = {}  # node -> its gradient so far: an array, or a Gathered sum
    ends: dict[int, Any] = {}  # id(leaf) -> (leaf, gradient) or a Gathered, first come first
    queue: list[tuple[int, Any]] = []  # (-seq, node): pops the newest waiting node
    # a node reached first by the last node's rules, not pushed on the heap yet
    nxt = _seeded(seeds, engine, pending, ends, queue)
    unfed: list[Any] = []
    pop, wanted, frees = pending.pop, engine.wanted, engine.frees
    refit = engine.refit
    while True:
        if nxt is not None:
            node, nxt = nxt, None
            if queue and queue[0][0] < -node.seq:  # a newer node waits: it goes first
                node = heapreplace(queue, (-node.seq, node))[1]
        elif queue:
            node = heappop(queue)[1]
        else:
            break
        grad = pop(node)
        if type(grad) is Gathered:
            grad = grad.grad
        if (type(node) is not Node or node.pre_hooks or (wanted and id(node) in wanted)
                or type(node.op.vjps) is not tuple):
            # user code may run (a hook, a custom Function's backward, another grad_fn):
            # grad mode off, and the engine's own vjp, checks, capture and freeing
            if mode[0] is None:
                mode[0] = set_grad(False)
            transposes.forget()  # (user code may write a weight's array)
            edges = _raw_likes(engine.vjp(node, grad))
        else:
            if node.freed:
                raise RuntimeError(FREED_MESSAGE)
            saved = node.saved
            if saved:  # (most nodes keep no tensor: no iterator made)
                for tensor, version in saved:  # check_versions' test, inline: it raises
                    if tensor._vc[0] != version:
                        check_versions(node)
            vc = node.ans_vc
            if vc is not None and vc[0] != node.ans_version:
                check_versions(node)
            edges = rule_edges(node, grad)
            if frees:
                if node.holds_tensors:
                    free(node)
                elif vc is not None:  # (free's steps for a node that kept its output only)
                    node.freed = True
                    node.ans_ref = node.ans_array = node.ans_vc = None
        for edge, g, like in edges:
            if edge is None:
                continue
            if g is None:
                unfed.append(edge)
                continue
            # RawEngine.fits inline (numpy has one object per builtin dtype: `is` first)
            if type(g) is not _ndarray or g.shape != like.shape or (
                    g.dtype is not like.dtype and g.dtype != like.dtype):
                g = refit(g, like)
            if type(edge) is not Node:  # a leaf (_send's steps, inline), or another grad_fn
                found = ends.get(id(edge))
                if found is not None:  # a leaf's next gradient (an RNN's weights, per step)
                    if type(found) is tuple:
                        found = ends[id(edge)] = Gathered(*found)
                    engine.add(found, g)
                elif hasattr(edge, "_array"):
                    ends[id(edge)] = (edge, g)
                else:
                    _send(engine, pending, ends, queue, edge, g)
            elif edge in pending:
                _add(engine, pending, edge, g)
            else:
                pending[edge] = g
                if nxt is None:
                    nxt = edge
                elif edge.seq > nxt.seq:
                    heappush(queue, (-nxt.seq, nxt))
                    nxt = edge
                else:
                    heappush(queue, (-edge.seq, edge))
    # (a leaf one gradient reached stays a (leaf, gradient) tuple: see gathered())
    return Swept(list(ends.values()), [], unfed)


def _seeded(seeds: list[tuple[Any, Any]], engine: RawEngine, pending: dict[Any, Any],
            ends: dict[int, Any], queue: list[tuple[int, Any]]) -> Any:
    """Sends the seeds on; returns loss.backward()'s one seed node, to run first without a
    trip through the heap (None for other seeds: they wait in ``queue`` or ``ends``)."""
    if len(seeds) == 1 and type(seeds[0][0]) is Node:
        node, grad = seeds[0]
        pending[node] = grad
        return node
    for target, grad in seeds:
        _send(engine, pending, ends, queue, target, grad)
    return None


def gathered(ends: list[Any]) -> list[Gathered]:
    """:func:`raw_sweep`'s ends as the sweep protocol's Gathered entries."""
    return [e if type(e) is Gathered else Gathered(*e) for e in ends]


def _raw_likes(edges: Any) -> list[tuple[Any, Any, Any]]:
    # a general rule's inputs may be tensors: the arrays RawEngine.fits would compare with
    return [(edge, g, _array_of(like)) for edge, g, like in edges]


def _add(engine: RawEngine, pending: dict[Any, Any], node: Any, grad: Any) -> None:
    """A second (third...) gradient for ``node``: summed into what arrived before."""
    found = pending[node]
    if type(found) is not Gathered:
        found = pending[node] = Gathered(node, found)
    engine.add(found, grad)


def _send(engine: RawEngine, pending: dict[Any, Any], ends: dict[int, Any],
          queue: list[tuple[int, Any]], target: Any, grad: Any) -> None:
    """Sends ``grad`` to a seed's target or a non-Node edge (graphs.sweep._send's steps)."""
    rank = engine.rank(target)
    if rank is not None:  # a node (of any kind)
        if target in pending:
            _add(engine, pending, target, grad)
        else:
            pending[target] = grad
            heappush(queue, (-rank, target))
        return
    found = ends.get(id(target))
    if found is None:
        ends[id(target)] = (target, grad)
        return
    if type(found) is tuple:
        found = ends[id(target)] = Gathered(*found)
    engine.add(found, grad)


__all__ = ["gathered", "raw_sweep"]
