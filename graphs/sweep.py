"""The reverse sweep both engines drive: walk order, fitting and summing of gradients.

``tf.gradients`` (static) and ``backward()`` (dynamic) walk a graph the same way: start
from the outputs' gradients, take the newest node that a gradient has reached, run its
gradient rule, and send each input's gradient on to the node (or leaf) that produced the
input. What a node, a gradient and an op call *are* differs (a graph node to build, or an
array computed now), and so do the checks on the way; each engine supplies those as an
:class:`Engine`. The walk itself, the one place broadcasting is undone (:func:`fit`) and
the summing of gradients from several consumers live here, once.

The walk is iterative (a 100,000-node chain needs no recursion) and newest first: a node's
consumers were all created after it, so popping the highest creation rank from a heap of the
nodes reached so far runs each node once, after every gradient for it has arrived.

Example:
    >>> from tapeflow.graphs.sweep import Gathered
    >>> Gathered(target="w", grad=1.0)
    Gathered(target='w', grad=1.0, owned=False)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial
from heapq import heappop, heappush
from typing import Any, Protocol


@dataclass(slots=True)
class Gathered:
    """The gradient gathered so far for one target (a node's output, or a leaf).

    ``owned`` says that ``grad`` is a sum this sweep made and nobody else holds, so an
    engine may add the next gradient into it in place (HIPS autograd's mutable flag).
    """

    target: Any
    grad: Any
    owned: bool = False


@dataclass(slots=True)
class Swept:
    """What a sweep leaves behind for its engine.

    Attributes:
        ends: the gradients of the targets that are not nodes (dynamic mode's leaves), in
            the order their first gradient arrived.
        ran: the nodes whose rule ran, newest first.
        unfed: targets reached only by edges that carried no gradient (a rule returned
            None for them); the dynamic engine frees the graph behind them too.
    """

    ends: list[Gathered] = field(default_factory=list)
    ran: list[Any] = field(default_factory=list)
    unfed: list[Any] = field(default_factory=list)


class Engine(Protocol):
    """What an engine tells the sweep about its nodes, values and ops."""

    def rank(self, target: Any) -> int | None:
        """A node's creation rank (newer is larger), or None for an end (a leaf)."""

    def vjp(self, node: Any, grad: Any) -> Iterable[tuple[Any, Any, Any]]:
        """Runs ``node``'s rule on its summed gradient: ``(edge, input gradient, input)``
        for each input, with ``edge`` None where no gradient is wanted."""

    def fits(self, grad: Any, like: Any) -> bool:
        """Whether ``grad`` is already a value of ``like``'s shape and dtype (a fast check)."""

    def value(self, grad: Any, like: Any) -> Any:
        """``grad`` as the engine's value (a rule may return a plain number or array)."""

    def same_shape(self, grad: Any, like: Any) -> bool:
        """Whether no broadcasting can lie between ``grad`` and ``like``."""

    def dtype(self, value: Any) -> Any:
        """The registry dtype of ``value``."""

    def apply(self, op: str, args: tuple[Any, ...], attrs: dict[str, Any]) -> Any:
        """Runs (or adds to the graph) registry op ``op``."""

    def add(self, gathered: Gathered, grad: Any) -> None:
        """Adds ``grad`` into ``gathered.grad`` (in place only when ``gathered.owned``)."""

    # optional: ``refit(grad, like)``, fit() past its fast check done the engine's own way
    # (the same sum_to and cast, with fewer calls; without it the sweep calls _refit),
    # ``node_type``, the class of nodes whose rank is their ``seq`` attribute, and
    # ``sweep(seeds)``, this same walk fused with the engine's own rules (the same nodes in
    # the same order, the same sums; dynamic mode's raw engine), which reverse_sweep hands
    # the whole sweep to


def reverse_sweep(seeds: Iterable[tuple[Any, Any]], engine: Engine) -> Swept:
    """Sends the ``(target, gradient)`` seeds back through the graph, newest node first.

    Returns:
        The ends' gradients and the nodes that ran (see :class:`Swept`).
    """
    own = getattr(engine, "sweep", None)
    if own is not None:
        return own(seeds)  # type: ignore[no-any-return]
    # by id of the target, the gradients on their way: ``(target, grad)`` while one gradient
    # has arrived (most targets get one), a Gathered once a second one is summed into it
    gathered: dict[int, tuple[Any, Any] | Gathered] = {}
    queue: list[tuple[int, Any]] = []  # (-rank, node) of the nodes reached: pops the newest
    for target, grad in seeds:
        _send(engine, gathered, queue, target, grad)
    swept = Swept()
    vjp, fits, rank, ran, unfed = (engine.vjp, engine.fits, engine.rank, swept.ran,
                                   swept.unfed)  # bound once: this loop is hot
    # an engine may offer a quicker _refit of its own values (the same steps)
    refit = getattr(engine, "refit", None) or partial(_refit, engine)
    # and may name its node class, whose rank is its ``seq`` (no rank() call per edge)
    node_type = getattr(engine, "node_type", None)
    pop = gathered.pop
    while queue:
        node = heappop(queue)[1]
        entry = pop(id(node))
        grad = entry[1] if type(entry) is tuple else entry.grad
        ran.append(node)
        for edge, input_grad, like in vjp(node, grad):
            if edge is None:
                continue
            if input_grad is None:
                unfed.append(edge)
                continue
            if not fits(input_grad, like):
                input_grad = refit(input_grad, like)
            # _send's first-gradient case, inlined: most edges take it, and the call was a
            # tenth of the sweep's own time on a chain of tiny ops (bench_tape_overhead.py)
            if id(edge) in gathered:
                _send(engine, gathered, queue, edge, input_grad)
                continue
            gathered[id(edge)] = (edge, input_grad)
            if type(edge) is node_type:
                heappush(queue, (-edge.seq, edge))
                continue
            edge_rank = rank(edge)
            if edge_rank is not None:
                heappush(queue, (-edge_rank, edge))
    # every node was popped: the leaves remain
    swept.ends = [e if type(e) is Gathered else Gathered(*e) for e in gathered.values()]
    return swept


def _send(engine: Engine, gathered: dict[int, Any], queue: list[tuple[int, Any]],
          target: Any, grad: Any) -> None:
    """Sends ``grad`` to ``target``: summed into what arrived before, or its first."""
    found = gathered.get(id(target))
    if found is None:
        gathered[id(target)] = (target, grad)
        rank = engine.rank(target)
        if rank is not None:
            heappush(queue, (-rank, target))
        return
    if type(found) is tuple:
        found = gathered[id(target)] = Gathered(*found)
    engine.add(found, grad)  # another consumer's gradient: summed


def fit(engine: Engine, grad: Any, like: Any) -> Any:
    """A rule's gradient for an input, in the input's shape and dtype.

    The one place broadcasting is undone (rules never call ``sum_to``): the rule's result
    has the broadcast shape, and the registry's ``sum_to`` sums it down to the input's.
    Summing happens in the rule's dtype, then the sum is cast to the input's.
    """
    if engine.fits(grad, like):
        return grad
    return _refit(engine, grad, like)


def _refit(engine: Engine, grad: Any, like: Any) -> Any:
    # fit() past its fast check (the sweep has made it already)
    grad = engine.value(grad, like)
    if not engine.same_shape(grad, like):
        grad = engine.apply("sum_to", (grad, like), {})
    dtype = engine.dtype(like)
    if engine.dtype(grad) != dtype:
        grad = engine.apply("cast", (grad,), {"dtype": dtype})
    return grad


__all__ = ["Engine", "Gathered", "Swept", "fit", "reverse_sweep"]
