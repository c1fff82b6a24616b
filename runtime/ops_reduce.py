"""Reductions (sum mean max min argmax argmin), their inverse ``unreduce``, softmax, and
softmax cross-entropy against class indices."""

from __future__ import annotations

from math import prod as _prod
from typing import Any

import numpy as np

from . import dtypes as dt
from .registry import R, ShapeError, Spec, format_shape, register
from .shapes import normalize_axes, normalize_axis, reduced


def _axes(axis: Any) -> Any:
    # numpy wants a tuple (not a list) for several axes
    return tuple(axis) if isinstance(axis, list) else axis


def _reduce_infer(name: str, result: str = "same"):
    def infer(x: Spec, axis: Any = None, keepdims: bool = False) -> Spec:
        shape = reduced(name, x.shape, _axes(axis), keepdims)
        dtype = x.dtype
        if result == "float" and not dtype.is_floating:
            dtype = dt.DEFAULT_FLOAT
        elif result == "sum" and (dtype.is_bool or dtype.is_integer):
            dtype = dt.int64
        elif result == "index":
            dtype = dt.int64
        return Spec(shape, dtype)

    return infer


def _sum(xp: Any, x: Any, out: Any = None, axis: Any = None, keepdims: bool = False) -> Any:
    # integers and bools sum in int64, as in PyTorch
    dtype = None if x.dtype.kind == "f" else xp.int64
    # (the method: numpy's module-level sum is a Python wrapper around it)
    return x.sum(axis=_axes(axis), keepdims=keepdims, out=out, dtype=dtype)


def _mean(xp: Any, x: Any, out: Any = None, axis: Any = None, keepdims: bool = False) -> Any:
    axis = _axes(axis)
    dtype = x.dtype
    if xp is not np or dtype.kind != "f" or dtype.itemsize not in (4, 8) or x.size == 0:
        return xp.mean(x, axis=axis, keepdims=keepdims, out=out)
    # np.mean's own steps for a float32/float64 x without its Python wrapper (5 µs of its
    # 7 on 8 floats): the sum, then a division by the count in float64 (np.mean divides by
    # an intp scalar, which promotes to float64), rounded back to x's dtype
    total = np.add.reduce(x, axis, None, out, keepdims)  # (which checks every axis)
    count = x.size if axis is None else _prod(
        [x.shape[a] for a in (axis if type(axis) is tuple else (axis,))])
    if type(total) is np.ndarray:
        return np.true_divide(total, np.intp(count), out=total, casting="unsafe")
    # a scalar: float() is exact for float32 and float64, and Python divides in float64
    # as numpy's scalar division would (0.3 against 1.8 µs)
    return total.dtype.type(float(total) / count)


def _extreme(func: str):
    def kernel(xp: Any, x: Any, out: Any = None, axis: Any = None, keepdims: bool = False) -> Any:
        if x.size == 0:
            raise ValueError(f"{func}() of an empty tensor has no identity")
        return getattr(xp, func)(x, axis=_axes(axis), keepdims=keepdims, out=out)

    return kernel


def _extreme_vjp(g: Any, ans: Any, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    # the gradient is shared evenly between the elements that attain the extreme value
    hit = R.cast(R.eq(x, R.unreduce(ans, x, axis=axis, keepdims=keepdims)), dtype=g.dtype)
    count = R.sum(hit, axis=axis, keepdims=keepdims)
    return R.mul(hit, R.unreduce(R.div(g, count), x, axis=axis, keepdims=keepdims))


register(
    "sum",
    kernel=_sum,
    infer=_reduce_infer("sum", "sum"),
    kind="reduce",
    vjp=[
        lambda g, ans, x, axis=None, keepdims=False: R.unreduce(g, x, axis=axis, keepdims=keepdims)
    ],
    saves=(),
    doc="sum over axis; d = g broadcast back",
    # for a floating x the kernel is exactly xp.add.reduce(x, axis, None, out, keepdims):
    # a compiled schedule may call that reduction without numpy's Python-level wrapper
    reduce_ufunc="add",
    reduce_kinds="f",
)
register(
    "mean",
    kernel=_mean,
    infer=_reduce_infer("mean", "float"),
    kind="reduce",
    promote="float",
    vjp=[
        lambda g, ans, x, axis=None, keepdims=False: R.unreduce(
            g, x, axis=axis, keepdims=keepdims, mean=True
        )
    ],
    saves=(),
    doc="mean over axis; d = g broadcast back / count",
    cupy="numpy's mean runs as its sum and division, without np.mean's Python wrapper",
)
register(
    "max",
    kernel=_extreme("amax"),
    infer=_reduce_infer("max"),
    kind="reduce",
    vjp=[_extreme_vjp],
    saves=("ans", "x"),
    doc="max over axis; d = g at the maxima (shared on ties)",
)
register(
    "min",
    kernel=_extreme("amin"),
    infer=_reduce_infer("min"),
    kind="reduce",
    vjp=[_extreme_vjp],
    saves=("ans", "x"),
    doc="min over axis; d = g at the minima (shared on ties)",
)


def _arg(func: str):
    def kernel(
        xp: Any, x: Any, out: Any = None, axis: int | None = None, keepdims: bool = False
    ) -> Any:
        if x.size == 0:
            raise ValueError(f"{func}() of an empty tensor")
        result = getattr(xp, func)(x, axis=axis, keepdims=keepdims)
        if out is None:
            return result.astype(xp.int64, copy=False)
        out[...] = result
        return out

    return kernel


def _arg_infer(name: str):
    def infer(x: Spec, axis: int | None = None, keepdims: bool = False) -> Spec:
        if axis is not None and not isinstance(axis, int):
            raise ShapeError(f"{name}: axis must be one int or None, got {axis!r}")
        return Spec(reduced(name, x.shape, axis, keepdims), dt.int64)

    return infer


register(
    "argmax",
    kernel=_arg("argmax"),
    infer=_arg_infer("argmax"),
    kind="reduce",
    doc="index of the max along axis (flat index when axis is None)",
)
register(
    "argmin",
    kernel=_arg("argmin"),
    infer=_arg_infer("argmin"),
    kind="reduce",
    doc="index of the min along axis (flat index when axis is None)",
)


def _unreduce(
    xp: Any,
    g: Any,
    like: Any,
    out: Any = None,
    axis: Any = None,
    keepdims: bool = False,
    mean: bool = False,
) -> Any:
    # g has the reduced shape of `like`; put the reduced axes back (size 1) and broadcast
    shape = like.shape
    if axis is None and isinstance(g, xp.ndarray) and g.ndim == 0:
        # every axis reduced (a loss's mean or sum): a 0-d g broadcasts as it is, so no
        # reshape (-1 µs of a mean's 2.9 µs gradient on 8 floats)
        count = _prod(shape)
    else:
        axes = normalize_axes("unreduce", _axes(axis), like.ndim)
        if not keepdims:
            g = xp.reshape(g, tuple(1 if i in axes else d for i, d in enumerate(shape)))
        count = _prod([shape[a] for a in axes])
    if mean:
        if out is None and g.shape != shape and isinstance(g, xp.ndarray) and g.dtype.kind == "f":
            return xp.true_divide(g, max(count, 1), out=xp.empty(shape, g.dtype))  # no copy
        if out is not None:
            # the same division as below, so a planned (out=) run is bit-identical
            xp.copyto(out, g)
            out /= max(count, 1)
            return out
        g = g / max(count, 1)
        if g.shape == like.shape and isinstance(g, xp.ndarray):
            return g  # (a new array already; a 0-d division gives a scalar, copied below)
    if out is None:
        if g.shape == like.shape:
            return xp.array(g)  # a copy, and an array even where g is a scalar
        # the broadcast copy without np.broadcast_to's Python wrapper: an empty array and
        # copyto, both C calls (the same values)
        out = xp.empty(like.shape, g.dtype)
    xp.copyto(out, g)
    return out


def _unreduce_vjp(
    gg: Any,
    ans: Any,
    g: Any,
    like: Any,
    axis: Any = None,
    keepdims: bool = False,
    mean: bool = False,
) -> Any:
    reduce = R.mean if mean else R.sum
    return reduce(gg, axis=axis, keepdims=keepdims)


register(
    "unreduce",
    kernel=_unreduce,
    arity=2,
    kind="reduce",
    shape_only=(1,),
    infer=lambda g, like, axis=None, keepdims=False, mean=False: Spec(like.shape, g.dtype),
    vjp=[_unreduce_vjp, None],
    saves=(),
    doc="g (reduced over axis) broadcast back to like's shape, / count if mean",
)


def _softmax(xp: Any, x: Any, out: Any = None, axis: int = -1) -> Any:
    # exp(x - max) / sum: the shift keeps exp from overflowing
    shifted = xp.subtract(x, xp.max(x, axis=axis, keepdims=True), out=out)
    xp.exp(shifted, out=shifted)
    shifted /= xp.sum(shifted, axis=axis, keepdims=True)
    return shifted


def _log_softmax(xp: Any, x: Any, out: Any = None, axis: int = -1) -> Any:
    # x - max - log(sum(exp(x - max)))
    shifted = xp.subtract(x, xp.max(x, axis=axis, keepdims=True), out=out)
    shifted -= xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True))
    return shifted


def _softmax_infer(x: Spec, axis: int = -1) -> Spec:
    if x.ndim is not None:
        normalize_axis("softmax", axis, x.ndim)
    return Spec(x.shape, x.dtype if x.dtype.is_floating else dt.DEFAULT_FLOAT)


register(
    "softmax",
    kernel=_softmax,
    infer=_softmax_infer,
    kind="nn",
    promote="float",
    inplace=True,
    vjp=[
        lambda g, y, x, axis=-1: (  # d = y * (g - sum(g * y))
            R.mul(y, R.sub(g, R.sum(R.mul(g, y), axis=axis, keepdims=True)))
        )
    ],
    saves=("ans",),
    doc="exp(x) / sum(exp(x)) along axis, shifted by the max",
)
register(
    "log_softmax",
    kernel=_log_softmax,
    infer=_softmax_infer,
    kind="nn",
    promote="float",
    inplace=True,
    vjp=[
        lambda g, y, x, axis=-1: (  # d = g - softmax(x) * sum(g)
            R.sub(g, R.mul(R.exp(y), R.sum(g, axis=axis, keepdims=True)))
        )
    ],
    saves=("ans",),
    doc="x - logsumexp(x) along axis",
)


# ---- softmax cross-entropy against class indices --------------------------------------------
# One op for the loss and one for its gradient (TF's SparseSoftmaxCrossEntropyWithLogits, and
# PyTorch's fused cross_entropy backward): the rule written with log_softmax, one_hot, mul, sum
# and neg took five nodes forward and eight backward. The classes are the last axis.


def _sparse_ce_infer(logits: Spec, labels: Spec) -> Spec:
    name = "sparse_softmax_cross_entropy"
    if not labels.dtype.is_integer:
        raise ShapeError(f"{name}: labels must be integer class indices, got {labels.dtype.name}")
    if not logits.dtype.is_floating:
        raise ShapeError(f"{name}: logits must be floating point, got {logits.dtype.name}")
    if logits.shape is None:
        return Spec(labels.shape, logits.dtype)
    if not logits.shape:
        raise ShapeError(f"{name}: logits need a class axis, got shape ()")
    if labels.shape is not None and (
            len(labels.shape) != len(logits.shape) - 1
            or any(a is not None and b is not None and a != b
                   for a, b in zip(labels.shape, logits.shape[:-1], strict=True))):
        raise ShapeError(f"{name}: labels of shape {format_shape(labels.shape)} do not fit logits "
                         f"of shape {format_shape(logits.shape)} (labels have the logits' shape "
                         "without its last, class axis)")
    return Spec(logits.shape[:-1], logits.dtype)


def _check_labels(xp: Any, labels: Any, classes: int) -> None:
    if xp is not np:
        return  # the check reads the labels on the host: on cupy see _nan_for_bad_labels
    if labels.size and (int(labels.min()) < 0 or int(labels.max()) >= classes):
        bad = int(labels.min()) if int(labels.min()) < 0 else int(labels.max())
        raise ValueError(f"Received a label value of {bad} which is outside the valid range of "
                         f"[0, {classes})")


def _nan_for_bad_labels(xp: Any, labels: Any, classes: int, result: Any) -> Any:
    # on cupy (as TF1 on a GPU): no host sync, so a CUDA graph can capture the step; a row
    # whose label is out of range gets NaN (cupy's fancy indexing wraps, never faults)
    bad = (labels < 0) | (labels >= classes)
    xp.copyto(result, xp.nan, where=bad if result.ndim == labels.ndim else bad[..., None])
    return result


def _sparse_ce(xp: Any, logits: Any, labels: Any, out: Any = None) -> Any:
    # logsumexp(x) - x[label] per row: exactly -sum(one_hot * log_softmax(x)), one pass fewer
    classes = logits.shape[-1]
    _check_labels(xp, labels, classes)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_norm = xp.log(xp.exp(shifted).sum(axis=-1))
    picked = shifted.reshape(-1, classes)[_rows(xp, labels), labels.reshape(-1)]
    result = xp.subtract(log_norm, picked.reshape(labels.shape), out=out)
    return result if xp is np else _nan_for_bad_labels(xp, labels, classes, result)


def _rows(xp: Any, labels: Any) -> Any:
    # row numbers for fancy indexing: cheaper than take_along_axis's Python-level wrapper
    return xp.arange(labels.size)


def _sparse_ce_grad(xp: Any, g: Any, logits: Any, labels: Any, out: Any = None) -> Any:
    # g (softmax(x) - one_hot(label)) per row (a training step may run this without the loss)
    classes = logits.shape[-1]
    _check_labels(xp, labels, classes)
    probs = xp.subtract(logits, logits.max(axis=-1, keepdims=True), out=out)
    xp.exp(probs, out=probs)
    probs /= probs.sum(axis=-1, keepdims=True)
    probs.reshape(-1, classes)[_rows(xp, labels), labels.reshape(-1)] -= 1
    probs *= xp.asarray(g)[..., None]
    return probs if xp is np else _nan_for_bad_labels(xp, labels, classes, probs)


def _sparse_ce_grad_infer(g: Spec, logits: Spec, labels: Spec) -> Spec:
    _sparse_ce_infer(logits, labels)
    return Spec(logits.shape, logits.dtype)


def _hessian_times(v: Any, logits: Any) -> Any:
    # (diag(p) - p p^T) v per row, p = softmax(logits): the curvature of the loss
    p = R.softmax(logits, axis=-1)
    pv = R.mul(p, v)
    return R.sub(pv, R.mul(p, R.sum(pv, axis=-1, keepdims=True)))


register(
    "sparse_softmax_cross_entropy",
    kernel=_sparse_ce,
    infer=_sparse_ce_infer,
    arity=2,
    kind="nn",
    vjp=[lambda g, ans, logits, labels: R.sparse_softmax_cross_entropy_grad(g, logits, labels),
         None],
    saves=("logits", "labels"),
    cupy="labels are not checked on the host (a sync); an out-of-range label gives NaN",
    doc="logsumexp(x) - x[label] along the last axis; d = g (softmax(x) - one_hot(label))",
)
register(
    "sparse_softmax_cross_entropy_grad",
    kernel=_sparse_ce_grad,
    infer=_sparse_ce_grad_infer,
    arity=3,
    kind="nn",
    vjp=[
        lambda gg, ans, g, logits, labels: R.sum(  # d/dg: the gradient for g = 1, times gg
            R.mul(gg, R.sparse_softmax_cross_entropy_grad(R.full_like(g, value=1.0), logits,
                                                          labels)), axis=-1),
        lambda gg, ans, g, logits, labels: _hessian_times(
            R.mul(gg, R.unsqueeze(g, axis=-1)), logits),
        None,
    ],
    saves=[("logits", "labels"), ("g", "logits"), ()],
    cupy="labels are not checked on the host (a sync); an out-of-range label gives NaN rows",
    doc="g (softmax(x) - one_hot(label)) along the last axis: the gradient of "
        "sparse_softmax_cross_entropy",
)
