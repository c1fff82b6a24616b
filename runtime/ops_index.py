"""Joins and indexing: concat, stack, basic indexing (``getitem``, a view) and its inverse
``unindex``, and assignment into a basic index (``index_assign``). Indices travel as
hashable tuples (:func:`encode_index`) so they can be graph attributes."""

from __future__ import annotations

from typing import Any

from . import dtypes as dt
from .registry import R, ShapeError, Spec, format_shape, register
from .shapes import broadcast, normalize_axis

# ---- concat / stack ------------------------------------------------------------------------


def _concat_infer(*xs: Spec, axis: int = 0) -> Spec:
    if not xs:
        raise ShapeError("concat: expected a non-empty list of tensors")
    dtype = xs[0].dtype
    for x in xs[1:]:
        dtype = dt.promote(dtype, x.dtype)
    known = [x.shape for x in xs if x.shape is not None]
    if not known:
        return Spec(None, dtype)
    rank = len(known[0])
    if any(len(s) != rank for s in known):
        raise ShapeError(
            "concat: tensors must have the same rank, got shapes "
            + ", ".join(format_shape(s) for s in known)
        )
    a = normalize_axis("concat", axis, rank)
    result: list[int | None] = []
    for i in range(rank):
        dims = [s[i] for s in known]
        if i == a:
            result.append(
                None if any(d is None for d in dims) or len(known) < len(xs) else sum(dims)
            )  # type: ignore[arg-type]
            continue
        concrete = {d for d in dims if d is not None}
        if len(concrete) > 1:
            raise ShapeError(
                f"concat: shapes {', '.join(format_shape(s) for s in known)} differ "
                f"in dimension {i} (only axis {a} may differ)"
            )
        result.append(concrete.pop() if concrete else None)
    return Spec(tuple(result), dtype)


def _concat_vjp(g: Any, ans: Any, *xs: Any, axis: int = 0) -> tuple[Any, ...]:
    # each input's gradient is its slice of g along the axis
    grads, start = [], 0
    for x in xs:
        size = x.shape[axis]
        if size is None:
            raise ShapeError("concat: the gradient needs every input's size along the axis")
        grads.append(R.getitem(g, index=_axis_index(axis, slice(start, start + size))))
        start += size
    return tuple(grads)


def _axis_index(axis: int, item: Any) -> tuple[Any, ...]:
    """An index tuple that applies ``item`` along ``axis`` (negative axes count from the end)."""
    if axis >= 0:
        return encode_index((slice(None),) * axis + (item,))
    return encode_index((Ellipsis, item) + (slice(None),) * (-axis - 1))


register(
    "concat",
    kind="index",
    arity=None,
    promote="same",
    infer=_concat_infer,
    vjp=_concat_vjp,
    kernel=lambda xp, *xs, out=None, axis=0: xp.concatenate(xs, axis=axis, out=out),
    doc="inputs joined along an existing axis; d = slices of g",
    saves=(),
)


def _stack_infer(*xs: Spec, axis: int = 0) -> Spec:
    joined = _concat_infer(
        *[Spec(None if x.shape is None else (1,) + x.shape, x.dtype) for x in xs]
    )
    if joined.shape is None:
        return Spec(None, joined.dtype)
    rank = len(joined.shape) - 1
    a = normalize_axis("stack", axis, rank + 1)
    item = joined.shape[1:]
    return Spec(item[:a] + (len(xs),) + item[a:], joined.dtype)


register(
    "stack",
    kind="index",
    arity=None,
    promote="same",
    infer=_stack_infer,
    vjp=lambda g, ans, *xs, axis=0: tuple(
        R.getitem(g, index=_axis_index(axis, i)) for i in range(len(xs))
    ),
    kernel=lambda xp, *xs, out=None, axis=0: xp.stack(xs, axis=axis, out=out),
    doc="inputs joined along a new axis; d = g indexed along that axis",
    saves=(),
)


# ---- basic indexing -------------------------------------------------------------------------


def encode_index(index: Any) -> tuple[Any, ...]:
    """A hashable form of a basic index (ints, slices, None, Ellipsis), usable as an attr."""
    if not isinstance(index, tuple):
        index = (index,)
    encoded: list[Any] = []
    for item in index:
        if isinstance(item, slice):
            encoded.append(("slice", item.start, item.stop, item.step))
        elif item is None or item is Ellipsis:
            encoded.append(item)
        elif isinstance(item, (int,)) and not isinstance(item, bool):
            encoded.append(int(item))
        elif hasattr(item, "__index__") and not hasattr(item, "shape"):
            encoded.append(int(item.__index__()))
        else:
            raise TypeError(f"basic indexing takes ints, slices, None and ..., got {item!r}")
    return tuple(encoded)


def decode_index(encoded: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(slice(*item[1:]) if isinstance(item, tuple) else item for item in encoded)


def _getitem_infer(x: Spec, index: tuple[Any, ...]) -> Spec:
    if x.shape is None:
        return Spec(None, x.dtype)
    items = decode_index(index)
    consumed = sum(1 for i in items if i is not None and i is not Ellipsis)
    if consumed > len(x.shape):
        raise ShapeError(
            f"getitem: too many indices ({consumed}) for a tensor of shape {format_shape(x.shape)}"
        )
    if Ellipsis in items:
        at = items.index(Ellipsis)
        items = items[:at] + (slice(None),) * (len(x.shape) - consumed) + items[at + 1 :]
    else:
        items = items + (slice(None),) * (len(x.shape) - consumed)
    out: list[int | None] = []
    dim = 0
    for item in items:
        if item is None:
            out.append(1)
            continue
        size = x.shape[dim]
        if isinstance(item, int):
            if size is not None and not -size <= item < size:
                raise ShapeError(
                    f"getitem: index {item} is out of bounds for dimension {dim} with size {size}"
                )
        else:
            out.append(None if size is None else len(range(*item.indices(size))))
        dim += 1
    return Spec(tuple(out), x.dtype)


register(
    "getitem",
    kind="view",
    view=True,
    infer=_getitem_infer,
    kernel=lambda xp, x, out=None, index=(): x[decode_index(index)],
    vjp=[lambda g, ans, x, index: R.unindex(g, x, index=index)],
    doc="x[index] for a basic index (a view); d = g placed back into zeros",
    saves=(),
)


def _unindex(xp: Any, g: Any, like: Any, out: Any = None, index: tuple[Any, ...] = ()) -> Any:
    if out is None:
        out = xp.zeros(like.shape, dtype=g.dtype)
    else:
        out.fill(0)
    out[decode_index(index)] = g
    return out


register(
    "unindex",
    kind="index",
    arity=2,
    shape_only=(1,),
    kernel=_unindex,
    infer=lambda g, like, index: Spec(like.shape, g.dtype),
    vjp=[lambda gg, ans, g, like, index: R.getitem(gg, index=index), None],
    doc="zeros of like's shape with g written at index",
    saves=(),
)


# ---- assignment into a basic index (PyTorch's x[index] = value, x.copy_(value)) ------------


def _index_assign(xp: Any, x: Any, value: Any, out: Any = None, index: tuple[Any, ...] = ()) -> Any:
    # out = x with out[index] = value (value broadcast to the indexed shape, cast to x's dtype)
    if out is None:
        out = x.copy()
    elif out is not x:
        xp.copyto(out, x)
    out[decode_index(index)] = value
    return out


def _index_assign_infer(x: Spec, value: Spec, index: tuple[Any, ...] = ()) -> Spec:
    target = _getitem_infer(x, index)
    result = broadcast("index_assign", value.shape, target.shape)
    if result is not None and target.shape is not None and len(result) > len(target.shape):
        raise ShapeError(
            f"index_assign: a value of shape {format_shape(value.shape)} does not "
            f"fit the indexed shape {format_shape(target.shape)}"
        )
    return Spec(x.shape, x.dtype)


register(
    "index_assign",
    kernel=_index_assign,
    infer=_index_assign_infer,
    arity=2,
    kind="index",
    inplace=True,
    vjp=[
        lambda g, ans, x, value, index: R.index_assign(g, 0.0, index=index),
        lambda g, ans, x, value, index: R.getitem(g, index=index),
    ],
    doc="x with x[index] = value; d x = g zeroed at index, d value = g[index]",
    saves=(),
)
