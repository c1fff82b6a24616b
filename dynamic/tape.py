"""Tape nodes (``grad_fn``): what one recorded op saved, and where its gradients go.

Each recorded op appends one :class:`Node`. Its ``next`` edges point at the nodes that
produced its inputs (or at the leaf tensors themselves); its saved tensors carry the
version they had when they were saved, so an in-place change is caught in backward.
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Callable
from typing import Any

from ..runtime import OpDef

_SEQUENCE = itertools.count()
_next_seq = _SEQUENCE.__next__
_weakref = weakref.ref

#: PyTorch's names for the grad_fn of a few ops whose registry name differs.
_DISPLAY = {"matmul": "Mm", "getitem": "Slice", "take": "Index", "transpose": "Permute",
            "reshape": "View", "log_softmax": "LogSoftmax", "broadcast_to": "Expand",
            "concat": "Cat", "clamp": "Clamp", "mask_select": "MaskedSelect"}

FREED_MESSAGE = (
    "Trying to backward through the graph a second time (or directly access saved tensors "
    "after they have already been freed). Saved intermediate values of the graph are freed "
    "when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to "
    "backward through the graph a second time or if you need to access saved tensors after "
    "calling backward.")


def display_name(op_name: str) -> str:
    base = _DISPLAY.get(op_name) or "".join(p.capitalize() for p in op_name.split("_"))
    return f"{base}Backward0"


# ---- which inputs a gradient rule reads ----------------------------------------------------


_READS_CACHE: dict[tuple[str, tuple[bool, ...]], tuple[bool, tuple[bool, ...]]] = {}


def saved_for(op: OpDef, needed: tuple[bool, ...]) -> tuple[bool, tuple[bool, ...]]:
    """What the rules for the ``needed`` inputs read: the output, and which inputs' data, as
    each op declares at registration (``OpDef.saves``; cached: this runs once per node)."""
    key = (op.name, needed)
    cached = _READS_CACHE.get(key)
    if cached is None:
        cached = _READS_CACHE[key] = op.saved_for(needed)
    return cached


# ---- nodes --------------------------------------------------------------------------------


class Meta:
    """What the tape keeps of an input whose data no rule reads: shape and dtype."""

    __slots__ = ("shape", "dtype", "ndim")

    def __init__(self, array: Any) -> None:
        self.shape = array.shape
        self.dtype = array.dtype
        self.ndim = array.ndim


_METAS: dict[tuple[Any, int], Meta] = {}
#: shape -> the Meta last handed out for it: one dict lookup for the usual case of one dtype
_LAST: dict[Any, Meta] = {}


def meta_of(array: Any) -> Meta:
    """The (shared) Meta for ``array``'s shape and dtype: nodes keep many of the same ones.

    Keyed by the dtype's id: the cached Meta holds the dtype, so the id cannot be reused.
    """
    shape = array.shape
    found = _LAST.get(shape)
    if found is not None and found.dtype is array.dtype:
        return found  # (numpy hands out one dtype object per builtin dtype)
    key = (shape, id(array.dtype))
    found = _METAS.get(key)
    if found is None:
        if len(_METAS) >= 4096:  # many distinct shapes (variable-length batches): start over
            _METAS.clear()
            _LAST.clear()
        found = _METAS[key] = Meta(array)
    _LAST[shape] = found
    return found


class Node:
    """One recorded op: a ``grad_fn``. ``name()`` is PyTorch's (``MulBackward0``).

    Attributes:
        op_name: the registry op this node runs the gradient rule of.
        attrs: the op's attributes.
        next_functions: ``((fn or None, 0), ...)``, one per input, as in PyTorch.
    """

    # one slot per field (no per-node dict); the rarely set fields (hooks, label, a cached
    # next_functions) are class-level defaults until set, so recording writes 15 fields
    __slots__ = ("op", "attrs", "inputs", "next", "needed", "seq", "ans_ref", "ans_array",
                 "ans_vc", "ans_version", "saved", "freed", "out_shape", "out_dtype",
                 "holds_tensors", "__dict__", "__weakref__")

    pre_hooks: list[Callable[[Any], Any]] | None = None
    label: str | None = None
    _next_functions: tuple[tuple[Any, int], ...] | None = None

    def __init__(self, op: OpDef, attrs: dict[str, Any], inputs: tuple[Any, ...],
                 edges: tuple[Any, ...], needed: tuple[bool, ...], out: Any) -> None:
        self.op = op
        self.attrs = attrs
        self.next = edges
        self.needed = needed
        self.seq = _next_seq()
        found = _READS_CACHE.get((op.name, needed))
        save_ans, save_inputs = found if found is not None else saved_for(op, needed)
        # inputs no rule reads are kept as shape and dtype only, so their memory can go now;
        # the rest are saved with the version they had, which backward checks
        saved: list[tuple[Any, int]] | tuple[()] = ()
        if True in save_inputs:
            kept: list[Any] = []
            saved = []
            for x, keep in zip(inputs, save_inputs, strict=True):
                vc = getattr(x, "_vc", None)
                if vc is None:
                    kept.append(x)  # a Python number or a plain array: nothing to free
                elif keep:
                    kept.append(x)
                    saved.append((x, vc[0]))
                else:
                    kept.append(meta_of(x._array))
            self.inputs = tuple(kept)
        elif len(inputs) == 2:  # the common case for add, sub...: no input is read
            # unrolled here and below (no list comprehension frame): -0.2 µs of a recorded
            # add's 2.9 (thread time, minimum of 7 repeats, interleaved)
            a, b = inputs
            self.inputs = (meta_of(a._array) if hasattr(a, "_vc") else a,
                           meta_of(b._array) if hasattr(b, "_vc") else b)
        elif len(inputs) == 1:  # sigmoid, tanh, sum...: a rule that reads the output only
            a = inputs[0]
            self.inputs = (meta_of(a._array) if hasattr(a, "_vc") else a,)
        else:
            self.inputs = tuple([meta_of(x._array) if hasattr(x, "_vc") else x for x in inputs])
        # only a node that kept a tensor has anything for _free to turn into shape and dtype
        self.holds_tensors = bool(saved)
        # the output is held weakly (it holds this node: no reference cycle); its array and
        # version counter are kept so backward can still read and check it
        array = out._array
        self.ans_ref: weakref.ReferenceType[Any] | None
        if save_ans:
            self.ans_ref = _weakref(out)
            self.ans_array = array
            vc = out._vc
            self.ans_vc = vc
            self.ans_version = vc[0]
        else:
            self.ans_ref = self.ans_array = self.ans_vc = None
            self.ans_version = 0
        self.saved = saved
        self.freed = False
        self.out_shape = array.shape
        self.out_dtype = array.dtype

    def name(self) -> str:
        return self.label or display_name(self.op.name)

    @property
    def op_name(self) -> str:
        return self.op.name

    @property
    def next_functions(self) -> tuple[tuple[Any, int], ...]:
        if self._next_functions is None:
            self._next_functions = tuple((_function_of(e), 0) for e in self.next)
        return self._next_functions

    @property
    def saved_tensors(self) -> tuple[Any, ...]:
        """The tensors this node saved for backward (an error once backward freed them)."""
        if self.freed:
            raise RuntimeError(FREED_MESSAGE)
        tensors = [tensor for tensor, _version in self.saved]
        if self.ans_ref is not None:
            out = self.ans_ref()
            tensors.append(out if out is not None else self.ans_array)
        return tuple(tensors)

    def register_hook(self, hook: Callable[[Any], Any]) -> RemovableHandle:
        """A hook called with the gradient flowing into this node's output."""
        if self.pre_hooks is None:
            self.pre_hooks = []
        return RemovableHandle(self.pre_hooks, hook)

    def __repr__(self) -> str:
        return f"<{self.name()} object at {hex(id(self))}>"


class AccumulateGrad:
    """The end of the line for a leaf tensor: its gradient accumulates into ``.grad``."""

    __slots__ = ("variable", "__weakref__")

    def __init__(self, variable: Any) -> None:
        self.variable = variable

    def name(self) -> str:
        return "torch::autograd::AccumulateGrad"

    @property
    def next_functions(self) -> tuple[tuple[Any, int], ...]:
        return ()

    def __repr__(self) -> str:
        return f"<AccumulateGrad object at {hex(id(self))}>"


def _function_of(edge: Any) -> Any:
    if edge is None or isinstance(edge, Node):
        return edge
    return accumulator(edge)


def accumulator(leaf: Any) -> AccumulateGrad:
    """The leaf's AccumulateGrad: one per leaf while anything refers to it (as in PyTorch)."""
    ref = leaf._acc_ref
    acc = ref() if ref is not None else None
    if acc is None:
        acc = AccumulateGrad(leaf)
        leaf._acc_ref = weakref.ref(acc)
    return acc


class RemovableHandle:
    """Returned by ``register_hook``; ``remove()`` takes the hook out again."""

    __slots__ = ("_hooks", "_hook")

    def __init__(self, hooks: list[Callable[[Any], Any]], hook: Callable[[Any], Any]) -> None:
        hooks.append(hook)
        self._hooks = hooks
        self._hook = hook

    def remove(self) -> None:
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()
