"""The in-place op path: ``apply_`` writes an op's result into its target's memory.

The counterpart of :func:`tapeflow.dynamic.dispatch.apply_packed` for ``x.add_(y)``,
``x[i] = v`` and the optimizers' updates: PyTorch's guards (no in-place change of a leaf
that requires grad while recording), version counters, and the recording of the new
history (PyTorch's CopySlices for a view of a recorded tensor).
"""

from __future__ import annotations

from typing import Any

from ..runtime import OpDef, get
from ..runtime import dtypes as dt
from ..runtime.backend import array_module
from .dispatch import TensorShapeError, _checks, _edges, _run, _unwrap, apply_packed, wrap
from .tape import new_node, reads_of
from .thread_state import STATE, notify

LEAF_MESSAGE = "a leaf Variable that requires grad is being used in an in-place operation."
VIEW_LEAF_MESSAGE = ("a view of a leaf Variable that requires grad is being used in an in-place "
                     "operation.")


def check_inplace(target: Any) -> None:
    """PyTorch's guard: no in-place change of a leaf that requires grad while recording."""
    if not STATE.grad:
        return
    if target._requires_grad and target._grad_fn is None:
        raise RuntimeError(LEAF_MESSAGE)
    base = target._base
    if base is not None and base._requires_grad and base._grad_fn is None:
        raise RuntimeError(VIEW_LEAF_MESSAGE)


def apply_(op: OpDef | str, target: Any, *args: Any, label: str | None = None,
           **attrs: Any) -> Any:
    """Runs ``op(target, *args)`` and writes the result into ``target``'s memory.

    The tensor's version counter goes up (shared with its views), so a node that saved
    the old value notices in backward. Recording moves ``target``'s ``grad_fn`` to the
    new node, whose edge 0 points at the old history.
    """
    if isinstance(op, str):
        op = get(op)
    interceptor, checks, grad = STATE.hot
    if interceptor is not None:
        traced = interceptor.apply_(op, target, args, attrs, label)
        if traced is not NotImplemented:
            return traced
    check_inplace(target)
    full = (target, *args)
    arrays, requires, common = _unwrap(full)
    recording = requires and grad and op.vjps is not None
    if not recording and common is not None and op.inplace and not (checks and STATE.anomaly):
        # nothing to record and one float dtype: the kernel writes into target itself
        # (no temporary, no copy); anything unusual falls through to the checked path
        if _run(op, arrays, attrs, common, out=target._array) is not None:
            target._vc[0] += 1
            if checks:
                notify("kernel", op.name)
            return target
    if recording and target._base is not None:
        return _apply_on_view(op, target, args, attrs, label)
    result = _run(op, arrays, attrs, common)
    if checks:
        _checks(op, result, full)  # before anything is written
    array = target._array
    if result.shape != array.shape:
        raise TensorShapeError(
            f"output with shape {list(array.shape)} doesn't match the broadcast shape "
            f"{list(result.shape)}")
    if result.dtype != array.dtype:
        have, want = dt.of_array(result), dt.of_array(array)
        if have.category > want.category:
            # PyTorch's scalar type names: Float, Long (FloatTensor, LongTensor less "Tensor")
            names = {d: k[:-6] for k, d in dt.LEGACY_TENSOR_TYPES.items()}
            raise RuntimeError(f"result type {names[have]} can't be cast to the "
                               f"desired output type {names[want]}")
    saved_inputs: tuple[Any, ...] = full
    if recording:
        edges, needed = _edges(op, full)
        if any(needed):
            reads = reads_of(op, needed)
            # the old value is about to be overwritten: keep a copy only if the rule reads it
            old = wrap(array.copy()) if reads[1][0] else _stand_in(array)
            saved_inputs = (old, *args)
    array[...] = result
    target._vc[0] += 1
    if recording and any(needed):
        node = new_node(op, attrs, saved_inputs, edges, needed, target, reads)
        if label is not None:
            node.label = label
        target._grad_fn = node
        target._requires_grad = True
    return target


def _stand_in(array: Any) -> Any:
    """Something with the shape and dtype of ``array`` and no memory of its own."""
    xp = array_module(array)
    return xp.broadcast_to(xp.zeros((), dtype=array.dtype), array.shape)


def _apply_on_view(op: OpDef, target: Any, args: tuple[Any, ...], attrs: dict[str, Any],
                   label: str | None) -> Any:
    """An in-place op on ``base[index]`` while recording (PyTorch's CopySlices): the new value
    is computed out of place and written back with ``index_assign`` on the base, and the view
    is re-pointed at the base's new history."""
    index = target._view_index
    if index is None:
        raise RuntimeError(
            f"{op.name}_: an in-place change of this view of a recorded tensor is not supported "
            "by tapeflow's tape (only views made by basic indexing are); use the out-of-place "
            "form instead")
    base = target._base
    value = apply_packed(op, (target, *args), attrs, label)
    if value._array.shape != target._array.shape:
        raise TensorShapeError(
            f"output with shape {list(target._array.shape)} doesn't match the broadcast shape "
            f"{list(value._array.shape)}")
    apply_("index_assign", base, value, index=index, label="CopySlices")
    fresh = apply_packed(get("getitem"), (base,), {"index": index}, "SliceBackward0")
    target._grad_fn = fresh._grad_fn
    target._requires_grad = fresh._requires_grad
    return target
