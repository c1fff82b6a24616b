"""The per-op path: unwrap tensors, run the registry kernel, wrap the result, record a node.

This is the only place where dynamic mode runs an op. It writes no math: kernels,
dtype promotion and shape errors all come from the runtime registry.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..runtime import REGISTRY, OpDef, ShapeError, evaluate, get
from ..runtime.backend import array_module, device_of
from ..runtime.weak_scalars import NO_SCALARS, WEAK, weak
from .anomaly import check_forward, remember
from .tape import (
    FT,
    NO_INPUT,
    PLANS1,
    PLANS2,
    TF,
    TT,
    T,
    grad_inputs,
    new_node,
    node_of,
    plan_of,
    reads_of,
)
from .thread_state import STATE, notify

#: Set by tensor.py once the Tensor class exists (the two modules refer to each other).
Tensor: Any = None


def is_tracing() -> bool:
    """Whether this thread's ops go to an interceptor (``torch.jit.is_tracing``'s role: a
    trace into a static graph): tensors then have no values, so checks that read values
    must be skipped."""
    return STATE.hot[0] is not None


class TensorShapeError(ShapeError, RuntimeError):
    """A shape error from an op on tensors: a ``RuntimeError`` as in PyTorch, naming both shapes."""


def bind(tensor_class: type) -> None:
    global Tensor
    Tensor = tensor_class


def wrap(array: Any, base: Any = None, vc: list[int] | None = None) -> Any:
    """A new Tensor around ``array``; views pass the tensor that owns the storage as ``base``."""
    t = _new(Tensor)
    t._array = array
    t._storage = None
    t._base = base
    t._vc = [0] if vc is None else vc
    t._requires_grad = False
    t._grad = None
    t._grad_fn = None
    t._hooks = None
    t._acc_ref = None
    t._view_index = None
    return t


_new = object.__new__
_ndarray = np.ndarray
_generic = np.generic
_np_dtype = np.dtype


def _unwrap(args: tuple[Any, ...]) -> tuple[list[Any], bool, Any]:
    """The arrays and scalars, whether any input requires grad, and the one float dtype they
    all share (None when the inputs mix dtypes or are not all floating point)."""
    arrays: list[Any] = []
    append = arrays.append
    requires = False
    common: Any = None
    mixed = False
    for a in args:
        if isinstance(a, Tensor):
            array = a._array
            append(array)
            if a._requires_grad:
                requires = True
        else:
            kind = type(a)
            if kind is float or kind is int:
                append(a)  # a weak scalar: numpy keeps the array's float dtype, as PyTorch does
                continue
            if isinstance(a, _generic):
                append(a.item())  # a numpy scalar is a weak Python scalar, as in PyTorch
                continue
            append(a)
            array = a
            if not isinstance(getattr(array, "dtype", None), _np_dtype):
                mixed = True  # not an array: let the registry's evaluate sort it out
                continue
        dtype = array.dtype
        if common is None:
            common = dtype
        elif dtype != common:
            mixed = True
    if mixed or common is None or common.kind != "f":
        common = None
    return arrays, requires, common


#: op name -> numpy ufunc when the op's kernel is exactly that ufunc (``OpDef.ufunc``), so the
#: hot path calls it without the kernel's wrapper frame; None for every other op.
_UFUNC: dict[str, Any] = {}


def _ufunc_of(op: OpDef) -> Any:
    ufunc = op.ufunc
    found = getattr(np, ufunc, None) if ufunc is not None else None
    _UFUNC[op.name] = found
    return found


def _run(op: OpDef, arrays: list[Any], attrs: dict[str, Any], common: Any = None,
         out: Any = None) -> Any:
    if common is not None and out is None:
        # fast path: one float dtype throughout, so promotion has nothing to do
        try:
            cls = type(arrays[0])
            if cls is _ndarray or cls is float or cls is int:
                if not attrs:
                    ufunc = _UFUNC.get(op.name, _run)
                    if ufunc is _run:
                        ufunc = _ufunc_of(op)
                    if ufunc is not None:
                        result = ufunc(*arrays)
                        return result if type(result) is _ndarray else np.asarray(result)
                result = op.kernel(np, *arrays, **attrs)
            else:
                result = op.kernel(array_module(arrays[0]), *arrays, **attrs)
            if isinstance(result, _generic):
                result = np.asarray(result)
            return result
        except Exception:  # noqa: BLE001 - rerun below for the registry's own error message
            pass
    elif out is None and op.promote is None and arrays:
        # no one float dtype (logits beside integer labels, integer tensors), but an op that
        # promotes nothing, on numpy arrays only: evaluate() would hand them to the kernel as
        # they are, after its checks (cross_entropy's op 9.6 -> 7.9 us)
        for a in arrays:
            if type(a) is not _ndarray:
                break
        else:
            try:
                result = op.kernel(np, *arrays, **attrs)
                return np.asarray(result) if isinstance(result, _generic) else result
            except Exception:  # noqa: BLE001 - rerun below for the registry's own error
                pass
    elif out is not None:
        # in place and unrecorded: straight into ``out`` (a ufunc checks every shape before
        # it writes anything); None tells the caller to rerun it out of place for the error
        try:
            xp = np if type(out) is _ndarray else array_module(out)
            return op.kernel(xp, *arrays, out=out, **attrs)
        except Exception:  # noqa: BLE001 - the out-of-place rerun raises the right error
            return None
    try:
        return evaluate(op, arrays, attrs)
    except ShapeError as exc:
        devices = {device_of(a) for a in arrays if hasattr(a, "shape")}
        if len(devices) > 1:
            raise RuntimeError("Expected all tensors to be on the same device, but found at "
                               "least two devices, cuda:0 and cpu!") from None
        raise TensorShapeError(str(exc)) from None


def run_kernel(op: OpDef, arrays: list[Any], attrs: dict[str, Any], common: Any = None) -> Any:
    """Runs ``op``'s kernel on arrays (the registry's errors as PyTorch's); observers see it.

    ``common`` is the one float dtype of all the arrays, when they share one (a fast path).
    """
    result = _run(op, arrays, attrs, common)
    if STATE.observers:
        notify("kernel", op.name)
    return result


def _checks(op: OpDef, result: Any, inputs: tuple[Any, ...]) -> None:
    """The per-op checks of this thread: anomaly mode's NaN check, then the observers."""
    if STATE.anomaly:
        check_forward(op, result, inputs)
    if STATE.observers:
        notify("kernel", op.name)


def apply(op: OpDef | str, *args: Any, label: str | None = None, **attrs: Any) -> Any:
    """Runs ``op`` on tensors, arrays and scalars and returns a Tensor (recorded if needed).

    Example:
        >>> import tapeflow.dynamic as torch
        >>> apply("mul", torch.ones(2), 3.0).tolist()
        [3.0, 3.0]
    """
    if type(op) is str:
        op = REGISTRY.get(op) or get(op)  # get() raises the registry's error for a bad name
    return apply_packed(op, args, attrs, label)  # type: ignore[arg-type]


def _ufunc_with_scalar(ufunc: Any, x: Any, y: Any, common: Any) -> Any:
    """``ufunc(x, y)`` for an array and a Python number: the number as a cached 0-d array of
    the array's dtype (see runtime/weak_scalars.py)."""
    scalars = WEAK.get(common, NO_SCALARS)  # (weak(), its hit inline)
    if type(y) is float or type(y) is int:
        found = scalars.get(y)
        y = found if found is not None else weak(y, common)
    elif type(x) is float or type(x) is int:
        found = scalars.get(x)
        x = found if found is not None else weak(x, common)
    return ufunc(x, y)


def apply_packed(op: OpDef, args: tuple[Any, ...], attrs: dict[str, Any],
                 label: str | None = None) -> Any:
    """:func:`apply` with the arguments already packed (the path ``runtime.R`` calls take)."""
    interceptor, checks, grad = STATE.hot  # this thread's switches, read once per op
    if interceptor is not None:
        traced = interceptor.apply(op, args, attrs, label)
        if traced is not NotImplemented:
            return traced
    # _unwrap(args), unrolled for the usual shapes of a call (one or two tensors, or a tensor
    # and a Python number): -0.2 µs of an unrecorded op, which every gradient rule's op is
    # (z * 2 on 4 floats 1.29 against 1.46 µs, z + zz 1.04 against 1.20, y * g under no_grad
    # 1.00 against 1.26; thread time, minimum of 20 interleaved repeats)
    arrays: list[Any]
    n = len(args)
    a = args[0] if n else None
    if (n == 1 or n == 2) and isinstance(a, Tensor):
        x = a._array
        common = x.dtype
        requires = a._requires_grad
        if n == 1:
            arrays = [x]
        else:
            b = args[1]
            if isinstance(b, Tensor):
                y = b._array
                if b._requires_grad:
                    requires = True
                if y.dtype is not common:
                    common = None if y.dtype != common else common
                arrays = [x, y]
            elif type(b) is float or type(b) is int:
                arrays = [x, b]  # a weak scalar: numpy keeps the array's float dtype
            else:
                arrays, requires, common = _unwrap(args)
        if common is not None and common.kind != "f":
            common = None
    elif n == 2 and (type(a) is float or type(a) is int) and isinstance(args[1], Tensor):
        b = args[1]  # 1 - t, 2.0 * t: a weak scalar first
        y = b._array
        arrays, requires, common = [a, y], b._requires_grad, y.dtype
        if common.kind != "f":
            common = None
    else:
        arrays, requires, common = _unwrap(args)
    result = None
    if common is not None and not attrs and type(arrays[0]) is _ndarray:
        # _run's ufunc fast path, inline (one float dtype, no attributes, numpy arrays): the
        # kernel is exactly this ufunc; anything it raises is raised again by _run, with the
        # registry's message. A matmul with a GEMM library asked for goes to its kernel.
        ufunc = _UFUNC.get(op.name, _run)
        if ufunc is _run:
            ufunc = _ufunc_of(op)
        if ufunc is not None and (not op.gemm or STATE.gemm is None):
            try:
                if n == 2 and type(arrays[0]) is not type(arrays[1]):  # an array and a scalar
                    result = _ufunc_with_scalar(ufunc, arrays[0], arrays[1], common)
                else:
                    result = ufunc(*arrays)
            except Exception:  # noqa: BLE001 - rerun below for the registry's own error
                result = None
            else:
                if type(result) is not _ndarray:
                    result = np.asarray(result)
    if result is None:
        result = _run(op, arrays, _gemm_attrs(attrs) if op.gemm else attrs, common)
    if checks:
        _checks(op, result, args)
    if op.view and isinstance(args[0], Tensor):
        out = _wrap_view(op, result, args[0], attrs)
    else:
        if result.base is not None or not result.flags.c_contiguous or (
                arrays and result is arrays[0]):
            # a non-view op owns its result: identity (and sum_to with nothing to sum) hands
            # back its input itself, which must not become a second owner of that memory
            result = result.copy()
        out = wrap(result)
    if requires and grad and op.vjps is not None and result.dtype.kind == "f":
        _record(op, attrs, args, out, label, checks)
    return out


def _wrap_view(op: OpDef, result: Any, src: Any, attrs: dict[str, Any]) -> Any:
    """A view op's result as a tensor sharing ``src``'s base and version counter."""
    out = wrap(result, src._base if src._base is not None else src, src._vc)
    if src._base is None and op.name == "getitem":
        out._view_index = attrs["index"]  # lets an in-place op on the view be recorded
    return out


def _gemm_attrs(attrs: dict[str, Any]) -> dict[str, Any]:
    # the GEMM library this thread asked for (backends.blas), handed to a GEMM op's kernel
    # for this call only: the recorded node keeps the op's own attributes
    provider = STATE.gemm
    return attrs if provider is None else {**attrs, "provider": provider}



def _edges(op: OpDef, args: tuple[Any, ...]) -> tuple[tuple[Any, ...], tuple[bool, ...]]:
    """Where each input's gradient goes (its grad_fn, the leaf itself, or None) and whether
    it is needed at all."""
    edges: list[Any] = []
    needed: list[bool] = []
    rules = grad_inputs(op, len(args))
    for a, has_rule in zip(args, rules, strict=True):
        if has_rule and isinstance(a, Tensor) and a._requires_grad:
            fn = a._grad_fn
            edges.append(a if fn is None else fn)
            needed.append(True)
        else:
            edges.append(None)
            needed.append(False)
    return tuple(edges), tuple(needed)


def _record(op: OpDef, attrs: dict[str, Any], args: tuple[Any, ...], out: Any,
            label: str | None, checks: bool) -> None:
    n = len(args)
    plan = (PLANS2.get(op.name) if n == 2 else PLANS1.get(op.name) if n == 1 else False)
    if plan is None:
        plan = plan_of(op, n)
    if plan and n == 2:
        # the two-input ops (most of them), unrolled, with the needed tuples and what their
        # rules read looked up once per op: no tuple built to key a cache
        a, b = args
        need_a = plan[0] and isinstance(a, Tensor) and a._requires_grad
        need_b = plan[1] and isinstance(b, Tensor) and b._requires_grad
        if need_a:
            if need_b:
                edges: tuple[Any, ...] = (a._grad_fn or a, b._grad_fn or b)
                needed, reads = TT, plan[2]
            else:
                edges, needed, reads = (a._grad_fn or a, None), TF, plan[3]
        elif need_b:
            edges, needed, reads = (None, b._grad_fn or b), FT, plan[4]
        else:
            return
        node = node_of(op, attrs, a, b, edges, needed, out, reads)
    elif plan:
        # one input (unary math, views, reductions): its edge is known to be needed
        if not plan[0]:
            return
        a = args[0]
        node = node_of(op, attrs, a, NO_INPUT, (a._grad_fn or a,), T, out, plan[1])
    else:
        edges, needed = _edges(op, args)
        if True not in needed:
            return
        node = new_node(op, attrs, args, edges, needed, out, reads_of(op, needed))
    if label is not None:
        node.label = label
    if checks and STATE.anomaly:
        remember(node)
    out._grad_fn = node
    out._requires_grad = True


# the in-place half (``apply_``) lives in inplace.py; these names stay importable from here
from .inplace import LEAF_MESSAGE, VIEW_LEAF_MESSAGE, apply_, check_inplace  # noqa: E402, F401
