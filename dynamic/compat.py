"""The ``torch.*`` functions with PyTorch's signatures (``dim``, ``keepdim``, ``out=``).

Every function here is the matching Tensor method (or ``functions.cat``/``stack``), so
``torch.tanh(x)`` and ``x.tanh()`` run the same registry op through the same dispatch:
this module only maps PyTorch's argument names and the ``out=`` rules onto them.

Example:
    >>> import tapeflow.dynamic as torch
    >>> x = torch.tensor([[1.0, 5.0], [3.0, 2.0]])
    >>> torch.max(x, dim=1).indices.tolist()
    [1, 0]
    >>> out = torch.empty(2, 2); _ = torch.tanh(x, out=out); out.shape
    torch.Size([2, 2])
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from ..runtime import dtypes as dt
from . import functions
from .creation import _create, zeros
from .grad_mode import no_grad
from .tensor import Tensor


def _need_tensor(fn: str, value: Any, arg: str = "input", position: int = 1) -> Any:
    if not isinstance(value, Tensor):
        raise TypeError(f"{fn}(): argument '{arg}' (position {position}) must be Tensor, not "
                        f"{type(value).__name__}")
    return value


def _kind(dtype: dt.DType) -> int:
    # PyTorch's out= casting: bool < integer < floating; a result may not move down
    return 0 if dtype.is_bool else 1 if dtype.is_integer else 2


def _write(fn: str, result: Tensor, out: Tensor) -> Any:
    """Writes ``result`` into ``out`` under PyTorch's ``out=`` rules and returns ``out``."""
    if not isinstance(out, Tensor):
        raise TypeError(f"{fn}(): argument 'out' must be Tensor, not {type(out).__name__}")
    if result.requires_grad:
        raise RuntimeError(f"{fn}(): functions with out=... arguments don't support automatic "
                           "differentiation, but one of the arguments requires grad.")
    if _kind(result.dtype) > _kind(out.dtype):
        raise RuntimeError(f"result type {_type_name(result.dtype)} can't be cast to the "
                           f"desired output type {_type_name(out.dtype)}")
    if tuple(out.shape) != tuple(result.shape):
        if out.numel():
            warnings.warn(f"An output with one or more elements was resized since it had shape "
                          f"{list(out.shape)}, which does not match the required output shape "
                          f"{list(result.shape)}. This behavior is deprecated, and in a future "
                          "PyTorch release outputs will not be resized unless they have zero "
                          "elements. You can explicitly reuse an out tensor t by resizing it, "
                          "inplace, to zero elements with t.resize_(0).", UserWarning,
                          stacklevel=3)
        # a fresh storage of the new size; out keeps its identity (and its autograd leaf state)
        out.data = zeros(tuple(result.shape), dtype=out.dtype, device=out.device)
    with no_grad():
        out.copy_(result)
    return out


def _type_name(dtype: dt.DType) -> str:
    names = {"float32": "Float", "float64": "Double", "float16": "Half", "int64": "Long",
             "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool"}
    return names.get(dtype.name, dtype.name)


def _finish(fn: str, result: Any, out: Any) -> Any:
    if out is None:
        return result
    if isinstance(result, tuple):  # max(x, dim, out=(values, indices))
        if not isinstance(out, (tuple, list)) or len(out) != len(result):
            raise TypeError(f"{fn}(): argument 'out' must be tuple of {len(result)} Tensors")
        return type(result)(*(_write(fn, r, o) for r, o in zip(result, out, strict=True)))
    return _write(fn, result, out)


# ---- elementwise math --------------------------------------------------------------------

def _unary(name: str, with_out: bool = True) -> Any:
    method = getattr(Tensor, name)
    if with_out:
        def function(input: Any, *, out: Tensor | None = None) -> Any:  # noqa: A002
            if out is None and type(input) is Tensor:
                return method(input)  # (torch.tanh(h) of an RNN step: two frames fewer)
            return _finish(name, getattr(_need_tensor(name, input), name)(), out)
    else:
        def function(input: Any) -> Any:  # type: ignore[misc]  # noqa: A002
            return getattr(_need_tensor(name, input), name)()

    function.__name__ = function.__qualname__ = name
    function.__doc__ = (f"``torch.{name}(input{', *, out=None' if with_out else ''})``: the same "
                        f"op as ``input.{name}()``.")
    return function


tanh, sigmoid, exp, log = _unary("tanh"), _unary("sigmoid"), _unary("exp"), _unary("log")
sqrt, abs, neg, sign = _unary("sqrt"), _unary("abs"), _unary("neg"), _unary("sign")  # noqa: A001
sin, cos = _unary("sin"), _unary("cos")
log1p, expm1 = _unary("log1p"), _unary("expm1")
relu = _unary("relu", with_out=False)
negative, absolute = neg, abs


def pow(input: Any, exponent: Any, *, out: Tensor | None = None) -> Any:  # noqa: A001,A002
    """``input ** exponent``; ``input`` may be a Python number when ``exponent`` is a Tensor.

    Example:
        >>> import tapeflow.dynamic as torch
        >>> torch.pow(torch.tensor([1.0, 2.0]), 2).tolist()
        [1.0, 4.0]
    """
    if not isinstance(input, Tensor):
        return _finish("pow", _need_tensor("pow", exponent, "exponent", 2).__rpow__(input), out)
    return _finish("pow", input.pow(exponent), out)


def square(input: Any, *, out: Tensor | None = None) -> Any:  # noqa: A002
    """``input ** 2`` (the ``pow`` op, as in PyTorch)."""
    return _finish("square", _need_tensor("square", input).pow(2), out)


def clamp(input: Any, min: Any = None, max: Any = None, *,  # noqa: A001,A002
          out: Tensor | None = None) -> Any:
    """Limits values to ``[min, max]`` (either bound may be None)."""
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    return _finish("clamp", _need_tensor("clamp", input).clamp(min, max), out)


clip = clamp


def _binary(name: str) -> Any:
    def function(input: Any, other: Any, *, out: Tensor | None = None) -> Any:  # noqa: A002
        return _finish(name, getattr(_need_tensor(name, input), name)(other), out)

    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"``torch.{name}(input, other, *, out=None)``: ``input.{name}(other)``."
    return function


maximum, minimum = _binary("maximum"), _binary("minimum")
add, sub, mul, div = _binary("add"), _binary("sub"), _binary("mul"), _binary("div")
multiply, subtract, divide, true_divide = mul, sub, div, div
eq, ne, lt, le, gt, ge = (_binary(n) for n in ("eq", "ne", "lt", "le", "gt", "ge"))
greater, greater_equal, less, less_equal, not_equal = gt, ge, lt, le, ne


def where(condition: Any, input: Any = None, other: Any = None, *,  # noqa: A002
          out: Tensor | None = None) -> Any:
    """``input`` where ``condition`` holds, else ``other`` (scalars broadcast).

    The one-argument form ``torch.where(condition)`` (indices of true elements) has a
    data-dependent shape and is not supported.
    """
    if input is None or other is None:
        raise NotImplementedError("tapeflow does not implement torch.where(condition) without "
                                  "input and other (the indices of true elements); use "
                                  "torch.where(condition, input, other)")
    cond = _need_tensor("where", condition, "condition")
    base = input if isinstance(input, Tensor) else other
    if not isinstance(base, Tensor):
        raise TypeError("where(): at least one of 'input' and 'other' must be a Tensor")
    return _finish("where", functions.where(cond, input, other), out)


def matmul(input: Any, other: Any, *, out: Tensor | None = None) -> Any:  # noqa: A002
    """Matrix product with PyTorch's rules for 1-D operands and batches."""
    return _finish("matmul", _need_tensor("matmul", input).matmul(other), out)


def mm(input: Any, mat2: Any, *, out: Tensor | None = None) -> Any:  # noqa: A002
    """The product of two matrices (no broadcasting)."""
    return _finish("mm", _need_tensor("mm", input).mm(mat2), out)


# ---- reductions ---------------------------------------------------------------------------

def sum(input: Any, dim: Any = None, keepdim: bool = False, *,  # noqa: A001,A002
        dtype: Any = None, out: Tensor | None = None) -> Any:
    """Sum over ``dim`` (all dims when None)."""
    return _finish("sum", _need_tensor("sum", input).sum(dim, keepdim, dtype), out)


def mean(input: Any, dim: Any = None, keepdim: bool = False, *,  # noqa: A002
         dtype: Any = None, out: Tensor | None = None) -> Any:
    """Mean over ``dim`` (all dims when None); floating inputs only, as in PyTorch."""
    return _finish("mean", _need_tensor("mean", input).mean(dim, keepdim, dtype), out)


def var(input: Any, dim: Any = None, unbiased: bool | None = None,  # noqa: A002
        keepdim: bool = False, *, correction: float | None = None) -> Any:
    """Variance over ``dim`` with Bessel's correction by default (see ``Tensor.var``)."""
    return _need_tensor("var", input).var(dim, unbiased, keepdim, correction=correction)


def std(input: Any, dim: Any = None, unbiased: bool | None = None,  # noqa: A002
        keepdim: bool = False, *, correction: float | None = None) -> Any:
    """Standard deviation over ``dim`` (see ``Tensor.std``)."""
    return _need_tensor("std", input).std(dim, unbiased, keepdim, correction=correction)


def _extreme(name: str) -> Any:
    def function(input: Any, dim: Any = None, keepdim: bool = False, *,  # noqa: A002
                 out: Any = None) -> Any:
        x = _need_tensor(name, input)
        if isinstance(dim, Tensor):  # torch.max(a, b): the elementwise maximum
            return _finish(name, x.maximum(dim) if name == "max" else x.minimum(dim), out)
        return _finish(name, getattr(x, name)(dim, keepdim), out)

    function.__name__ = function.__qualname__ = name
    function.__doc__ = (f"``torch.{name}(input)``: the {name}imum; ``torch.{name}(input, dim, "
                        f"keepdim=False)``: (values, indices); ``torch.{name}(input, other)``: "
                        "elementwise.")
    return function


max, min = _extreme("max"), _extreme("min")  # noqa: A001


def norm(input: Any, p: Any = "fro", dim: Any = None, keepdim: bool = False,  # noqa: A002
         out: Tensor | None = None, dtype: Any = None) -> Any:
    """The vector p-norm (p = 2 / 'fro', 1 or inf) over ``dim``: ``input.norm(...)``."""
    return _finish("norm", _need_tensor("norm", input).norm(p, dim, keepdim, dtype), out)


def argmax(input: Any, dim: int | None = None, keepdim: bool = False) -> Any:  # noqa: A002
    """Index of the largest value (of the flattened tensor when ``dim`` is None)."""
    return _need_tensor("argmax", input).argmax(dim, keepdim)


def argmin(input: Any, dim: int | None = None, keepdim: bool = False) -> Any:  # noqa: A002
    return _need_tensor("argmin", input).argmin(dim, keepdim)


def softmax(input: Any, dim: int, dtype: Any = None) -> Any:  # noqa: A002
    """exp(x) / sum(exp(x)) along ``dim`` (input cast to ``dtype`` first when given)."""
    x = _need_tensor("softmax", input)
    return (x if dtype is None else x.to(dtype)).softmax(dim)


def log_softmax(input: Any, dim: int, dtype: Any = None) -> Any:  # noqa: A002
    x = _need_tensor("log_softmax", input)
    return (x if dtype is None else x.to(dtype)).log_softmax(dim)


# ---- shapes --------------------------------------------------------------------------------

def reshape(input: Any, shape: Sequence[int]) -> Any:  # noqa: A002
    return _need_tensor("reshape", input).reshape(tuple(shape))


def transpose(input: Any, dim0: int, dim1: int) -> Any:  # noqa: A002
    return _need_tensor("transpose", input).transpose(dim0, dim1)


swapaxes = swapdims = transpose


def permute(input: Any, dims: Sequence[int]) -> Any:  # noqa: A002
    return _need_tensor("permute", input).permute(tuple(dims))


def squeeze(input: Any, dim: int | None = None) -> Any:  # noqa: A002
    return _need_tensor("squeeze", input).squeeze(dim)


def unsqueeze(input: Any, dim: int) -> Any:  # noqa: A002
    return _need_tensor("unsqueeze", input).unsqueeze(dim)


def flatten(input: Any, start_dim: int = 0, end_dim: int = -1) -> Any:  # noqa: A002
    return _need_tensor("flatten", input).flatten(start_dim, end_dim)


def split(tensor: Any, split_size_or_sections: Any, dim: int = 0) -> Any:
    """Views of consecutive pieces of the given size (or of the listed sizes) along ``dim``."""
    return _need_tensor("split", tensor, "tensor").split(split_size_or_sections, dim)


def chunk(input: Any, chunks: int, dim: int = 0) -> Any:  # noqa: A002
    return _need_tensor("chunk", input).chunk(chunks, dim)


def cat(tensors: Sequence[Tensor], dim: int = 0, *, out: Tensor | None = None) -> Any:
    """Joins tensors along an existing dimension."""
    return _finish("cat", functions.cat(tensors, dim), out)


concat = concatenate = cat


def stack(tensors: Sequence[Tensor], dim: int = 0, *, out: Tensor | None = None) -> Any:
    """Joins same-shaped tensors along a new dimension."""
    return _finish("stack", functions.stack(tensors, dim), out)


def index_select(input: Any, dim: int, index: Any, *,  # noqa: A002
                 out: Tensor | None = None) -> Any:
    """The slices of ``input`` along ``dim`` at the integer ``index`` (a 1-D tensor)."""
    x = _need_tensor("index_select", input)
    idx = _need_tensor("index_select", index, "index", 3)
    if idx.ndim > 1 or not idx.dtype.is_integer:
        raise IndexError("index_select(): Index is supposed to be a vector of integers")
    # x[:, ..., index] along dim: the same take op as tensor indexing
    return _finish("index_select", x[(slice(None),) * x._dim(dim) + (idx,)], out)


def masked_select(input: Any, mask: Any, *, out: Tensor | None = None) -> Any:  # noqa: A002
    """A 1-D tensor of the elements of ``input`` where the bool ``mask`` holds."""
    x = _need_tensor("masked_select", input)
    m = _need_tensor("masked_select", mask, "mask", 2)
    if tuple(m.shape) != tuple(x.shape):  # they broadcast against each other
        shape = tuple(functions.where(m, x, x).shape)
        x, m = x.expand(shape), m.expand(shape)
    return _finish("masked_select", x[m], out)


def dropout(input: Any, p: float, train: bool) -> Any:  # noqa: A002
    """``torch.nn.functional.dropout(input, p, training=train)``."""
    from .nn.functional import dropout as f_dropout

    return f_dropout(_need_tensor("dropout", input), p, train)


# ---- predicates and creation ----------------------------------------------------------------

def allclose(input: Any, other: Any, rtol: float = 1e-05, atol: float = 1e-08,  # noqa: A002
             equal_nan: bool = False) -> bool:
    """Whether ``|input - other| <= atol + rtol * |other|`` everywhere."""
    if equal_nan:
        raise NotImplementedError("tapeflow's allclose does not implement equal_nan=True")
    return bool(_need_tensor("allclose", input).allclose(other, rtol, atol))


def equal(input: Any, other: Any) -> bool:  # noqa: A002
    """True when both tensors have the same shape and elements."""
    return bool(_need_tensor("equal", input).equal(other))


def numel(input: Any) -> int:  # noqa: A002
    return int(_need_tensor("numel", input).numel())


def is_tensor(obj: Any) -> bool:
    return isinstance(obj, Tensor)


def is_floating_point(input: Any) -> bool:  # noqa: A002
    return bool(_need_tensor("is_floating_point", input).is_floating_point())


def linspace(start: float, end: float, steps: int, *, out: Tensor | None = None,
             dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Any:
    """``steps`` evenly spaced values from ``start`` to ``end``, both included.

    Example:
        >>> import tapeflow.dynamic as torch
        >>> torch.linspace(0, 1, steps=5).tolist()
        [0.0, 0.25, 0.5, 0.75, 1.0]
    """
    if int(steps) < 0:
        raise RuntimeError("linspace(): number of steps must be non-negative")
    result = _create("linspace", device, requires_grad, start=float(start), stop=float(end),
                     num=int(steps), dtype=dt.as_dtype(dtype or dt.float32))
    return _finish("linspace", result, out)


__all__ = [
    "abs", "absolute", "add", "allclose", "argmax", "argmin", "cat", "chunk", "clamp", "clip",
    "concat", "concatenate", "cos", "div", "divide", "dropout", "eq", "equal", "exp", "expm1",
    "flatten", "ge", "greater", "greater_equal", "gt", "index_select", "is_floating_point",
    "is_tensor", "le", "less", "less_equal", "linspace", "log", "log1p", "log_softmax", "lt",
    "masked_select", "matmul", "max", "maximum", "mean", "min", "minimum", "mm", "mul",
    "multiply", "ne", "neg", "negative", "norm", "not_equal", "numel", "permute", "pow", "relu",
    "reshape", "sigmoid", "sign", "sin", "softmax", "split", "sqrt", "square", "squeeze",
    "stack", "std", "sub", "subtract", "sum", "swapaxes", "swapdims", "tanh", "transpose",
    "true_divide", "unsqueeze", "var", "where",
]

