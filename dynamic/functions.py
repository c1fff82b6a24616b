"""The ``torch.*`` functions: ``cat``, ``stack``, ``matmul``, ``exp``, ``sum``, ``where`` ...

Each is the registry op (``cat``, ``stack``) or the matching Tensor method, so there is
exactly one implementation of every computation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .creation import tensor
from .dispatch import apply
from .tensor import Tensor


def _t(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else tensor(x)


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Joins tensors along an existing dimension.

    Example:
        >>> import tapeflow.dynamic as torch
        >>> torch.cat([torch.zeros(1, 2), torch.ones(2, 2)]).shape
        torch.Size([3, 2])
    """
    if not tensors:
        raise RuntimeError("torch.cat(): expected a non-empty list of Tensors")
    return apply("concat", *tensors, axis=dim, label="CatBackward0")


concat = concatenate = cat


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Joins same-shaped tensors along a new dimension."""
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    shapes = {tuple(t.shape) for t in tensors}
    if len(shapes) > 1:
        first, *rest = [tuple(t.shape) for t in tensors]
        bad = next(i for i, s in enumerate(rest, 1) if s != first)
        raise RuntimeError(f"stack expects each tensor to be equal size, but got {list(first)} "
                           f"at entry 0 and {list(rest[bad - 1])} at entry {bad}")
    return apply("stack", *tensors, axis=dim, label="StackBackward0")


def bmm(input: Tensor, mat2: Tensor) -> Tensor:  # noqa: A002
    return apply("matmul", input, mat2, label="BmmBackward0")


def where(condition: Any, input: Any, other: Any) -> Tensor:  # noqa: A002
    return apply("where", condition, input, other)


def _method(name: str):
    def function(input: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: A002
        return getattr(_t(input), name)(*args, **kwargs)

    function.__name__ = name
    function.__doc__ = f"``torch.{name}(input, ...)``: the same as ``input.{name}(...)``."
    return function


# the rest of the torch.* functions, with PyTorch's full signatures, are in compat.py
_METHODS = ("all any logical_and logical_or logical_not t unbind masked_fill clone detach "
            "select").split()

for _name in _METHODS:
    globals()[_name] = _method(_name)

__all__ = ["bmm", "cat", "concat", "concatenate", "stack", "where", *_METHODS]
