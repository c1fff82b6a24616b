"""Shape and view ops: reshape, transpose, squeeze, unsqueeze, broadcast, sum_to,
concat, stack, basic indexing. View ops are declared as views: their output shares
input 0's memory, which the planner and the storage model rely on."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from . import dtypes as dt
from .registry import R, ShapeError, Spec, format_shape, register
from .shapes import broadcast, normalize_axes, normalize_axis, reshaped

# ---- reshape ------------------------------------------------------------------------


def _reshape(xp: Any, x: Any, out: Any = None, shape: Sequence[int] = ()) -> Any:
    return xp.reshape(x, tuple(shape))


register(
    "reshape",
    kernel=_reshape,
    kind="view",
    view=True,
    infer=lambda x, shape: Spec(reshaped("reshape", x.shape, shape), x.dtype),
    vjp=[lambda g, ans, x, shape: R.reshape_like(g, x)],
    doc="x with a new shape (one -1 inferred); d = g reshaped back",
    # the kernel is exactly x.reshape(shape): a compiled schedule may call the method
    method="reshape",
    saves=(),
)


register(
    "reshape_like",
    kernel=lambda xp, x, like, out=None: xp.reshape(x, like.shape),
    kind="view",
    view=True,
    arity=2,
    shape_only=(1,),
    infer=lambda x, like: Spec(like.shape, x.dtype),
    vjp=[lambda g, ans, x, like: R.reshape_like(g, x), None],
    doc="x reshaped to like's shape",
    saves=(),
)


# ---- transpose / permute --------------------------------------------------------------


def _perm(axes: Sequence[int] | None, ndim: int) -> tuple[int, ...]:
    if axes is None:
        return tuple(reversed(range(ndim)))
    perm = tuple(normalize_axis("transpose", a, ndim) for a in axes)
    if sorted(perm) != list(range(ndim)):
        raise ShapeError(f"transpose: axes {tuple(axes)} are not a permutation of {ndim} dims")
    return perm


def _transpose_infer(x: Spec, axes: Sequence[int] | None = None) -> Spec:
    if x.shape is None:
        return Spec(None, x.dtype)
    if axes is not None and len(axes) != len(x.shape):
        raise ShapeError(
            f"transpose: axes {tuple(axes)} do not match a tensor of shape {format_shape(x.shape)}"
        )
    return Spec(tuple(x.shape[a] for a in _perm(axes, len(x.shape))), x.dtype)


def _transpose_vjp(g: Any, ans: Any, x: Any, axes: Sequence[int] | None = None) -> Any:
    if axes is None:
        return R.transpose(g)
    inverse = [0] * len(axes)
    for i, a in enumerate(axes):
        inverse[a % len(axes)] = i
    return R.transpose(g, axes=tuple(inverse))


register(
    "transpose",
    kind="view",
    view=True,
    infer=_transpose_infer,
    vjp=[_transpose_vjp],
    kernel=lambda xp, x, out=None, axes=None: xp.transpose(
        x, None if axes is None else tuple(axes)
    ),
    doc="x with its axes permuted (reversed when axes is None); d = g permuted back",
    # the kernel is exactly x.transpose(axes): a compiled schedule may call the method
    method="transpose",
    saves=(),
)


# ---- squeeze / unsqueeze -------------------------------------------------------------------


def _squeeze_infer(x: Spec, axis: Any = None) -> Spec:
    if x.shape is None:
        return Spec(None, x.dtype)
    if axis is None:
        if any(d is None for d in x.shape):
            raise ShapeError(
                f"squeeze: cannot squeeze every size-1 axis of shape "
                f"{format_shape(x.shape)} with unknown dims; give axis"
            )
        return Spec(tuple(d for d in x.shape if d != 1), x.dtype)
    axes = normalize_axes("squeeze", axis, len(x.shape))
    for a in axes:
        if x.shape[a] not in (1, None):
            raise ShapeError(
                f"squeeze: axis {a} of shape {format_shape(x.shape)} has size {x.shape[a]}, not 1"
            )
    return Spec(tuple(d for i, d in enumerate(x.shape) if i not in axes), x.dtype)


def _squeeze(xp: Any, x: Any, out: Any = None, axis: Any = None) -> Any:
    return xp.squeeze(x, axis=tuple(axis) if isinstance(axis, list) else axis)


register(
    "squeeze",
    kernel=_squeeze,
    kind="view",
    view=True,
    infer=_squeeze_infer,
    vjp=[lambda g, ans, x, axis=None: R.reshape_like(g, x)],
    doc="x without size-1 axes; d = g reshaped back",
    saves=(),
)


def _unsqueeze_infer(x: Spec, axis: int) -> Spec:
    if x.shape is None:
        return Spec(None, x.dtype)
    a = normalize_axis("unsqueeze", axis, len(x.shape) + 1)
    return Spec(x.shape[:a] + (1,) + x.shape[a:], x.dtype)


register(
    "unsqueeze",
    kind="view",
    view=True,
    infer=_unsqueeze_infer,
    kernel=lambda xp, x, out=None, axis=0: xp.expand_dims(x, axis),
    vjp=[lambda g, ans, x, axis: R.reshape_like(g, x)],
    doc="x with a new size-1 axis; d = g reshaped back",
    saves=(),
)


# ---- broadcasting and its inverse ---------------------------------------------------------


def _broadcast_to_infer(x: Spec, shape: Sequence[int]) -> Spec:
    target = tuple(shape)
    result = broadcast("broadcast_to", x.shape, target)
    # an unknown input dim (None) may turn out to fit: the kernel checks it at run time
    if result is not None and (
        len(result) != len(target)
        or any(r is not None and r != t for r, t in zip(result, target, strict=True))
    ):
        raise ShapeError(
            f"broadcast_to: cannot broadcast shape {format_shape(x.shape)} "
            f"to {format_shape(target)}"
        )
    return Spec(target, x.dtype)


register(
    "broadcast_to",
    kind="view",
    view=True,
    infer=_broadcast_to_infer,
    kernel=lambda xp, x, out=None, shape=(): xp.broadcast_to(x, tuple(shape)),
    vjp=[lambda g, ans, x, shape: R.sum_to(g, x)],
    doc="x broadcast to shape (a read-only view); d = g summed back",
    saves=(),
)
register(
    "broadcast_like",
    kind="view",
    view=True,
    arity=2,
    shape_only=(1,),
    infer=lambda x, like: Spec(broadcast("broadcast_like", x.shape, like.shape), x.dtype),
    kernel=lambda xp, x, like, out=None: xp.broadcast_to(x, like.shape),
    vjp=[lambda g, ans, x, like: R.sum_to(g, x), None],
    doc="x broadcast to like's shape",
    saves=(),
)


#: (x's shape, the target shape) -> (the axes to sum, whether they are exactly the leading
#: extra ones): sum_to runs for every broadcast gradient of an eager backward, so its plan
#: is worked out once per pair of shapes
_SUM_TO_PLANS: dict[tuple[Any, Any], tuple[tuple[int, ...], bool]] = {}


def _sum_to_plan(shape: Any, target: Any) -> tuple[tuple[int, ...], bool]:
    key = (shape, target)
    plan = _SUM_TO_PLANS.get(key)
    if plan is None:
        lead = len(shape) - len(target)
        axes = tuple(range(lead)) + tuple(
            lead + i for i, d in enumerate(target) if d == 1 and shape[lead + i] != 1
        )
        if len(_SUM_TO_PLANS) >= 4096:  # many distinct shapes (variable batches): start over
            _SUM_TO_PLANS.clear()
        # (a 0-d target keeps the keepdims form: numpy would hand back a scalar, not an array)
        plan = _SUM_TO_PLANS[key] = (axes, len(axes) == lead and len(target) > 0)
    return plan


def _sum_to(xp: Any, x: Any, like: Any, out: Any = None) -> Any:
    # undo numpy broadcasting: sum the leading extra axes, then the axes that were 1
    target = like.shape
    axes, only_leading = _sum_to_plan(x.shape, target)
    if not axes:
        if out is None:
            # a copy, never x itself: sum_to is not a view, so a memory plan may reuse x's
            # buffer once this op has run (a data-dependent `like` runs it without out=)
            return x.copy()
        xp.copyto(out, x)
        return out
    # (the method skips numpy's Python wrapper; summing only the leading axes needs no
    # keepdims and no reshape: the same reduction, the target shape straight away)
    if only_leading:
        summed = x.sum(axis=axes)
    else:
        summed = x.sum(axis=axes, keepdims=True)
        if x.ndim != len(target):
            summed = summed.reshape(target)
    if out is None:
        return summed
    xp.copyto(out, summed)
    return out


register(
    "sum_to",
    kernel=_sum_to,
    kind="reduce",
    arity=2,
    shape_only=(1,),
    infer=lambda x, like: Spec(like.shape, x.dtype),
    vjp=[lambda g, ans, x, like: R.broadcast_like(g, x), None],
    doc="x summed down to like's shape (undoes broadcasting)",
    saves=(),
)


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
