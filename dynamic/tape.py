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
_new = object.__new__

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


#: What the rules of a node read (:func:`saved_for`): the output, each input's data, and
#: whether any input's data at all
Reads = tuple[bool, tuple[bool, ...], bool]


def reads_of(op: OpDef, needed: tuple[bool, ...]) -> Reads:
    """:func:`saved_for` with a third entry: whether any input's data is read (cached)."""
    save_ans, save_inputs = saved_for(op, needed)
    return save_ans, save_inputs, True in save_inputs


#: Stands for the second input of a one-input op in :func:`node_of`.
NO_INPUT: Any = object()


def node_of(op: OpDef, attrs: dict[str, Any], a: Any, b: Any, edges: tuple[Any, ...],
            needed: tuple[bool, ...], out: Any, reads: Reads) -> Node:
    """The node of one recorded op ``out = op(a, b, **attrs)`` (``b`` is :data:`NO_INPUT`
    for a one-input op), its gradients going to ``edges`` where ``needed``; ``reads`` is
    :func:`reads_of` ``(op, needed)``.

    Built with ``object.__new__`` and plain slot writes, with the Meta lookup of an input
    whose shape was seen last inline: no ``__init__`` frame and no meta_of call (a recorded
    add 2.3 -> 1.9 us; interleaved, minimum of 7 repeats).
    """
    node = _new(Node)
    node.op = op
    node.attrs = attrs
    node.next = edges
    node.needed = needed
    node.seq = _next_seq()
    save_ans, save_inputs, keeps = reads
    if keeps:
        # the inputs a rule reads are saved with the version they had, which backward
        # checks; the others are kept as shape and dtype only, so their memory can go now
        # (the Meta last made for the shape looked up inline, as below)
        saved: Any = ()  # (a list only when a tensor is kept: y * 2.0 keeps the 2.0 only)
        vc = getattr(a, "_vc", None)
        if vc is not None:  # (a Python number or a plain array has nothing to free)
            if save_inputs[0]:
                saved = [(a, vc[0])]
            else:
                x = a._array
                found = _LAST.get(x.shape)
                a = found if found is not None and found.dtype is x.dtype else meta_of(x)
        if b is not NO_INPUT:
            vc = getattr(b, "_vc", None)
            if vc is not None:
                if not save_inputs[1]:
                    x = b._array
                    found = _LAST.get(x.shape)
                    b = found if found is not None and found.dtype is x.dtype else meta_of(x)
                elif saved:
                    saved.append((b, vc[0]))
                else:
                    saved = [(b, vc[0])]
        node.saved = saved
        # only a node that kept a tensor has anything for free() to turn into shape and dtype
        node.holds_tensors = bool(saved)
    else:
        if hasattr(a, "_vc"):
            x = a._array
            found = _LAST.get(x.shape)
            a = found if found is not None and found.dtype is x.dtype else meta_of(x)
        if b is not NO_INPUT and hasattr(b, "_vc"):
            x = b._array
            found = _LAST.get(x.shape)
            b = found if found is not None and found.dtype is x.dtype else meta_of(x)
        node.saved = ()
        node.holds_tensors = False
    node.inputs = (a,) if b is NO_INPUT else (a, b)
    # the output is held weakly (it holds this node: no reference cycle); its array and
    # version counter are kept so backward can still read and check it
    array = out._array
    if save_ans:
        node.ans_ref = _weakref(out)
        node.ans_array = array
        vc = out._vc
        node.ans_vc = vc
        node.ans_version = vc[0]
    else:
        node.ans_ref = node.ans_array = node.ans_vc = None
        node.ans_version = 0
    node.freed = False
    node.out_shape = array.shape
    node.out_dtype = array.dtype
    return node


def new_node(op: OpDef, attrs: dict[str, Any], inputs: tuple[Any, ...],
             edges: tuple[Any, ...], needed: tuple[bool, ...], out: Any,
             reads: Reads) -> Node:
    """:func:`node_of` for any number of inputs."""
    if len(inputs) == 2:
        return node_of(op, attrs, inputs[0], inputs[1], edges, needed, out, reads)
    if len(inputs) == 1:
        return node_of(op, attrs, inputs[0], NO_INPUT, edges, needed, out, reads)
    node = node_of(op, attrs, NO_INPUT, NO_INPUT, edges, needed, out, (reads[0], (), False))
    kept: list[Any] = []
    saved = []
    for x, keep in zip(inputs, reads[1], strict=True):
        vc = getattr(x, "_vc", None)
        if vc is None:
            kept.append(x)
        elif keep:
            kept.append(x)
            saved.append((x, vc[0]))
        else:
            kept.append(meta_of(x._array))
    node.inputs = tuple(kept)
    node.saved = saved
    node.holds_tensors = bool(saved)
    return node


# ---- recording plans ------------------------------------------------------------------------

TT, TF, FT, T = (True, True), (True, False), (False, True), (True,)

#: op name -> which inputs have a gradient rule (``OpDef.has_gradient_for``), for fixed arity
_GRAD_INPUTS: dict[str, tuple[bool, ...]] = {}


def grad_inputs(op: OpDef, count: int) -> tuple[bool, ...]:
    """Whether each of ``count`` inputs of ``op`` has a gradient rule (cached by name)."""
    found = _GRAD_INPUTS.get(op.name)
    if found is None or len(found) != count:
        found = tuple(op.has_gradient_for(i) for i in range(count))
        if op.arity is not None:
            _GRAD_INPUTS[op.name] = found
    return found


#: op name -> what recording needs of a two-input op (arity 2): whether each input has a
#: gradient rule, then :func:`reads_of` for needed = TT, TF and FT (None where that cannot
#: happen); False for an op of another arity
PLANS2: dict[str, Any] = {}
#: the same for one-input ops (arity 1): whether the input has a rule, reads_of(T)
PLANS1: dict[str, Any] = {}


def plan_of(op: OpDef, count: int) -> Any:
    """The recording plan of ``op`` called with ``count`` inputs (1 or 2; cached by name):
    the needed tuples are shared, and what their rules read is looked up once per op."""
    plans = PLANS2 if count == 2 else PLANS1
    if op.arity != count:
        plans[op.name] = False  # variadic or another arity: the general path
        return False
    rules = grad_inputs(op, count)
    if count == 2:
        plan = (*rules, *(reads_of(op, needed) if any(r and n for r, n in zip(
            rules, needed, strict=True)) else None for needed in (TT, TF, FT)))
    else:
        plan = (rules[0], reads_of(op, T) if rules[0] else None)
    plans[op.name] = plan
    return plan


class Node:
    """One recorded op: a ``grad_fn``. ``name()`` is PyTorch's (``MulBackward0``).

    Made by :func:`new_node` (the dispatcher's recording path), never called directly.

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
