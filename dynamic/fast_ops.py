"""The hottest ops' whole forward path in the operator method itself.

``a + b`` on two tensors of one float dtype, ``y * 2.0``, ``h @ w``, ``x.tanh()``: the method
unwraps the arrays, calls the op's ufunc (or its one-array kernel), wraps the result and
records the node (:func:`~tapeflow.dynamic.tape.node_of`), without the general dispatcher's
frames and checks. A recorded add of two 4x8 float32 tensors took 2.07 us through
:func:`~tapeflow.dynamic.dispatch.apply_packed`, of which its numpy add is 0.25 us.

Anything else takes the general path, which computes and records the same: an interceptor
(a trace), anomaly mode or a kernel observer; mixed dtypes or a non-float dtype; a cupy
array; any operand but a tensor or a Python int or float; a matmul of vectors or with a GEMM
library; and any error (rerun there for the registry's own message). The same registry op,
kernel and gradient rules run either way (tests/dynamic/test_forward_paths.py compares the
two).

Example:
    >>> import tapeflow.dynamic as torch
    >>> x = torch.tensor([1.0, 2.0], requires_grad=True)
    >>> (x * 3.0 + x).grad_fn.name()
    'AddBackward0'
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..runtime import REGISTRY, OpDef
from ..runtime.weak_scalars import NO_SCALARS, WEAK, weak
from .dispatch import _record, _wrap_view, apply_packed, wrap
from .tape import FT, NO_INPUT, TF, TT, T, node_of, plan_of
from .thread_state import STATE

#: Set by tensor.py once the Tensor class exists.
Tensor: Any = None

_ndarray = np.ndarray
_asarray = np.asarray


def bind(tensor_class: type) -> None:
    global Tensor
    Tensor = tensor_class


def binary_method(op: OpDef, fallback: Callable[[Any, Any], Any], reflected: bool = False,
                  matrices: bool = False) -> Callable[[Any, Any], Any]:
    """``tensor.__<op>__(other)`` (``__r<op>__`` when ``reflected``, for a number other)
    for a two-input op whose kernel is one ufunc; ``fallback(self, other)`` is the general
    path. ``matrices``: matmul, fast for two tensors of two or more dimensions only."""
    ufunc = getattr(np, op.ufunc)  # type: ignore[arg-type]
    differentiable = op.vjps is not None
    rule_a, rule_b, reads_tt, reads_tf, reads_ft = plan_of(op, 2)

    def method(self: Any, other: Any) -> Any:
        interceptor, checks, grad = STATE.hot
        x = self._array
        if interceptor is not None or checks or type(x) is not _ndarray:
            return fallback(self, other)
        dtype = x.dtype
        if dtype.kind != "f":
            return fallback(self, other)
        if type(other) is float or type(other) is int:
            if matrices:
                return fallback(self, other)
            y = WEAK.get(dtype, NO_SCALARS).get(other)
            if y is None:
                y = weak(other, dtype)
            requires = self._requires_grad
            tensors = False
        elif reflected or not isinstance(other, Tensor):
            return fallback(self, other)
        else:
            y = other._array
            if type(y) is not _ndarray or y.dtype is not dtype or matrices and (
                    x.ndim < 2 or y.ndim < 2 or STATE.gemm is not None):
                return fallback(self, other)
            requires = self._requires_grad or other._requires_grad
            tensors = True
        try:
            result = ufunc(y, x) if reflected else ufunc(x, y)
        except Exception:  # noqa: BLE001 - the general path raises the registry's error
            return fallback(self, other)
        if type(result) is not _ndarray:
            result = _asarray(result)  # (a 0-d result comes back as a numpy scalar)
        elif result.base is not None or not result.flags.c_contiguous:
            result = result.copy()  # a result owns its memory, C-ordered (apply_packed's rule)
        out = wrap(result)
        if not (requires and grad and differentiable) or result.dtype.kind != "f":
            return out
        if reflected:  # op(other, self): other is a number, self requires grad
            if not rule_b:
                return out
            node = node_of(op, {}, other, self, (None, self._grad_fn or self), FT, out,
                           reads_ft)
        else:
            need_a = rule_a and self._requires_grad
            need_b = rule_b and tensors and other._requires_grad
            if need_a:
                if need_b:
                    edges: tuple[Any, ...] = (self._grad_fn or self, other._grad_fn or other)
                    needed, reads = TT, reads_tt
                else:
                    edges, needed, reads = (self._grad_fn or self, None), TF, reads_tf
            elif need_b:
                edges, needed, reads = (None, other._grad_fn or other), FT, reads_ft
            else:
                return out
            node = node_of(op, {}, self, other, edges, needed, out, reads)
        out._grad_fn = node
        out._requires_grad = True
        return out

    method.__name__ = method.__qualname__ = op.name
    return method


def unary_method(op: OpDef) -> Callable[..., Any]:
    """``tensor.<op>()`` for a one-input op (its ufunc, or its kernel on the one array);
    anything unusual goes to :func:`apply_packed`. A reduction's method passes its
    attributes as ``_attrs`` (``sum``, ``mean``: ``{"axis": ..., "keepdims": ...}``)."""
    ufunc = getattr(np, op.ufunc) if op.ufunc else None
    kernel = op.kernel
    differentiable = op.vjps is not None
    rule, reads = plan_of(op, 1)

    def method(self: Any, *, _attrs: dict[str, Any] | None = None) -> Any:
        interceptor, checks, grad = STATE.hot
        x = self._array
        if interceptor is not None or checks or type(x) is not _ndarray or (
                x.dtype.kind != "f"):
            return apply_packed(op, (self,), {} if _attrs is None else _attrs)
        try:
            if _attrs:
                result = kernel(np, x, **_attrs)
            else:
                result = ufunc(x) if ufunc is not None else kernel(np, x)
        except Exception:  # noqa: BLE001 - the general path raises the registry's error
            return apply_packed(op, (self,), {} if _attrs is None else _attrs)
        if type(result) is not _ndarray:
            result = _asarray(result)  # (a full reduction gives a numpy scalar)
        elif result.base is not None or not result.flags.c_contiguous or result is x:
            result = result.copy()
        out = wrap(result)
        if (self._requires_grad and grad and differentiable and rule
                and result.dtype.kind == "f"):
            out._grad_fn = node_of(op, {} if _attrs is None else _attrs, self, NO_INPUT,
                                   (self._grad_fn or self,), T, out, reads)
            out._requires_grad = True
        return out

    method.__name__ = method.__qualname__ = op.name
    return method


_GETITEM = REGISTRY["getitem"]


def basic_index(src: Any, encoded: tuple[Any, ...], items: tuple[Any, ...], label: str) -> Any:
    """``src[items]`` for a basic index (ints, slices, None, ...; ``encoded`` is the getitem
    op's attribute for it): numpy's view at once when nothing watches the ops, then wrapped
    and recorded as :func:`apply_packed` does (an RNN's ``x[:, t]`` 2.7 -> 1.2 us), else
    :func:`apply_packed` itself (and any error is raised there, with the registry's words)."""
    interceptor, checks, grad = STATE.hot
    x = src._array
    if interceptor is None and not checks and type(x) is _ndarray:
        try:
            result = x[items]  # (the kernel's own indexing: items holds what encoded decodes to)
        except Exception:  # noqa: BLE001 - the general path raises the registry's error
            result = None
        if result is not None:
            attrs = {"index": encoded}
            out = _wrap_view(_GETITEM, result, src, attrs)
            if src._requires_grad and grad and result.dtype.kind == "f":
                _record(_GETITEM, attrs, (src,), out, label, False)
            return out
    return apply_packed(_GETITEM, (src,), {"index": encoded}, label)


__all__ = ["basic_index", "binary_method", "bind", "unary_method"]
