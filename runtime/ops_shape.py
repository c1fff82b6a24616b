"""Shape and view ops: reshape, transpose, squeeze, unsqueeze, broadcast, sum_to. View ops
are declared as views: their output shares input 0's memory, which the planner and the
storage model rely on. (Joins and indexing are in ``ops_index.py``.)"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

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
    # summing only the leading axes needs no keepdims and no reshape: the same reduction,
    # the target shape straight away. On numpy, np.add.reduce is what x.sum() runs, without
    # numpy's Python frame (_methods._sum: 0.3 us of a 1.3 us bias gradient)
    if type(x) is np.ndarray:
        summed = np.add.reduce(x, axes, None, None, not only_leading)
    elif only_leading:
        summed = x.sum(axis=axes)
    else:
        summed = x.sum(axis=axes, keepdims=True)
    if not only_leading and x.ndim != len(target):
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
