"""The backward sweep on raw arrays: the engine of a plain ``backward()``.

When nothing needs the gradients as tensors while they flow (no ``create_graph``, whose
rules must record; no anomaly mode, which checks each rule's results; no interceptor or
kernel observer, which see every op), the gradient rules run on the arrays themselves:
``R.mul(g, y)`` on two float32 arrays calls the registry's kernel at once
(:func:`tapeflow.runtime.registry.apply`), with no tensor made or dispatched per op. The
kernels, their order and their operands are those of the tensor engine
(:class:`tapeflow.dynamic.engine._Eager`), so the gradients are the same bit for bit. With
a GEMM provider (``torch.backends.blas.set_provider``) the engine reads it once per
backward() and sets it as ``runtime.blas.RAW`` while each rule runs, so ``R.matmul`` hands
it to the kernel, as the dispatch does for tensors: the same library, the same per-shape
choice of ``"auto"`` (cached on first use), the same bits as the tensor engine.

Tensors appear only where user code sees a gradient: node and tensor hooks, autograd.grad's
results, a custom Function's backward, and the leaves' ``.grad``. Without ``retain_graph``
each node is freed as soon as its rule has run, as PyTorch releases a node's saved
variables once it has run (this module also holds the version checks and the freeing that
both engines use).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..graphs.sweep import Gathered
from ..runtime import R, array_module, get
from ..runtime import dtypes as dt
from ..runtime.blas import RAW
from . import dispatch
from .dispatch import wrap
from .tape import _LAST, FREED_MESSAGE, Meta, Node, meta_of
from .thread_state import STATE

_ADD = get("add")
_np_add = getattr(np, _ADD.ufunc or "add")  # (the add kernel is exactly this ufunc)
_SUM_TO = get("sum_to")
_R_SUM_TO = R.sum_to
_ndarray = np.ndarray
_generic = np.generic
_DTYPES: dict[Any, Any] = {}  # numpy dtype -> registry dtype


def raw_ok(state: Any, create_graph: bool) -> bool:
    """Whether this thread's backward may run on raw arrays (module docstring)."""
    return (not create_graph and not state.anomaly and state.hot[0] is None
            and not state.observers)


# ---- what both engines check and free ------------------------------------------------------


def _type_name(array: Any) -> str:
    from ..runtime.dtypes import LEGACY_TENSOR_TYPES

    d = dt.of_array(array)
    prefix = "torch." if type(array).__module__.startswith("numpy") else "torch.cuda."
    name = next(k for k, v in LEGACY_TENSOR_TYPES.items() if v is d)
    return f"{prefix}{name} {list(array.shape)}"


def _version_error(what: str, array: Any, now: int, expected: int) -> RuntimeError:
    return RuntimeError(
        "one of the variables needed for gradient computation has been modified by an inplace "
        f"operation: [{_type_name(array)}]{what} is at version {now}; expected version "
        f"{expected} instead. Hint: the tensor was changed in place after the op that saved it "
        "(an inplace operation such as x += 1, x.mul_(2) or x[i] = v); use an out-of-place op "
        "(x = x + 1) or clone() it first.")


def check_versions(node: Node) -> None:
    """Raises PyTorch's error if a tensor ``node`` saved was changed in place since."""
    for tensor, version in node.saved:
        if tensor._vc[0] != version:
            fn = tensor._grad_fn
            what = f", which is output 0 of {fn.name()}," if fn is not None else ""
            raise _version_error(what, tensor._array, tensor._vc[0], version)
    if node.ans_vc is not None and node.ans_vc[0] != node.ans_version:
        raise _version_error(f", which is output 0 of {node.name()},", node.ans_array,
                             node.ans_vc[0], node.ans_version)


def free(node: Node) -> None:
    """Drops what ``node`` saved, so a later backward through it raises. Its inputs become
    shape and dtype only; a node whose rule reads no saved data (a custom Function's, whose
    ctx keeps what it needs) is not marked freed: a second backward through it works, as in
    PyTorch. Nodes that never kept a tensor need no visit at all."""
    if node.holds_tensors:
        inputs = node.inputs
        if len(inputs) == 2:  # unrolled: 0.56 -> 0.3 us for a mul that kept both inputs
            a, b = inputs  # (meta_of's lookup of the Meta last made for a shape, inline)
            if type(a) is not Meta and hasattr(a, "_array"):
                x = a._array
                a = _LAST.get(x.shape)
                if a is None or a.dtype is not x.dtype:
                    a = meta_of(x)
            if type(b) is not Meta and hasattr(b, "_array"):
                x = b._array
                b = _LAST.get(x.shape)
                if b is None or b.dtype is not x.dtype:
                    b = meta_of(x)
            node.inputs = (a, b)
        else:
            node.inputs = tuple([x if type(x) is Meta or not hasattr(x, "_array")
                                 else meta_of(x._array) for x in inputs])
        node.holds_tensors = False
    if node.saved or node.ans_vc is not None:
        node.freed = True
        node.saved = ()
        node.ans_ref = node.ans_array = node.ans_vc = None


# ---- the raw engine ------------------------------------------------------------------------


def _array_of(x: Any) -> Any:
    """A rule's view of a node input: a saved tensor's array; a Meta or a number as it is,
    save a numpy scalar, which becomes the weak Python number the dispatch would make of
    it (x * np.float64(0.1) on float32 stays float32, as in PyTorch)."""
    kind = type(x)
    if kind is Meta or kind is float or kind is int or kind is _ndarray:
        return x
    if isinstance(x, _generic):
        return x.item()
    return getattr(x, "_array", x)


def rule_edges(node: Node, grad: Any) -> Any:
    """``node``'s rules on arrays (a node with a tuple of rules, past the checks):
    ``(edge, input gradient, input)`` per input. One or two inputs are unrolled, and the
    rules are called without ``*`` and ``**`` where no attrs: -0.1 us a rule (a call with
    ``*inputs, **{}`` takes 118 ns, one without 30)."""
    rules = node.op.vjps
    inputs = node.inputs
    if len(inputs) > 2:
        return _rule_edges_n(node, grad, rules)
    ref = node.ans_ref
    ans = None
    if ref is not None:
        out = ref()  # the output tensor's array now, or (the tensor gone) the one kept
        ans = node.ans_array if out is None else out._array
    attrs = node.attrs
    tensor = dispatch.Tensor
    a = inputs[0]
    kind = type(a)  # the rules' view of a saved tensor or a number (_array_of, inline)
    if kind is tensor:
        a = a._array
    elif kind is not Meta and kind is not float:
        a = _array_of(a)
    if len(inputs) == 1:
        rule = rules[0]
        return ((node.next[0], rule(grad, ans, a, **attrs) if attrs else rule(grad, ans, a),
                 a),)
    b = inputs[1]
    kind = type(b)
    if kind is tensor:
        b = b._array
    elif kind is not Meta and kind is not float:
        b = _array_of(b)
    need_a, need_b = node.needed
    edge_a, edge_b = node.next
    if need_a:
        ga = rules[0](grad, ans, a, b, **attrs) if attrs else rules[0](grad, ans, a, b)
    else:
        ga = None
    if edge_b is None:  # (y * 2.0, x @ w with data x: one edge to walk, not two)
        return ((edge_a, ga, a),)
    if need_b:
        gb = rules[1](grad, ans, a, b, **attrs) if attrs else rules[1](grad, ans, a, b)
    else:
        gb = None
    return ((edge_b, gb, b),) if edge_a is None else ((edge_a, ga, a), (edge_b, gb, b))


def _rule_edges_n(node: Node, grad: Any, rules: tuple[Any, ...]) -> Any:
    ref = node.ans_ref
    out = None if ref is None else ref()
    ans = node.ans_array if out is None else out._array
    inputs = tuple([_array_of(x) for x in node.inputs])
    attrs = node.attrs
    return tuple(zip(node.next, [rule(grad, ans, *inputs, **attrs) if need else None
                                 for rule, need in zip(rules, node.needed, strict=True)],
                     inputs, strict=True))


def sum_to_array(grad: Any, like: Any) -> Any:
    """``grad`` summed down to ``like``'s shape by the registry's kernel, through the
    dispatcher's runner (its fast path when both share one float dtype; kernel observers
    see it): the tensor engine's sum."""
    dtype = grad.dtype
    common = dtype if (like.dtype == dtype and dtype.kind == "f") else None
    return dispatch.run_kernel(_SUM_TO, [grad, like], {}, common)


def add_into(total: Any, grad: Any) -> None:
    """``total += grad`` by the add kernel: its ufunc called at once on a numpy array (a
    leaf summing one gradient per RNN step does this at every step)."""
    if type(total) is _ndarray:
        _np_add(total, grad, out=total)
    else:
        _ADD.kernel(array_module(total), total, grad, out=total)


def run_hooks(hooks: list[Any], grad: Any) -> Any:
    """Calls each hook with the gradient; one that returns a value replaces it."""
    for hook in list(hooks):
        replaced = hook(grad)
        if replaced is not None:
            grad = replaced
    return grad


class NodeChecks:
    """What both dynamic engines do when a node's gradient has arrived, before its rule:
    the freed-graph error, the version checks, the node's hooks (shown a tensor), and
    autograd.grad's capture of a wanted non-leaf. ``show`` makes the tensor a user sees."""

    __slots__ = ("wanted", "captured")
    node_type = Node  # (the sweep reads a Node's rank from its seq, without calling rank)

    def __init__(self, wanted: dict[int, Any]) -> None:
        self.wanted = wanted  # autograd.grad's non-leaf inputs, by id of their grad_fn
        self.captured: dict[int, Any] = {}

    def rank(self, target: Any) -> int | None:
        if type(target) is Node or not hasattr(target, "_array"):
            return target.seq  # (another grad_fn, such as a trace's, says why it has none)
        return None  # a leaf tensor

    def arrive(self, node: Node, grad: Any) -> Any:
        """The checks and hooks past the freed-graph test: the gradient the rule gets."""
        if node.saved or node.ans_vc is not None:
            check_versions(node)
        if node.pre_hooks:
            grad = self.unshow(run_hooks(node.pre_hooks, self.show(grad)))
        if self.wanted and id(node) in self.wanted:
            self.captured[id(node)] = self.show(grad)
        return grad

    def show(self, grad: Any) -> Any:
        return grad

    def unshow(self, shown: Any) -> Any:
        return shown


class RawEngine(NodeChecks):
    """The dynamic engine of one sweep (:class:`tapeflow.graphs.sweep.Engine`) whose values
    are arrays. ``frees``: free each node once its rule ran (no retain_graph);
    ``tensor_vjp``: the tensor engine's rules, for a custom Function (user code, which
    sees tensors). ``gemm``: this thread's GEMM provider, read once (None: numpy's)."""

    __slots__ = ("frees", "tensor_vjp", "gemm")

    def __init__(self, wanted: dict[int, Any], frees: bool, tensor_vjp: Any) -> None:
        self.wanted = wanted  # (NodeChecks.__init__, without the call: once per backward)
        self.captured = {}
        self.frees = frees
        self.tensor_vjp = tensor_vjp
        self.gemm = STATE.gemm

    def show(self, grad: Any) -> Any:
        return wrap(grad)

    def unshow(self, shown: Any) -> Any:
        return getattr(shown, "_array", shown)

    def vjp(self, node: Node, grad: Any) -> Any:
        if self.gemm is not None:
            return self._by_provider(node, grad)
        if node.freed:
            raise RuntimeError(FREED_MESSAGE)
        if node.saved or node.ans_vc is not None or node.pre_hooks or self.wanted:
            grad = self.arrive(node, grad)
        if type(node.op.vjps) is not tuple:  # one rule for every input: variadic, custom
            return self._general(node, grad)
        edges = rule_edges(node, grad)
        if self.frees and (node.holds_tensors or node.ans_vc is not None):
            free(node)
        return edges

    def sweep(self, seeds: list[tuple[Any, Any]]) -> Any:
        """The reverse sweep fused with this engine's rules (:mod:`.sweep_raw`); its ends
        may be ``(leaf, gradient)`` tuples (:func:`.sweep_raw.gathered` makes Gathered)."""
        return raw_sweep(seeds, self)

    def _by_provider(self, node: Node, grad: Any) -> Any:
        # vjp with RAW set to the provider while the node's rules run, and restored after
        # (also when a rule or hook raises: R.matmul outside this sweep stays numpy's)
        provider, self.gemm = self.gemm, None
        held, RAW.provider = RAW.provider, provider
        try:
            return self.vjp(node, grad)
        finally:
            RAW.provider = held
            self.gemm = provider

    def _general(self, node: Node, grad: Any) -> Any:
        if node.op.kind == "custom":
            edges = tuple(self.tensor_vjp(node, wrap(grad)))
        else:
            ref = node.ans_ref
            out = None if ref is None else ref()
            ans = node.ans_array if out is None else out._array
            inputs = tuple([_array_of(x) for x in node.inputs])
            grads = node.op.vjp(grad, ans, inputs, node.attrs, node.needed)
            edges = tuple(zip(node.next, grads, inputs, strict=True))
        if self.frees and (node.holds_tensors or node.ans_vc is not None):
            free(node)
        return edges

    def fits(self, grad: Any, like: Any) -> bool:
        if type(grad) is not _ndarray:
            return False
        raw = like if type(like) is _ndarray or type(like) is Meta else _array_of(like)
        return grad.shape == raw.shape and grad.dtype == raw.dtype

    def refit(self, grad: Any, like: Any) -> Any:
        # sweep._refit's steps on arrays, without its calls back into this engine: summed
        # to like's shape in the rule's dtype, then cast to like's dtype
        if type(grad) is not _ndarray:
            grad = getattr(grad, "_array", grad)  # (a custom Function's backward gave a tensor)
        raw = like if type(like) is Meta or type(like) is _ndarray else _array_of(like)
        if grad.shape != raw.shape:
            dtype = grad.dtype
            if type(grad) is _ndarray and dtype is raw.dtype and dtype.kind == "f":
                # what R.sum_to does for one float dtype, without its call: the kernel at once
                # (a bias's gradient, once per step of an RNN); an error goes through R
                try:
                    summed = _SUM_TO.kernel(np, grad, raw)
                except Exception:  # noqa: BLE001 - R.sum_to raises the registry's message
                    summed = _R_SUM_TO(grad, raw)
                grad = np.asarray(summed) if isinstance(summed, _generic) else summed
            else:
                grad = _R_SUM_TO(grad, raw)
        if grad.dtype != raw.dtype:
            grad = R.cast(grad, dtype=self.dtype(raw))
        return grad

    def value(self, grad: Any, like: Any) -> Any:
        # a tensor from a custom Function's backward, or an array
        return getattr(grad, "_array", grad)

    def same_shape(self, grad: Any, like: Any) -> bool:
        return grad.shape == _array_of(like).shape

    def dtype(self, value: Any) -> Any:
        raw = _array_of(value).dtype
        found = _DTYPES.get(raw)
        if found is None:
            found = _DTYPES[raw] = dt.as_dtype(raw)
        return found

    def apply(self, op: str, args: tuple[Any, ...], attrs: dict[str, Any]) -> Any:
        if op == "sum_to":  # (R's kernel call at once; its like is a Meta or an array)
            return _R_SUM_TO(args[0], _array_of(args[1]))
        return getattr(R, op)(*args, **attrs)

    def add(self, gathered: Gathered, grad: Any) -> None:
        if gathered.owned:
            add_into(gathered.grad, grad)
        else:
            gathered.grad = R.add(gathered.grad, grad)
            gathered.owned = True


# the fused sweep reads this module's helpers (free, check_versions): imported after them
from .sweep_raw import raw_sweep  # noqa: E402

__all__ = ["NodeChecks", "RawEngine", "add_into", "check_versions", "free", "raw_ok",
           "rule_edges", "run_hooks", "sum_to_array"]
