"""Tensor arithmetic, comparisons, reductions and in-place updates (a mixin of Tensor).

Every method is one call into the registry through :mod:`dispatch`, or into a runtime
composite (``runtime/composites.py``: norms, all/any); none writes a formula of its own.
"""

from __future__ import annotations

from collections import namedtuple
from typing import Any

from ..runtime import REGISTRY, composites
from ..runtime import dtypes as dt
from . import dispatch
from .dispatch import apply, apply_, apply_packed, check_inplace
from .fast_ops import binary_method, unary_method

# the ops of the arithmetic operators, looked up once: ``a + b`` is the hottest path there is
_ADD, _SUB, _MUL, _DIV, _MATMUL, _POW = (
    REGISTRY[n] for n in ("add", "sub", "mul", "div", "matmul", "pow"))
#: sum and mean with their whole path in one frame when nothing unusual is asked for
_SUM_METHOD, _MEAN_METHOD = unary_method(REGISTRY["sum"]), unary_method(REGISTRY["mean"])

#: What ``max(dim)`` / ``min(dim)`` return, as PyTorch's ``torch.return_types.max``.
ValuesIndices = namedtuple("ValuesIndices", ["values", "indices"])


def _axis(dim: Any) -> Any:
    return tuple(dim) if isinstance(dim, (list, tuple)) else dim


def _op_forward(op: Any) -> Any:
    """The general path of ``self <op> other``."""
    return lambda a, b: apply_packed(op, (a, b), {})


def _op_reflected(op: Any) -> Any:
    """The general path of ``other <op> self``."""
    return lambda a, b: apply_packed(op, (b, a), {})


class TensorMath:
    """Arithmetic, math, reductions and in-place updates; mixed into Tensor."""

    __slots__ = ()

    # ---- binary arithmetic, with the reflected and in-place forms --------------------------

    def add(self, other: Any, alpha: Any = 1) -> Any:
        return apply("add", self, other if alpha == 1 else apply("mul", other, alpha))

    def sub(self, other: Any, alpha: Any = 1) -> Any:
        return apply("sub", self, other if alpha == 1 else apply("mul", other, alpha))

    def mul(self, other: Any) -> Any:
        return apply("mul", self, other)

    def div(self, other: Any) -> Any:
        return apply("div", self, other)

    def matmul(self, other: Any) -> Any:
        return _matmul(self, other)

    def mm(self, other: Any) -> Any:
        if self.ndim != 2 or getattr(other, "ndim", 0) != 2:
            raise RuntimeError("self must be a matrix")
        return apply("matmul", self, other)

    multiply, subtract, divide, true_divide = mul, sub, div, div

    # the arithmetic operators: their whole path in the method for tensors of one float
    # dtype and Python numbers (fast_ops.binary_method), the dispatcher for anything else
    __add__ = binary_method(_ADD, _op_forward(_ADD))
    __radd__ = binary_method(_ADD, _op_reflected(_ADD), reflected=True)
    __sub__ = binary_method(_SUB, _op_forward(_SUB))
    __rsub__ = binary_method(_SUB, _op_reflected(_SUB), reflected=True)
    __mul__ = binary_method(_MUL, _op_forward(_MUL))
    __rmul__ = binary_method(_MUL, _op_reflected(_MUL), reflected=True)
    __truediv__ = binary_method(_DIV, _op_forward(_DIV))
    __rtruediv__ = binary_method(_DIV, _op_reflected(_DIV), reflected=True)
    __pow__ = pow = binary_method(_POW, _op_forward(_POW))  # type: ignore[assignment]
    __rpow__ = binary_method(_POW, _op_reflected(_POW), reflected=True)
    __matmul__ = binary_method(_MATMUL, lambda a, b: _matmul(a, b), matrices=True)

    def __rmatmul__(self, other: Any) -> Any:
        return _matmul(other, self)

    def __neg__(self) -> Any:
        return self.neg()

    def __pos__(self) -> Any:
        return self

    def __abs__(self) -> Any:
        return apply("abs", self)

    def __iadd__(self, other: Any) -> Any:
        return apply_("add", self, other)

    def __isub__(self, other: Any) -> Any:
        return apply_("sub", self, other)

    def __imul__(self, other: Any) -> Any:
        return apply_("mul", self, other)

    def __itruediv__(self, other: Any) -> Any:
        return apply_("div", self, other)

    def add_(self, other: Any, alpha: Any = 1) -> Any:
        return apply_("add", self, other if alpha == 1 else apply("mul", other, alpha))

    def sub_(self, other: Any, alpha: Any = 1) -> Any:
        return apply_("sub", self, other if alpha == 1 else apply("mul", other, alpha))

    def mul_(self, other: Any) -> Any:
        return apply_("mul", self, other)

    def div_(self, other: Any) -> Any:
        return apply_("div", self, other)

    def clamp_(self, min: Any = None, max: Any = None) -> Any:  # noqa: A002
        return apply_("clamp", self, min=min, max=max)

    def neg_(self) -> Any:
        return apply_("neg", self)

    def copy_(self, src: Any) -> Any:
        """Writes ``src`` (broadcast) into this tensor's memory; gradients flow to ``src``."""
        return apply_("index_assign", self, src, index=(Ellipsis,), label="CopyBackwards")

    def fill_(self, value: Any) -> Any:
        value = value.item() if hasattr(value, "item") and not isinstance(value, int) else value
        return apply_("index_assign", self, value, index=(Ellipsis,), label="FillBackward0")

    def zero_(self) -> Any:
        return self.fill_(0)

    def masked_fill_(self, mask: Any, value: Any) -> Any:
        return self.copy_(self.masked_fill(mask, value))

    # ---- comparisons and logic ------------------------------------------------------------

    def __eq__(self, other: Any) -> Any:  # type: ignore[override]
        return apply("eq", self, other)

    def __ne__(self, other: Any) -> Any:  # type: ignore[override]
        return apply("ne", self, other)

    def __lt__(self, other: Any) -> Any:
        return apply("lt", self, other)

    def __le__(self, other: Any) -> Any:
        return apply("le", self, other)

    def __gt__(self, other: Any) -> Any:
        return apply("gt", self, other)

    def __ge__(self, other: Any) -> Any:
        return apply("ge", self, other)

    eq, ne, lt, le, gt, ge = __eq__, __ne__, __lt__, __le__, __gt__, __ge__

    def __and__(self, other: Any) -> Any:
        return apply("logical_and", self, other)

    def __or__(self, other: Any) -> Any:
        return apply("logical_or", self, other)

    def __invert__(self) -> Any:
        return apply("logical_not", self)

    logical_and, logical_or, logical_not = __and__, __or__, __invert__

    def all(self, dim: Any = None, keepdim: bool = False) -> Any:
        return composites.all_true(self, axis=_axis(dim), keepdims=keepdim)

    def any(self, dim: Any = None, keepdim: bool = False) -> Any:
        return composites.any_true(self, axis=_axis(dim), keepdims=keepdim)

    def equal(self, other: Any) -> bool:
        return tuple(self.shape) == tuple(other.shape) and bool(apply("eq", self, other).all())

    def allclose(self, other: Any, rtol: float = 1e-5, atol: float = 1e-8) -> bool:
        gap = apply("abs", apply("sub", self, other))
        bound = apply("add", apply("mul", apply("abs", other), rtol), atol)
        return bool(apply("le", gap, bound).all())

    # ---- elementwise math -------------------------------------------------------------------

    # one registry op each, its whole path in the method (fast_ops.unary_method)
    exp, log, sqrt, sin, log1p, expm1, cos = (unary_method(REGISTRY[n]) for n in (
        "exp", "log", "sqrt", "sin", "log1p", "expm1", "cos"))
    abs, neg, sign, sigmoid, tanh, relu = (unary_method(REGISTRY[n]) for n in (  # noqa: A003
        "abs", "neg", "sign", "sigmoid", "tanh", "relu"))

    def clamp(self, min: Any = None, max: Any = None) -> Any:  # noqa: A002
        return apply("clamp", self, min=min, max=max)

    clip = clamp

    def maximum(self, other: Any) -> Any:
        return apply("maximum", self, other)

    def minimum(self, other: Any) -> Any:
        return apply("minimum", self, other)

    def softmax(self, dim: int) -> Any:
        return apply("softmax", self, axis=dim)

    def log_softmax(self, dim: int) -> Any:
        return apply("log_softmax", self, axis=dim)

    def masked_fill(self, mask: Any, value: Any) -> Any:
        """``value`` where ``mask`` is true, else this tensor (mask broadcasts)."""
        return apply("where", mask, value, self)

    def where(self, condition: Any, other: Any) -> Any:
        return apply("where", condition, self, other)

    def clone(self) -> Any:
        return apply("copy", self, label="CloneBackward0")

    # ---- reductions -------------------------------------------------------------------------

    def sum(self, dim: Any = None, keepdim: bool = False, dtype: Any = None) -> Any:
        x = self if dtype is None else apply("cast", self, dtype=dt.as_dtype(dtype))
        return _SUM_METHOD(x, _attrs={"axis": None if dim is None else _axis(dim),
                                      "keepdims": keepdim})

    def mean(self, dim: Any = None, keepdim: bool = False, dtype: Any = None) -> Any:
        x = self if dtype is None else apply("cast", self, dtype=dt.as_dtype(dtype))
        if x._array.dtype.kind != "f":  # type: ignore[attr-defined]
            raise RuntimeError(f"mean(): could not infer output dtype. Input dtype must be "
                               f"either a floating point or complex dtype. Got: "
                               f"{x.dtype.name.capitalize()}")  # type: ignore[attr-defined]
        return _MEAN_METHOD(x, _attrs={"axis": None if dim is None else _axis(dim),
                                       "keepdims": keepdim})

    def var(self, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False, *,
            correction: float | None = None) -> Any:
        """Variance over ``dim`` (all when None), divided by ``n - correction`` (default 1,
        Bessel's correction, as PyTorch; ``unbiased=False`` means 0)."""
        if correction is None:
            correction = 0 if unbiased is False else 1
        if not self.is_floating_point():  # type: ignore[attr-defined]
            raise RuntimeError("std and var only support floating point and complex dtypes")
        axis = _axis(dim)
        shape = self.shape  # type: ignore[attr-defined]
        axes = range(len(shape)) if axis is None else (axis if isinstance(axis, tuple)
                                                       else (axis,))
        count = 1
        for a in axes:
            count *= shape[a]
        _, population = composites.moments(self, axis=axis, keepdims=keepdim)
        return apply("mul", population, count / (count - correction)) if correction else \
            population

    def std(self, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False, *,
            correction: float | None = None) -> Any:
        """The square root of :meth:`var` (same arguments)."""
        return apply("sqrt", self.var(dim, unbiased, keepdim, correction=correction))

    def _extreme(self, name: str, dim: Any, keepdim: bool) -> Any:
        if dim is None:
            return apply(name, self)
        if not isinstance(dim, int):  # max(other): elementwise, as torch.max(a, b)
            return apply("maximum" if name == "max" else "minimum", self, dim)
        values = apply(name, self, axis=dim, keepdims=keepdim)
        indices = apply("arg" + name, self, axis=dim, keepdims=keepdim)
        return ValuesIndices(values, indices)

    def max(self, dim: Any = None, keepdim: bool = False) -> Any:
        return self._extreme("max", dim, keepdim)

    def min(self, dim: Any = None, keepdim: bool = False) -> Any:
        return self._extreme("min", dim, keepdim)

    def norm(self, p: Any = "fro", dim: Any = None, keepdim: bool = False,
             dtype: Any = None) -> Any:
        """The vector p-norm over ``dim`` (all elements when None): p = 2 / 'fro', 1, inf.

        Example:
            >>> import tapeflow.dynamic as torch
            >>> torch.tensor([3.0, 4.0]).norm().item()
            5.0
        """
        x = self if dtype is None else apply("cast", self, dtype=dt.as_dtype(dtype))
        axis = _axis(dim)
        if p in ("fro", 2, 2.0):
            return composites.l2_norm(x, axis=axis, keepdims=keepdim)
        if p in (1, 1.0):
            return apply("sum", apply("abs", x), axis=axis, keepdims=keepdim)
        if p == float("inf"):
            return apply("max", apply("abs", x), axis=axis, keepdims=keepdim)
        raise NotImplementedError(f"norm: tapeflow implements p = 2 ('fro'), 1 and inf, not "
                                  f"p={p!r}")

    def argmax(self, dim: int | None = None, keepdim: bool = False) -> Any:
        return apply("argmax", self, axis=dim, keepdims=keepdim)

    def argmin(self, dim: int | None = None, keepdim: bool = False) -> Any:
        return apply("argmin", self, axis=dim, keepdims=keepdim)


def _matmul(a: Any, b: Any) -> Any:
    """PyTorch's matmul: 1-D operands are promoted to matrices and the added dim removed."""
    tensor = dispatch.Tensor
    if (isinstance(a, tensor) and isinstance(b, tensor) and a._array.ndim > 1
            and b._array.ndim > 1):
        return apply_packed(_MATMUL, (a, b), {})  # matrices: the registry op as it is
    a_vec, b_vec = getattr(a, "ndim", 0) == 1, getattr(b, "ndim", 0) == 1
    if a_vec:
        a = apply("unsqueeze", a, axis=0)
    if b_vec:
        b = apply("unsqueeze", b, axis=-1)
    out = apply("matmul", a, b)
    if a_vec and b_vec:
        return apply("reshape", out, shape=())
    if a_vec:
        return apply("squeeze", out, axis=-2)
    if b_vec:
        return apply("squeeze", out, axis=-1)
    return out


__all__ = ["TensorMath", "ValuesIndices", "check_inplace"]
