"""More Tensor methods tutorials use (a mixin of Tensor): ``dot``, ``outer``, ``mv``,
``addmm``, ``gather``, ``scatter``/``scatter_``/``scatter_add``, ``index_select``,
``topk``, ``sort``, ``argsort``, ``cumsum``, and in-place variants (``exp_``, ``pow_``,
``sigmoid_``, ``addcmul_`` ...). Each is a registry op (``runtime/ops_gather.py``) or a
runtime composite (``runtime/composites_linalg.py``); only PyTorch's checks and errors are
written here.

Example:
    >>> import tapeflow.dynamic as torch
    >>> torch.tensor([3.0, 1.0, 2.0]).topk(2)
    torch.return_types.topk(values=tensor([3., 2.]), indices=tensor([0, 2]))
"""

from __future__ import annotations

from typing import Any, NamedTuple

from ..runtime import composites_linalg as linalg
from .dispatch import apply
from .inplace import apply_


class _Pair(NamedTuple):
    values: Any
    indices: Any


def _pair(name: str) -> type:
    cls = type(name, (_Pair,), {"__module__": "torch.return_types"})
    cls.__repr__ = lambda self: (  # type: ignore[method-assign]
        f"torch.return_types.{name}(values={self.values!r}, indices={self.indices!r})")
    return cls


SortResult, TopkResult = _pair("sort"), _pair("topk")


def _vector(fn: str, *tensors: Any) -> None:
    if any(t.ndim != 1 for t in tensors):
        dims = " and ".join(f"{t.ndim}D" for t in tensors)
        raise RuntimeError(f"1D tensors expected, but got {dims} tensors")


class TensorMore:
    """Products, gathers and scatters, sorting, running sums and in-place variants."""

    # ---- products --------------------------------------------------------------------------

    def dot(self, other: Any) -> Any:
        _vector("dot", self, other)
        if self.numel() != other.numel():  # type: ignore[attr-defined]
            raise RuntimeError(
                f"inconsistent tensor size, expected tensor [{self.numel()}] and src "  # type: ignore[attr-defined]
                f"[{other.numel()}] to have the same number of elements, but got "
                f"{self.numel()} and {other.numel()} elements respectively")  # type: ignore[attr-defined]
        return linalg.dot(self, other)

    vdot = inner = dot

    def outer(self, vec2: Any) -> Any:
        _vector("outer", self, vec2)
        return linalg.outer(self, vec2)

    ger = outer

    def mv(self, vec: Any) -> Any:
        if self.ndim != 2 or vec.ndim != 1:  # type: ignore[attr-defined]
            raise RuntimeError(f"vector + matrix @ vector expected, got {vec.ndim}, "
                               f"{self.ndim}, {vec.ndim}")  # type: ignore[attr-defined]
        return linalg.mv(self, vec)

    def addmm(self, mat1: Any, mat2: Any, *, beta: float = 1, alpha: float = 1) -> Any:
        if mat1.ndim != 2 or mat2.ndim != 2:
            raise RuntimeError("mat1 must be a matrix" if mat1.ndim != 2 else
                               "mat2 must be a matrix")
        return linalg.addmm(self, mat1, mat2, beta, alpha)

    def addmm_(self, mat1: Any, mat2: Any, *, beta: float = 1, alpha: float = 1) -> Any:
        return self.copy_(self.addmm(mat1, mat2, beta=beta, alpha=alpha))  # type: ignore[attr-defined]

    def addcmul_(self, tensor1: Any, tensor2: Any, *, value: float = 1) -> Any:
        return self.copy_(linalg.addcmul(self, tensor1, tensor2, value))  # type: ignore[attr-defined]

    def addcdiv_(self, tensor1: Any, tensor2: Any, *, value: float = 1) -> Any:
        return self.copy_(linalg.addcdiv(self, tensor1, tensor2, value))  # type: ignore[attr-defined]

    def addcmul(self, tensor1: Any, tensor2: Any, *, value: float = 1) -> Any:
        return linalg.addcmul(self, tensor1, tensor2, value)

    def addcdiv(self, tensor1: Any, tensor2: Any, *, value: float = 1) -> Any:
        return linalg.addcdiv(self, tensor1, tensor2, value)

    # ---- gathers and scatters ------------------------------------------------------------

    def gather(self, dim: int, index: Any) -> Any:
        return apply("gather", self, index, axis=self._dim(dim),  # type: ignore[attr-defined]
                     label="GatherBackward0")

    def _source(self, index: Any, src: Any, value: Any) -> Any:
        # src cut to index's shape (PyTorch reads src[i][j] at index's positions), or value
        if src is None and value is None:
            raise TypeError("scatter() missing 1 required positional arguments: \"src\"")
        if src is None or not hasattr(src, "_array"):
            from .creation import full

            fill = value if src is None else src
            return full(tuple(index.shape), fill, dtype=self.dtype)  # type: ignore[attr-defined]
        if tuple(src.shape) != tuple(index.shape):
            return src[tuple(slice(0, n) for n in index.shape)]
        return src

    def scatter(self, dim: int, index: Any, src: Any = None, *, value: Any = None,
                reduce: str | None = None) -> Any:
        if reduce is not None:
            raise NotImplementedError("scatter: reduce= is not supported; use scatter_add")
        return apply("scatter_along", self, index, self._source(index, src, value),
                     axis=self._dim(dim), label="ScatterBackward0")  # type: ignore[attr-defined]

    def scatter_(self, dim: int, index: Any, src: Any = None, *, value: Any = None,
                 reduce: str | None = None) -> Any:
        if reduce is not None:
            raise NotImplementedError("scatter_: reduce= is not supported; use scatter_add_")
        return apply_("scatter_along", self, index, self._source(index, src, value),
                      axis=self._dim(dim), label="ScatterBackward0")  # type: ignore[attr-defined]

    def scatter_add(self, dim: int, index: Any, src: Any) -> Any:
        added = apply("scatter_add_along", self._source(index, src, None), index, self,
                      axis=self._dim(dim))  # type: ignore[attr-defined]
        return self + added  # type: ignore[operator]

    def scatter_add_(self, dim: int, index: Any, src: Any) -> Any:
        return self.copy_(self.scatter_add(dim, index, src))  # type: ignore[attr-defined]

    def index_select(self, dim: int, index: Any) -> Any:
        from .compat import index_select

        return index_select(self, dim, index)

    # ---- sorting and running sums ----------------------------------------------------------

    def argsort(self, dim: int = -1, descending: bool = False, stable: bool = False) -> Any:
        return apply("argsort", self, axis=self._dim(dim), descending=descending)  # type: ignore[attr-defined]

    def sort(self, dim: int = -1, descending: bool = False, stable: bool = False) -> Any:
        indices = self.argsort(dim, descending)
        return SortResult(self.gather(dim, indices), indices)

    def topk(self, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> Any:  # noqa: A002
        d = self._dim(dim)  # type: ignore[attr-defined]
        size = self.shape[d] if self.ndim else 1  # type: ignore[attr-defined]
        if not 0 <= k <= size:
            raise RuntimeError("selected index k out of range")
        indices = self.argsort(d, descending=largest)[(slice(None),) * d + (slice(0, k),)]
        return TopkResult(self.gather(d, indices), indices)

    def cumsum(self, dim: int, dtype: Any = None) -> Any:
        x = self if dtype is None else self.to(dtype)  # type: ignore[attr-defined]
        return apply("cumsum", x, axis=self._dim(dim), label="CumsumBackward0")  # type: ignore[attr-defined]

    def cumsum_(self, dim: int) -> Any:
        return self.copy_(self.cumsum(dim))  # type: ignore[attr-defined]

    # ---- in-place variants of elementwise ops ------------------------------------------------

    def exp_(self) -> Any:
        return apply_("exp", self)

    def log_(self) -> Any:
        return apply_("log", self)

    def abs_(self) -> Any:
        return apply_("abs", self)

    def sqrt_(self) -> Any:
        return apply_("sqrt", self)

    def sigmoid_(self) -> Any:
        return apply_("sigmoid", self)

    def tanh_(self) -> Any:
        return apply_("tanh", self)

    def relu_(self) -> Any:
        return apply_("relu", self)

    def pow_(self, exponent: Any) -> Any:
        return apply_("pow", self, exponent)
