"""``torch.utils.checkpoint``: trade compute for memory in dynamic mode.

``checkpoint(fn, *args)`` runs ``fn`` and records its graph as usual, then drops every
tensor the recorded nodes saved for backward: only ``fn``'s inputs (and outputs) stay alive.
When the backward sweep reaches the first of those nodes, a pre-hook re-runs ``fn`` (with the
random state it had the first time, so dropout draws the same masks) and hands each original
node the values its twin in the re-run saved. The backward then walks the *original* nodes
with the same values, so the gradients are bit for bit those of the plain run, as with
PyTorch's non-reentrant checkpoint (saved-tensor hooks). The sweep pops nodes newest first,
so when a checkpointed region is restored, every region recorded after it is finished: its
re-run values are dropped again at once, and the backward holds one region at a time.
"""

from __future__ import annotations

import threading
import warnings
import weakref
from collections.abc import Callable, Iterator
from typing import Any

from ..creation import default_generator
from ..dispatch import is_tracing
from ..grad_mode import enable_grad, is_grad_enabled, no_grad
from ..tape import _SEQUENCE, Node, meta_of
from ..tensor import Tensor

_FIELDS = ("inputs", "saved", "ans_ref", "ans_array", "ans_vc", "ans_version", "holds_tensors")

#: this thread's regions whose re-run values are in place (per thread, like the sweep)
_LIVE = threading.local()


def _tensors(value: Any) -> Iterator[Tensor]:
    """The tensors in ``value``, however nested in tuples, lists and dicts."""
    if isinstance(value, Tensor):
        yield value
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _tensors(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _tensors(item)


def _region(outputs: Any, start: int) -> list[Node]:
    """The nodes recorded since ``start`` that the outputs' gradients pass through, oldest
    first (the order a re-run records them in)."""
    found: dict[int, Node] = {}
    stack = [t.grad_fn for t in _tensors(outputs) if isinstance(t.grad_fn, Node)]
    while stack:
        node = stack.pop()
        if node.seq < start or id(node) in found:
            continue
        found[id(node)] = node
        stack.extend(e for e in node.next if isinstance(e, Node))
    return sorted(found.values(), key=lambda n: n.seq)


class _Record:
    """One checkpointed call: how to re-run it and the nodes it recorded."""

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
                 rng: Any, nodes: list[Node]) -> None:
        self.fn, self.args, self.kwargs, self.rng = fn, args, kwargs, rng
        self.nodes = nodes
        self.start = nodes[0].seq if nodes else 0
        self.restored = False
        self.strip()
        for node in nodes:
            node.register_hook(self.hook)

    def strip(self) -> None:
        """Drops what the nodes saved (shapes and dtypes stay, for printing)."""
        self.restored = False
        for node in self.nodes:
            if node.freed:
                continue
            node.inputs = tuple(meta_of(x._array) if isinstance(x, Tensor) else x
                                for x in node.inputs)
            node.saved = ()
            node.ans_ref = node.ans_array = None
            # a version counter of its own: the engine then frees the node after a backward
            # without retain_graph, and a second backward raises as PyTorch's does
            node.ans_vc, node.ans_version = [0], 0
            node.holds_tensors = False

    def hook(self, grad: Any) -> None:
        if self.restored:
            return
        live = [r for r in (ref() for ref in getattr(_LIVE, "records", [])) if r is not None]
        for other in live:
            if other.start > self.start and other.restored:
                other.strip()  # the sweep is past it: every node of a newer region has run
        self.restore()
        _LIVE.records = [weakref.ref(r) for r in live if r.restored] + [weakref.ref(self)]

    def restore(self) -> None:
        """Re-runs the function and gives each node the values its twin saved."""
        if self.rng is not None:
            now = default_generator.get_state()
            default_generator.set_state(self.rng)
        try:
            with enable_grad():
                first = _rank_now()
                outputs = self.fn(*self.args, **self.kwargs)
        finally:
            if self.rng is not None:
                default_generator.set_state(now)
        twins = _region(outputs, first)
        if [n.op.name for n in twins] != [n.op.name for n in self.nodes]:
            raise RuntimeError(
                "torch.utils.checkpoint: the recomputed function recorded different ops "
                f"({len(twins)} nodes) than the forward pass ({len(self.nodes)} nodes): "
                f"{getattr(self.fn, '__name__', self.fn)!r} must compute the same way each call")
        for node, twin in zip(self.nodes, twins, strict=True):
            for field in _FIELDS:
                setattr(node, field, getattr(twin, field))
            node.freed = False
        self.restored = True


def _rank_now() -> int:
    """A creation rank below every node recorded from now on (it uses up one number)."""
    return next(_SEQUENCE)


def _use_reentrant(use_reentrant: bool | None, where: str) -> bool:
    if use_reentrant is None:
        warnings.warn(
            f"{where}: the use_reentrant parameter should be passed explicitly. Starting in "
            "PyTorch 2.9, calling checkpoint without use_reentrant will raise an exception. "
            "use_reentrant=False is recommended, but if you need to preserve the current "
            "default behavior, you can pass use_reentrant=True.", stacklevel=3)
        return True
    return bool(use_reentrant)


def checkpoint(function: Callable[..., Any], *args: Any, use_reentrant: bool | None = None,
               preserve_rng_state: bool = True, **kwargs: Any) -> Any:
    """Runs ``function(*args)`` keeping only its inputs; backward re-runs it.

    Args:
        function: what to run; it must compute the same way when re-run.
        *args: its arguments (tensors, or anything else).
        use_reentrant: pass it explicitly (``False`` is recommended); leaving it out warns
            as PyTorch 2.13 does. Both variants save the same memory here.
        preserve_rng_state: replay the random state so dropout draws the same masks.
        **kwargs: keyword arguments for ``function`` (``use_reentrant=False`` only).

    Returns:
        What ``function`` returned.

    Example:
        >>> import tapeflow.dynamic as torch
        >>> from tapeflow.dynamic.utils.checkpoint import checkpoint
        >>> x = torch.ones(3, requires_grad=True)
        >>> y = checkpoint(lambda t: (t * t).tanh(), x, use_reentrant=False)
        >>> y.sum().backward(); [round(v, 4) for v in x.grad.tolist()]
        [0.8399, 0.8399, 0.8399]
    """
    reentrant = _use_reentrant(use_reentrant, "torch.utils.checkpoint")
    if kwargs and reentrant:
        raise ValueError("Unexpected keyword arguments: " + ",".join(kwargs))
    if reentrant and not any(t.requires_grad for t in _tensors(args)):
        warnings.warn("None of the inputs have requires_grad=True. Gradients will be None",
                      stacklevel=2)
        with no_grad():
            return function(*args)
    if is_tracing() or not is_grad_enabled():
        return function(*args, **kwargs)
    rng = default_generator.get_state() if preserve_rng_state else None
    start = _rank_now()
    outputs = function(*args, **kwargs)
    nodes = _region(outputs, start)
    if nodes:
        _Record(function, args, kwargs, rng, nodes)
    return outputs


def checkpoint_sequential(functions: Any, segments: int, input: Any,  # noqa: A002
                          use_reentrant: bool | None = None, **kwargs: Any) -> Any:
    """Runs modules one after another, checkpointing all but the last of ``segments`` runs.

    Example:
        >>> import tapeflow.dynamic as torch
        >>> from tapeflow.dynamic.utils.checkpoint import checkpoint_sequential
        >>> net = torch.nn.Sequential(torch.nn.Tanh(), torch.nn.Tanh(), torch.nn.Tanh())
        >>> x = torch.ones(2, requires_grad=True)
        >>> y = checkpoint_sequential(net, 2, x, use_reentrant=False)
        >>> y.shape
        torch.Size([2])
    """
    reentrant = _use_reentrant(use_reentrant, "torch.utils.checkpoint.checkpoint_sequential")
    preserve = kwargs.pop("preserve_rng_state", True)
    if kwargs:
        raise ValueError("Unexpected keyword arguments: " + ",".join(kwargs))
    from ..nn import Sequential

    if isinstance(functions, Sequential):
        functions = list(functions.children())
    functions = list(functions)

    def run(first: int, last: int) -> Callable[[Any], Any]:
        def forward(x: Any) -> Any:
            for j in range(first, last + 1):
                x = functions[j](x)
            return x
        return forward

    size = len(functions) // segments
    end = -1
    for start in range(0, size * (segments - 1), size):
        end = start + size - 1
        input = checkpoint(run(start, end), input, use_reentrant=reentrant,  # noqa: A001
                           preserve_rng_state=preserve)
    return run(end + 1, len(functions) - 1)(input)


__all__ = ["checkpoint", "checkpoint_sequential"]
