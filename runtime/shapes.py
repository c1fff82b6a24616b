"""Shape arithmetic for the shape rules: works with ``None`` dims and unknown rank."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

from .registry import Shape, ShapeError, format_shape

#: The most dimensions a tensor may have: numpy's limit, which every backend array has.
MAX_RANK = 64


def as_dim(value: Any) -> int | None:
    """``value`` as a dimension, or None when it is not an integer.

    Ints, numpy integers and anything with ``__index__`` (a one-element integer tensor)
    are dims; floats, even ``2.0``, and bools are not: PyTorch and TF1 refuse them, where
    ``int()`` would quietly truncate ``2.5`` to 2.

    Example:
        >>> as_dim(3), as_dim(np.int64(3)), as_dim(2.0), as_dim(True)
        (3, 3, None, None)
    """
    if isinstance(value, (bool, np.bool_)):
        return None
    try:
        return operator.index(value)
    except TypeError:
        return None


def int_dims(values: Sequence[Any], what: str) -> tuple[int, ...]:
    """Each of ``values`` as a dimension (see :func:`as_dim`); PyTorch's TypeError naming
    ``what`` (the argument) for the first one that is not an integer, and a ValueError for
    more than MAX_RANK of them.

    Example:
        >>> int_dims([2, np.int32(3)], "size")
        (2, 3)
    """
    dims = [as_dim(v) for v in values]
    if None in dims:
        pos = dims.index(None)
        raise TypeError(f"{what} must be tuple of ints, but found element of type "
                        f"{type(values[pos]).__name__} at pos {pos} ({values[pos]!r})")
    check_rank(what, dims)
    return tuple(dims)  # type: ignore[arg-type]


def check_rank(op: str, shape: Sequence[Any]) -> None:
    """A ValueError naming ``op`` when ``shape`` has more than MAX_RANK dimensions."""
    if len(shape) > MAX_RANK:
        raise ValueError(f"{op}: a tensor can have at most {MAX_RANK} dimensions (the limit of "
                         f"numpy arrays), but the shape has {len(shape)}")


def broadcast(op: str, *shapes: Shape) -> Shape:
    """numpy broadcasting over shapes that may hold ``None``; raises ShapeError naming ``op``."""
    if any(s is None for s in shapes):
        return None
    known = [s for s in shapes if s is not None]
    rank = max((len(s) for s in known), default=0)
    result: list[int | None] = []
    for axis in range(-rank, 0):
        dims = [s[axis] for s in known if len(s) >= -axis]
        concrete = {d for d in dims if d is not None and d != 1}
        if len(concrete) > 1:
            shown = " and ".join(format_shape(s) for s in known)
            raise ShapeError(
                f"{op}: shapes {shown} cannot be broadcast together "
                f"(dimension {axis} is {' vs '.join(map(str, sorted(concrete)))})"
            )
        if concrete:
            result.append(concrete.pop())
        elif any(d is None for d in dims):
            result.append(None)
        else:
            result.append(1)
    return tuple(result)


def normalize_axis(op: str, axis: int, ndim: int) -> int:
    if not -ndim <= axis < ndim:
        raise ShapeError(f"{op}: axis {axis} is out of range for a tensor of rank {ndim}")
    return axis % ndim


def normalize_axes(op: str, axis: Any, ndim: int) -> tuple[int, ...]:
    """``None`` means every axis; an int or a sequence of ints, each may be negative."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    normalized = tuple(sorted(normalize_axis(op, a, ndim) for a in axes))
    if len(set(normalized)) != len(normalized):
        raise ShapeError(f"{op}: repeated axis in {axis}")
    return normalized


def reduced(op: str, shape: Shape, axis: Any, keepdims: bool) -> Shape:
    if shape is None:
        return None
    axes = normalize_axes(op, axis, len(shape))
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def num_elements(shape: Sequence[int]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def reshaped(op: str, shape: Shape, target: Sequence[int]) -> Shape:
    """Resolves one ``-1`` in ``target`` against ``shape``; checks the element count."""
    target = tuple(int(d) for d in target)
    if len(target) > MAX_RANK:
        raise ShapeError(f"{op}: a tensor can have at most {MAX_RANK} dimensions (the limit of "
                         f"numpy arrays), but the target shape has {len(target)}")
    if sum(d == -1 for d in target) > 1:
        raise ShapeError(f"{op}: only one dimension can be inferred (-1) in {target}")
    if any(d < -1 for d in target):
        raise ShapeError(f"{op}: invalid target shape {target}")
    if shape is None or any(d is None for d in shape):
        return tuple(None if d == -1 else d for d in target)
    total = num_elements(shape)  # type: ignore[arg-type]
    known = num_elements([d for d in target if d != -1])
    if -1 in target:
        if known == 0 or total % known:
            raise ShapeError(
                f"{op}: cannot reshape a tensor of shape {format_shape(shape)} "
                f"({total} elements) into {target}"
            )
        return tuple(total // known if d == -1 else d for d in target)
    if known != total:
        raise ShapeError(
            f"{op}: cannot reshape a tensor of shape {format_shape(shape)} "
            f"({total} elements) into shape {target} ({known} elements)"
        )
    return target
