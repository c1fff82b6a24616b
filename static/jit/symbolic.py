"""The stand-ins traced code computes with: dynamic Tensors over symbolic arrays.

A :class:`TracedTensor` is an ordinary dynamic Tensor whose array is a
:class:`SymbolicArray`: a static graph tensor of known shape and dtype and no values. Code
that reads shapes works unchanged; code that reads values raises :class:`TracingError`,
which says why a static graph cannot follow them and how to rewrite the code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ...dynamic.interop import array_of, current_interceptor
from ...dynamic.tensor import Tensor as DynamicTensor
from ..conventions import type_name
from ..tensor import Tensor as Symbol

if TYPE_CHECKING:
    from .tracing import Tracer


class TracingError(TypeError):
    """Traced code asked for something a static graph cannot give: a tensor's value.

    The message says why (the graph is built once, before any data exists) and how to fix it.
    """


def value_error(what: str, function: str) -> TracingError:
    """The teaching error for code that needs a value while ``function`` is being traced."""
    return TracingError(
        f"{what} needs the value of a tensor, but '{function}' is being traced by "
        "tapeflow.static.function: its tensors are symbolic. A static graph is built once, "
        "before any data exists, so it cannot follow a Python branch, loop count or number "
        "that depends on a value it does not know yet (the graph would be right for the "
        "example input and silently wrong for the next one). Fixes: compute both sides and "
        "select with torch.where(cond, a, b) or a mask; or move the branch (or the .item()) "
        "outside the traced function and call .item() on the tensor it returns; or pass the "
        "value as a plain Python argument, which makes it part of the input signature (a new "
        "value traces again).")


def escaped(function: str) -> TracingError:
    return TracingError(
        f"a traced tensor of '{function}' was used outside its trace: it is a symbolic "
        "stand-in with no values (was it stored in a global or an attribute while tracing?). "
        "Return tensors from the traced function instead; calls return real tensors.")


class _Flags:
    c_contiguous = True  # a symbolic value has no memory layout; every view is allowed


class _ShapeProbe:
    """What ``array.view()`` gives: accepts any shape of the same size (for ``Tensor.view``)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._shape: tuple[int, ...] = ()

    @property
    def shape(self) -> tuple[int, ...]:
        return self._shape

    @shape.setter
    def shape(self, value: tuple[int, ...]) -> None:
        if int(np.prod(value, dtype=np.int64)) != self.size:
            raise ValueError("cannot reshape")
        self._shape = tuple(value)


class SymbolicArray:
    """The array of a traced dynamic Tensor: a static graph tensor with a fixed shape.

    It answers what code asks of an array's metadata (shape, dtype, ndim, size, strides) and
    raises :class:`TracingError` for anything that reads its values.
    """

    __array_priority__ = 1000
    flags = _Flags()
    base = None

    def __init__(self, symbol: Symbol, tracer: Tracer) -> None:
        shape = symbol.spec.shape
        assert shape is not None and all(d is not None for d in shape), "traces are concrete"
        self.symbol = symbol
        self.tracer = tracer
        self.shape: tuple[int, ...] = tuple(int(d) for d in shape)  # type: ignore[arg-type]
        self.dtype = np.dtype(symbol.dtype.np)
        self.ndim = len(self.shape)
        self.size = int(np.prod(self.shape, dtype=np.int64))
        self.itemsize = self.dtype.itemsize
        strides, step = [], self.itemsize
        for d in reversed(self.shape):
            strides.append(step)
            step *= max(d, 1)
        self.strides = tuple(reversed(strides))

    def _fail(self, what: str) -> TracingError:
        if current_interceptor() is self.tracer:  # this thread is tracing with it
            return value_error(what, self.tracer.name)
        return escaped(self.tracer.name)

    def view(self) -> _ShapeProbe:
        return _ShapeProbe(self.size)

    def reshape(self, *shape: Any) -> Any:
        raise self._fail("reading a tensor as a Python number (.item(), float(t), int(t), "
                         "bool(t), `if t:`)")

    def get(self) -> Any:
        raise self._fail("converting a tensor to a list or a numpy array (.tolist(), "
                         "np.asarray(t))")

    def copy(self) -> Any:
        raise self._fail("copying a tensor's data (torch.tensor(t); use t.clone() or "
                         "t.detach() instead)")

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise self._fail("converting a tensor to a numpy array")

    def __setitem__(self, index: Any, value: Any) -> None:
        raise self._fail("writing through an integer-tensor index")

    def __repr__(self) -> str:
        return f"<symbolic {self.symbol.name} {self.dtype.name}{list(self.shape)}>"


class TracedNode:
    """The ``grad_fn`` of a traced tensor: the gradient comes from ``static.gradients``."""

    __slots__ = ("op",)

    next_functions: tuple[Any, ...] = ()

    def __init__(self, op: str) -> None:
        self.op = op

    def name(self) -> str:
        return f"{type_name(self.op)}Backward (traced)"

    def register_hook(self, hook: Any) -> Any:
        raise TracingError("gradient hooks cannot be traced into a static graph; register "
                           "them on an eager tensor outside the traced function")

    def __getattr__(self, name: str) -> Any:
        # the eager tape's machinery (autograd.grad walks nodes): there is no tape here
        raise TracingError(
            f"the autograd tape ({name}) cannot be used inside a traced function: the graph "
            "takes gradients with static.gradients when loss.backward() is called. Use "
            "loss.backward() and read .grad (torch.autograd.grad is not traced).")


class TracedTensor(DynamicTensor):
    """A dynamic Tensor over a :class:`SymbolicArray`, the stand-in traced code computes with.

    It has no fields of its own (``dynamic.interop.wrap`` makes one around an array).

    Example:
        >>> # inside a function decorated with tapeflow.static.function:
        >>> # x.shape -> torch.Size([4, 2]); x.sum().item() -> TracingError
    """

    __slots__ = ()

    @property
    def array(self) -> SymbolicArray:
        """The symbolic array this tensor shows."""
        array: SymbolicArray = array_of(self)
        return array

    @property
    def symbol(self) -> Symbol:
        return self.array.symbol

    def item(self) -> Any:
        raise self.array._fail("reading a tensor as a Python number (.item())")

    def tolist(self) -> Any:
        raise self.array._fail("converting a tensor to a list (.tolist())")

    def numpy(self) -> np.ndarray:
        raise self.array._fail("converting a tensor to numpy (.numpy())")

    def __bool__(self) -> bool:
        raise self.array._fail("using a tensor as a Python bool (`if t:`, `while t:`, "
                                "`and`/`or`, bool(t))")

    def __float__(self) -> float:
        raise self.array._fail("converting a tensor to a Python float (float(t))")

    def __int__(self) -> int:
        raise self.array._fail("converting a tensor to a Python int (int(t))")

    def __index__(self) -> int:
        raise self.array._fail("using a tensor as an index or a count (range(t), list[t])")

    def backward(self, gradient: Any = None, retain_graph: bool | None = None,
                 create_graph: bool = False, inputs: Any = None) -> None:
        """Appends the backward graph (``static.gradients``) and sets the leaves' ``.grad``."""
        self.array.tracer.backward(self, gradient)

    def detach(self) -> TracedTensor:
        tracer = self.array.tracer
        detached: TracedTensor = tracer.wrap(tracer.node("stop_gradient", [self.symbol]))
        return detached

    @property  # type: ignore[override]
    def data(self) -> TracedTensor:
        return self.detach()

    @data.setter
    def data(self, value: Any) -> None:
        raise TracingError("assigning .data cannot be traced: a static graph has no way to "
                           "swap a tensor's storage; use an in-place op (copy_) instead")

    def register_hook(self, hook: Any) -> Any:
        raise TracingError("gradient hooks cannot be traced into a static graph; register "
                           "them on an eager tensor outside the traced function")

    def retain_grad(self) -> None:
        raise TracingError("retain_grad() cannot be traced: only leaves (parameters) get "
                           ".grad in a traced function")

    def __repr__(self) -> str:
        shape = ", ".join(str(d) for d in self.array.shape)
        grad = ", requires_grad=True" if self.requires_grad else ""
        return (f"tensor(<traced {self.symbol.name}: shape [{shape}], "
                f"dtype={self.dtype!r}>{grad})")

    __str__ = __repr__


__all__ = ["SymbolicArray", "TracedNode", "TracedTensor", "TracingError", "value_error"]
