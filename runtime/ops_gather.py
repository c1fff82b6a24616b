"""Gathers and scatters along one axis (PyTorch's ``gather``/``scatter``/``scatter_add``,
``topk``/``sort``'s values), ``argsort`` and ``cumsum``.

An index tensor of the input's rank picks, for each of its positions, the element whose
coordinate along ``axis`` is the index and whose other coordinates are the position's own
(PyTorch's rule: ``out[i][j] = x[i][index[i][j]]`` for axis 1). The index may be smaller
than the input in the other dimensions.
"""

from __future__ import annotations

from typing import Any

from . import dtypes as dt
from .registry import R, ShapeError, Spec, format_shape, register
from .shapes import normalize_axis


def _along(xp: Any, index: Any, axis: int) -> tuple[Any, ...]:
    """Advanced-index arrays addressing ``x[..., index, ...]`` position by position."""
    axis = axis % index.ndim
    coords = []
    for d, size in enumerate(index.shape):
        if d == axis:
            coords.append(index)
            continue
        shape = [1] * index.ndim
        shape[d] = size
        coords.append(xp.arange(size).reshape(shape))
    return tuple(coords)


def _check(name: str, x: Spec, index: Spec, axis: int) -> None:
    if not index.dtype.is_integer:
        raise ShapeError(f"{name}(): Expected dtype int64 for index, got {index.dtype.name}")
    if x.shape is None or index.shape is None:
        return
    if len(x.shape) != len(index.shape):
        raise ShapeError(f"{name}(): Index tensor must have the same number of dimensions as "
                         f"input tensor ({format_shape(index.shape)} vs {format_shape(x.shape)})")
    a = normalize_axis(name, axis, len(x.shape))
    for d, (have, limit) in enumerate(zip(index.shape, x.shape, strict=True)):
        if d != a and have is not None and limit is not None and have > limit:
            raise ShapeError(f"{name}(): Size does not match at dimension {d}: index "
                             f"{format_shape(index.shape)} is larger than input "
                             f"{format_shape(x.shape)} there")


def _in_range(xp: Any, index: Any, size: int, axis: int) -> None:
    if index.size and (int(index.min()) < -size or int(index.max()) >= size):
        bad = int(index.max()) if int(index.max()) >= size else int(index.min())
        raise IndexError(f"index {bad} is out of bounds for dimension {axis % index.ndim} "
                         f"with size {size}")


def _gather(xp: Any, x: Any, index: Any, out: Any = None, axis: int = 0) -> Any:
    _in_range(xp, index, x.shape[axis], axis)
    result = x[_along(xp, index, axis)]
    if out is None:
        return result
    xp.copyto(out, result)
    return out


def _gather_infer(x: Spec, index: Spec, axis: int = 0) -> Spec:
    _check("gather", x, index, axis)
    return Spec(index.shape, x.dtype)


register(
    "gather",
    kernel=_gather,
    infer=_gather_infer,
    arity=2,
    kind="index",
    vjp=[lambda g, ans, x, index, axis=0: R.scatter_add_along(g, index, x, axis=axis), None],
    doc="out[..i..] = x[..index[i]..] along axis (PyTorch gather); d = scatter-add back",
    saves=("index",),
)


def _scatter_add_along(xp: Any, g: Any, index: Any, like: Any, out: Any = None,
                       axis: int = 0) -> Any:
    # zeros of like's shape with each g added where its index points (repeats add up)
    if out is None:
        out = xp.zeros(like.shape, dtype=g.dtype)
    else:
        out.fill(0)
    _in_range(xp, index, like.shape[axis], axis)
    xp.add.at(out, _along(xp, index, axis), g)
    return out


register(
    "scatter_add_along",
    kernel=_scatter_add_along,
    arity=3,
    kind="index",
    shape_only=(2,),
    infer=lambda g, index, like, axis=0: Spec(like.shape, g.dtype),
    vjp=[lambda gg, ans, g, index, like, axis=0: R.gather(gg, index, axis=axis), None, None],
    doc="zeros of like's shape with g added at index along axis; d g = gather",
    saves=("index",),
)


def _scatter_along(xp: Any, x: Any, index: Any, src: Any, out: Any = None,
                   axis: int = 0) -> Any:
    # x with x[..index[i]..] = src[i] (a repeated index keeps one of its values, as PyTorch)
    if out is None:
        out = x.copy()
    elif out is not x:
        xp.copyto(out, x)
    _in_range(xp, index, x.shape[axis], axis)
    out[_along(xp, index, axis)] = src
    return out


def _scatter_infer(x: Spec, index: Spec, src: Spec, axis: int = 0) -> Spec:
    _check("scatter", x, index, axis)
    return Spec(x.shape, x.dtype)


register(
    "scatter_along",
    kernel=_scatter_along,
    infer=_scatter_infer,
    arity=3,
    kind="index",
    inplace=True,
    vjp=[
        lambda g, ans, x, index, src, axis=0: R.scatter_along(
            g, index, R.mul(R.gather(g, index, axis=axis), 0.0), axis=axis),
        None,
        lambda g, ans, x, index, src, axis=0: R.gather(g, index, axis=axis),
    ],
    doc="x with src written at index along axis (PyTorch scatter); d x = g zeroed there, "
        "d src = g gathered",
    saves=[("index",), (), ("index",)],
)


def _argsort(xp: Any, x: Any, out: Any = None, axis: int = -1,
             descending: bool = False) -> Any:
    # stable; descending sorts the negated order so equal values keep their order too
    order = xp.argsort(-x if descending and x.dtype.kind != "b" else x, axis=axis,
                       kind="stable")
    if descending and x.dtype.kind == "b":
        order = xp.argsort(~x, axis=axis, kind="stable")
    return order if out is None else (xp.copyto(out, order) or out)


register(
    "argsort",
    kernel=_argsort,
    infer=lambda x, axis=-1, descending=False: Spec(x.shape, dt.int64),
    kind="index",
    doc="the indices that sort x along axis (stable)",
)


def _cumsum(xp: Any, x: Any, out: Any = None, axis: int = 0, reverse: bool = False) -> Any:
    dtype = x.dtype if x.dtype.kind == "f" else xp.int64  # integers sum in int64 (PyTorch)
    if not reverse:
        return xp.cumsum(x, axis=axis, dtype=dtype, out=out)
    flipped = xp.cumsum(xp.flip(x, axis), axis=axis, dtype=dtype)
    result = xp.flip(flipped, axis)
    return result if out is None else (xp.copyto(out, result) or out)


register(
    "cumsum",
    kernel=_cumsum,
    infer=lambda x, axis=0, reverse=False: Spec(
        x.shape, x.dtype if x.dtype.is_floating else dt.int64),
    kind="reduce",
    vjp=[lambda g, ans, x, axis=0, reverse=False: R.cumsum(g, axis=axis, reverse=not reverse)],
    doc="running sums along axis (from the end when reverse); d = reversed running sums of g",
    saves=(),
)
