"""Dynamic mode's reverse sweep: ``backward()`` and ``autograd.grad``.

The walk, the fitting of each gradient to its input's shape and the summing of gradients
from several consumers are :mod:`tapeflow.graphs.sweep`'s, shared with ``tf.gradients``.
This module adds what only eager execution has: version checks of saved tensors, tensor
hooks, anomaly checks, freeing the graph unless ``retain_graph``, and ``.grad``. A plain
backward runs the rules on raw arrays (:mod:`tapeflow.dynamic.engine_raw`), in the same
walk fused with them (:mod:`tapeflow.dynamic.sweep_raw`); create_graph, anomaly mode, an
interceptor or a kernel observer take the tensor engine here (:class:`_Eager`), which
dispatches each rule op as an unrecorded (or, with create_graph, recorded) tensor op. Both
compute the same gradients bit for bit.

Leaves' ``.grad`` is written only after the whole sweep and every leaf hook succeeded, in
one step that holds a lock (threads that share a leaf add into it one at a time) and holds
back Ctrl-C until the last write: a failed or interrupted backward leaves every ``.grad``
as it was, and a finished one has written them all.
"""

from __future__ import annotations

import _signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..graphs.sweep import Gathered, Swept, reverse_sweep
from ..runtime import R, array_module
from ..runtime import dtypes as dt
from . import dispatch
from .anomaly import checked_vjp
from .dispatch import wrap
from .engine_raw import NodeChecks, RawEngine, add_into, free, raw_ok, run_hooks, sum_to_array
from .sweep_raw import gathered
from .tape import FREED_MESSAGE, Meta, Node, display_name
from .thread_state import STATE, notify, set_grad

#: held for the read-add-write of leaves' ``.grad``: backward() from several threads into
#: one shared leaf must add every gradient (PyTorch's AccumulateGrad takes a lock too)
_GRAD_LOCK = threading.Lock()
_MAIN_IDENT = threading.main_thread().ident
_get_ident = threading.get_ident
_DTYPES: dict[Any, Any] = {}  # numpy dtype -> registry dtype
_SIGINT = _signal.SIGINT
_ndarray = np.ndarray
_np_empty = np.empty
_refs = sys.getrefcount
# Reference counts mean "nothing else holds it" as counted below only on CPython 3.10-3.13
# with the GIL (3.14 borrows references on its stack; a free-threaded build counts apart):
# elsewhere every gradient is copied
_COUNTS_OWNERS = (sys.implementation.name == "cpython" and sys.version_info < (3, 14)
                  and getattr(sys, "_is_gil_enabled", lambda: True)())


def _ans(node: Node) -> Any:
    ref = node.ans_ref
    if ref is None:
        return None
    out = ref()
    if out is None:
        # the output tensor is gone, but its memory and history are not: rebuild it, so a
        # rule that reads it still connects to this node when create_graph records the rule
        out = wrap(node.ans_array, None, node.ans_vc)
        out._grad_fn = node
        out._requires_grad = True
    return out


def _raw(value: Any) -> Any:
    """What shape and dtype are read from: a tensor's array, a Meta, or a plain array."""
    return value if type(value) is Meta else getattr(value, "_array", value)


def tensor_rules(node: Node, grad: Any, anomaly: bool = False) -> Any:
    """``node``'s gradient rules on tensors: ``(edge, input gradient, input)`` per input."""
    ref = node.ans_ref
    ans = None if ref is None else ref()
    if ans is None and ref is not None:
        ans = _ans(node)  # the output tensor is gone: rebuilt from what the node kept
    rules = node.op.vjps
    inputs = node.inputs
    if anomaly:
        grads = checked_vjp(node, grad, ans)
    elif type(rules) is not tuple:  # one rule for every input (variadic, custom)
        grads = node.op.vjp(grad, ans, inputs, node.attrs, node.needed)
    elif len(rules) == 1:
        # one input (unary math, views, reductions): its one rule, called here directly
        return ((node.next[0], rules[0](grad, ans, *inputs, **node.attrs), inputs[0]),)
    elif len(rules) == 2:
        # two inputs (add, mul, matmul...), unrolled: no list and no zip to build; -0.5 µs
        # of 3.5 per node on bench_tape_overhead's chain (3.0 against 3.5), XOR step 178
        # against 185 µs (thread time, minimum of 25 interleaved repeats)
        attrs = node.attrs
        need_a, need_b = node.needed
        edge_a, edge_b = node.next
        return ((edge_a, rules[0](grad, ans, *inputs, **attrs) if need_a else None,
                 inputs[0]),
                (edge_b, rules[1](grad, ans, *inputs, **attrs) if need_b else None,
                 inputs[1]))
    else:  # OpDef.vjp's per-input rules, called here directly (no generator)
        attrs = node.attrs
        grads = [rule(grad, ans, *inputs, **attrs) if need else None
                 for rule, need in zip(rules, node.needed, strict=True)]
    return zip(node.next, grads, inputs, strict=True)


class _Eager(NodeChecks):
    """The dynamic engine of one sweep (:class:`tapeflow.graphs.sweep.Engine`): tape nodes,
    leaf tensors and arrays computed at once, every value a tensor."""

    __slots__ = ("in_place", "anomaly", "tensor_type")

    def __init__(self, create_graph: bool, wanted: dict[int, Any]) -> None:
        super().__init__(wanted)
        self.anomaly = STATE.anomaly
        # a third gradient reaching the same place is added into the sum of the first two
        # (a buffer this sweep made and nobody else holds) with the registry's add kernel;
        # with create_graph the sums are recorded ops instead, and under anomaly mode checked
        self.in_place = not create_graph and not self.anomaly and STATE.hot[0] is None
        self.tensor_type = dispatch.Tensor

    def vjp(self, node: Node, grad: Any) -> Any:
        if node.freed:
            raise RuntimeError(FREED_MESSAGE)
        return tensor_rules(node, self.arrive(node, grad), self.anomaly)

    def fits(self, grad: Any, like: Any) -> bool:
        if type(grad) is not self.tensor_type:
            return False
        raw = like if type(like) is Meta else getattr(like, "_array", like)  # (_raw, inline)
        array = grad._array
        return array.shape == raw.shape and array.dtype == raw.dtype

    def value(self, grad: Any, like: Any) -> Any:
        return grad if hasattr(grad, "_array") else wrap(grad)

    def same_shape(self, grad: Any, like: Any) -> bool:
        return grad._array.shape == _raw(like).shape  # (numpy and cupy shapes are tuples)

    def dtype(self, value: Any) -> Any:
        raw = _raw(value).dtype
        found = _DTYPES.get(raw)  # (as_dtype, once per numpy dtype: fit asks twice per call)
        if found is None:
            found = _DTYPES[raw] = dt.as_dtype(raw)
        return found

    def apply(self, op: str, args: tuple[Any, ...], attrs: dict[str, Any]) -> Any:
        if op == "sum_to" and self.in_place:
            # nothing records: the registry's kernel, without wrapping the intermediate
            return wrap(sum_to_array(args[0]._array, _raw(args[1])))
        return getattr(R, op)(*args, **attrs)

    def add(self, gathered: Gathered, grad: Any) -> None:
        if gathered.owned:
            total = gathered.grad._array
            add_into(total, grad._array)
        else:
            gathered.grad = R.add(gathered.grad, grad)
            gathered.owned = self.in_place


def run_backward(outputs: Sequence[Any], grad_outputs: Sequence[Any], retain_graph: bool,
                 create_graph: bool, inputs: Sequence[Any] | None = None,
                 allow_unused: bool = False) -> tuple[Any, ...] | None:
    """The sweep behind ``Tensor.backward`` (``inputs=None``: accumulate into leaves' .grad)
    and ``autograd.grad`` (return the gradients of ``inputs``; no .grad is touched)."""
    seeds = _seeds(outputs, grad_outputs)
    wanted = {id(t._grad_fn): t for t in inputs if t._grad_fn is not None} if inputs else {}
    state = STATE
    engine = _raw_engine(seeds, wanted, retain_graph) if raw_ok(state, create_graph) else None
    observed = False
    if engine is not None:
        # (the raw sweep turns grad mode off itself, only where user code runs)
        swept = reverse_sweep(seeds, engine)
        if not retain_graph and swept.unfed:
            _free_graph(swept, True)
    else:
        engine = _Eager(create_graph, wanted)
        seeds = [(target, g if hasattr(g, "_array") else wrap(g)) for target, g in seeds]
        observed = bool(state.observers)
        if observed:
            notify("backward")
        previous = set_grad(create_graph)  # (no_grad() or enable_grad(), without objects)
        try:
            swept = reverse_sweep(seeds, engine)
        finally:
            set_grad(previous)
        if not retain_graph:
            _free_graph(swept, False)
    if inputs is not None:
        result = _collect(inputs, swept.ends, engine.captured, allow_unused)
    else:
        result = None
        _store_leaf_grads(swept.ends, create_graph)
    if observed:
        notify("backward_end")
    return result


def _raw_engine(seeds: list[tuple[Any, Any]], wanted: dict[int, Any],
                retain_graph: bool) -> RawEngine | None:
    """The raw engine, with ``seeds`` turned into arrays in place; None when a seed is not
    a numpy array (cupy: the tensor engine)."""
    if len(seeds) == 1 and type(seeds[0][1]) is _ndarray:  # loss.backward(): no loop
        return RawEngine(wanted, not retain_graph, tensor_rules)
    for i, (target, g) in enumerate(seeds):
        if type(g) is not _ndarray:
            g = getattr(g, "_array", g)
            if type(g) is not _ndarray:
                return None
            seeds[i] = (target, g)
    return RawEngine(wanted, not retain_graph, tensor_rules)


def _seeds(outputs: Sequence[Any], grad_outputs: Sequence[Any]) -> list[tuple[Any, Any]]:
    """``(where it goes, gradient)`` for each output: its grad_fn, or the leaf itself."""
    if len(outputs) == 1 == len(grad_outputs):  # loss.backward(): no zip and no enumerate
        out = outputs[0]
        if out._requires_grad:
            fn = out._grad_fn
            return [(out if fn is None else fn, _root_grad(out, grad_outputs[0], 0))]
    seeds = []
    for i, (out, g) in enumerate(zip(outputs, grad_outputs, strict=True)):
        if not out._requires_grad:
            raise RuntimeError(f"element {i} of tensors does not require grad and does not "
                               "have a grad_fn")
        fn = out._grad_fn
        seeds.append((out if fn is None else fn, _root_grad(out, g, i)))
    return seeds


def _root_grad(out: Any, g: Any, i: int) -> Any:
    if g is None:
        if out._array.size != 1:
            raise RuntimeError("grad can be implicitly created only for scalar outputs")
        array = out._array
        # full_like's value, as two C calls: np.full is a Python function (1 µs of a step);
        # an array, which the tensor engine wraps
        ones = (_np_empty if type(array) is _ndarray else array_module(array).empty)(
            array.shape, array.dtype)
        ones.fill(1)
        return ones
    g = g if hasattr(g, "_array") else wrap(g)
    if tuple(g._array.shape) != tuple(out._array.shape):
        raise RuntimeError(f"Mismatch in shape: grad_output[{i}] has a shape of "
                           f"torch.Size({list(g._array.shape)}) and output[{i}] has a shape of "
                           f"torch.Size({list(out._array.shape)}).")
    return g


# ---- freeing the graph (unless retain_graph) ----------------------------------------------


def _free_graph(swept: Swept, ran_freed: bool) -> None:
    """Frees the nodes that ran (unless the raw engine freed each as it ran), and those
    behind edges that carried no gradient (a rule returned None for them): they belong to
    the graph this backward consumed too."""
    if not ran_freed:
        for node in swept.ran:
            if node.holds_tensors or node.ans_vc is not None:
                free(node)
    if not swept.unfed:
        return
    seen: set[int] = set()
    stack = [e for e in swept.unfed if type(e) is Node]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if node.holds_tensors or node.ans_vc is not None:
            free(node)
        stack.extend(e for e in node.next if type(e) is Node and id(e) not in seen)


# ---- results: autograd.grad's tuple, or leaves' .grad ----------------------------------------


def _collect(inputs: Sequence[Any], ends: list[Gathered], captured: dict[int, Any],
             allow_unused: bool) -> tuple[Any, ...]:
    leaf_grads = {id(end.target): end.grad for end in gathered(ends)}
    result = []
    for t in inputs:
        if t._grad_fn is None:
            grad = leaf_grads.get(id(t))
        else:
            grad = captured.get(id(t._grad_fn))
        if grad is None and not allow_unused:
            raise RuntimeError("One of the differentiated Tensors appears to not have been used "
                               "in the graph. Set allow_unused=True if this is the desired "
                               "behavior.")
        result.append(grad if grad is None or hasattr(grad, "_array") else wrap(grad))
    return tuple(result)


def _store_leaf_grads(ends: list[Any], create_graph: bool) -> None:
    """Runs the leaves' hooks, then writes every ``.grad`` in one step (module docstring).
    ``ends``: Gathered entries, or the raw sweep's ``(leaf, gradient)`` tuples. Without
    ``create_graph`` the gradients are written as arrays (the raw engine's values)."""
    final = []
    for end in ends:  # a hook that raises (or Ctrl-C in one) comes before any write
        if type(end) is tuple:  # (the raw sweep's leaf that one gradient reached)
            leaf, grad = end
            owned = False
        else:
            leaf, grad, owned = end.target, end.grad, end.owned
        if (not owned and _COUNTS_OWNERS and type(grad) is _ndarray and grad.base is None
                and _refs(grad) == 3):
            # an array nothing else refers to (end.grad, this name and the call's argument):
            # it becomes .grad as it is, as PyTorch's AccumulateGrad steals a gradient whose
            # use count is 1; a shared one (two leaves, a hook's tensor, the caller's
            # gradient, a view) is copied below
            owned = True
        if leaf._hooks:
            owned = False  # a hook may keep the tensor it was shown
            grad = run_hooks(leaf._hooks, grad if hasattr(grad, "_array") else wrap(grad))
        if not create_graph and type(grad) is not _ndarray:
            grad = grad._array
        final.append((leaf, grad, owned))
    _write_grads(final, create_graph)


def store_grads(targets: Sequence[Any], grads: Sequence[Any], create_graph: bool) -> None:
    """``backward(inputs=...)``: adds each gradient into its target's ``.grad`` (leaf or
    not; None skips it) in the same one locked, uninterruptible step as a plain backward."""
    final = [(t, g if create_graph else g._array, False)
             for t, g in zip(targets, grads, strict=True) if g is not None]
    _write_grads(final, create_graph)


def _write_grads(final: list[tuple[Any, Any, bool]], create_graph: bool) -> None:
    with _GRAD_LOCK:
        caught = _hold_interrupts()
        try:
            for target, grad, owned in final:
                _accumulate(target, grad, owned, create_graph)
        finally:
            if caught is not None:
                _deliver_interrupts(caught)


def _accumulate(leaf: Any, grad: Any, owned: bool, create_graph: bool) -> None:
    """Adds ``grad`` (a tensor with ``create_graph``, else an array) into ``leaf.grad``."""
    if create_graph:
        leaf._grad = grad if leaf._grad is None else R.add(leaf._grad, grad)
    elif leaf._grad is None:
        # a tensor of its own (one gradient can reach two leaves, or be the caller's
        # `gradient`), so a later in-place update of one .grad touches nothing else; a
        # sum this sweep made is already one
        leaf._grad = wrap(grad if owned else grad.copy())
    else:
        add_into(leaf._grad._array, grad)
        leaf._grad._vc[0] += 1


def _hold_interrupts() -> tuple[Any, list[int]] | None:
    """Holds Ctrl-C (SIGINT) back until :func:`_deliver_interrupts`; returns what that needs
    (None: nothing was held).

    Python raises KeyboardInterrupt between any two bytecodes of the main thread, so a loop
    of writes can be split by it; here the handler only notes the signal, and it is raised
    again once the loop has finished. Other threads never receive signals: nothing to hold.
    ``_signal`` is the C module under ``signal``: the same calls without ``signal``'s enum
    conversions (a third of a one-node backward's fixed cost, measured with cProfile).
    """
    if _get_ident() != _MAIN_IDENT:
        return None
    previous = _signal.getsignal(_SIGINT)
    if previous is None:
        return None  # a handler installed outside Python, which it cannot restore
    caught: list[int] = []
    try:
        _signal.signal(_SIGINT, lambda signum, frame: caught.append(signum))
    except ValueError:  # not the main interpreter: signals are not ours to handle
        return None
    return previous, caught


def _deliver_interrupts(held: tuple[Any, list[int]]) -> None:
    previous, caught = held
    _signal.signal(_SIGINT, previous)
    if caught:
        _signal.raise_signal(_SIGINT)


__all__ = ["display_name", "run_backward", "store_grads"]
