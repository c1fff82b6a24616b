"""Linear algebra, gathers (embedding lookup), one-hot and boolean masks."""

from __future__ import annotations

from typing import Any

from . import dtypes as dt
from . import transposes
from .blas import product
from .registry import R, ShapeError, Spec, format_shape, register
from .shapes import broadcast, normalize_axis

# ---- matmul ------------------------------------------------------------------------------------


# A backward sweep once copied a right operand read transposed by many matmuls into row-major
# layout (the backward of an unrolled RNN reads w_hh^T once per step), through a module-global
# switch that this kernel read. Two overlapping sweeps in two threads then reinstalled a stale
# copy for good (issue 18), so the kernel reads no global state. The copy is back in the
# gradient rule only, per thread and per dynamic backward, and only where both layouts give
# the same bits (runtime/transposes.py); outside a dynamic backward the rule is as before.
# The static compiler picks layouts with a pass instead (static/compiler/passes.py).


# ``provider`` is no attribute of the op: the caller (the static executor, the eager dispatch)
# passes the GEMM library it chose for this product (runtime/blas.py); None is numpy's matmul.


def _matmul(
    xp: Any, a: Any, b: Any, out: Any = None, transpose_a: bool = False, transpose_b: bool = False,
    provider: str | None = None,
) -> Any:
    if transpose_a:
        a = a.swapaxes(-1, -2)  # the method: numpy and cupy both have it, and it skips a wrapper
    if transpose_b:
        b = b.swapaxes(-1, -2)
    if provider is not None and provider != "numpy":
        result = product(a, b, out, provider)  # None: not a case that library takes
        if result is not None:
            return result
    return xp.matmul(a, b, out=out)


def _matmul_infer(a: Spec, b: Spec, transpose_a: bool = False, transpose_b: bool = False,
                  provider: str | None = None) -> Spec:
    dtype = dt.promote(a.dtype, b.dtype)
    if a.shape is None or b.shape is None:
        return Spec(None, dtype)
    if len(a.shape) < 2 or len(b.shape) < 2:
        raise ShapeError(
            f"matmul: both operands need at least 2 dimensions, got shapes "
            f"{format_shape(a.shape)} and {format_shape(b.shape)}"
        )
    m, k = (a.shape[-1], a.shape[-2]) if transpose_a else (a.shape[-2], a.shape[-1])
    k2, n = (b.shape[-1], b.shape[-2]) if transpose_b else (b.shape[-2], b.shape[-1])
    if k is not None and k2 is not None and k != k2:
        raise ShapeError(
            f"matmul: inner dimensions differ: shapes {format_shape(a.shape)} and "
            f"{format_shape(b.shape)} (transpose_a={transpose_a}, "
            f"transpose_b={transpose_b}) give {k} vs {k2}"
        )
    batch = broadcast("matmul", a.shape[:-2], b.shape[:-2])
    return Spec(tuple(batch or ()) + (m, n), dtype)


def _matmul_grad_a(
    g: Any, ans: Any, a: Any, b: Any, transpose_a: bool = False, transpose_b: bool = False
) -> Any:
    # C = op(A) op(B): dA = g B^T, stored transposed when A was
    if transpose_a:
        return R.matmul(b, g, transpose_a=transpose_b, transpose_b=True)
    if not transpose_b:  # a row-major B^T this backward keeps, where the bits agree
        b_t = transposes.transposed(g, b)
        if b_t is not None:
            return R.matmul(g, b_t)
    return R.matmul(g, b, transpose_b=not transpose_b)


def _matmul_grad_b(
    g: Any, ans: Any, a: Any, b: Any, transpose_a: bool = False, transpose_b: bool = False
) -> Any:
    # dB = A^T g, stored transposed when B was
    if transpose_b:
        return R.matmul(g, a, transpose_a=True, transpose_b=transpose_a)
    return R.matmul(a, g, transpose_a=not transpose_a)


register(
    "matmul",
    kernel=_matmul,
    infer=_matmul_infer,
    arity=2,
    kind="linalg",
    promote="same",
    vjp=[_matmul_grad_a, _matmul_grad_b],
    doc="op(a) @ op(b), op = transpose when asked; batched over leading dims",
    # without transposes the kernel is exactly xp.matmul: a hot loop may call it directly
    ufunc="matmul",
    ufunc_unless=("transpose_a", "transpose_b"),
    gemm=True,
    saves=[("b",), ("a",)],
)


# ---- gathers --------------------------------------------------------------------------------


def _take_infer(x: Spec, indices: Spec, axis: int = 0) -> Spec:
    if not indices.dtype.is_integer:
        raise ShapeError(f"take: indices must be integers, got {indices.dtype.name}")
    if x.shape is None or indices.shape is None:
        return Spec(None, x.dtype)
    a = normalize_axis("take", axis, len(x.shape))
    return Spec(x.shape[:a] + indices.shape + x.shape[a + 1 :], x.dtype)


def _take(xp: Any, x: Any, indices: Any, out: Any = None, axis: int = 0) -> Any:
    size = x.shape[axis]
    if indices.ndim == 0:  # one row (a loop reading step t): a copy, no min/max reductions
        i = int(indices)
        if not -size <= i < size:
            raise IndexError(f"take: index out of range for dimension {axis} with size {size} "
                             f"(indices span {i}..{i})")
        row = x[(slice(None),) * (axis % x.ndim) + (i,)]
        if out is None:
            return row.copy()
        xp.copyto(out, row)
        return out
    if indices.size and (int(indices.min()) < -size or int(indices.max()) >= size):
        raise IndexError(
            f"take: index out of range for dimension {axis} with size {size} "
            f"(indices span {int(indices.min())}..{int(indices.max())})"
        )
    return xp.take(x, indices, axis=axis, out=out)


def _scatter_add(xp: Any, g: Any, indices: Any, like: Any, out: Any = None, axis: int = 0) -> Any:
    # zeros of like's shape; each gathered row's gradient is added back where it came from
    if out is None:
        out = xp.zeros(like.shape, dtype=g.dtype)
    else:
        out.fill(0)
    a = axis % like.ndim
    if a == 0 and out.size and out.flags.c_contiguous:
        # rows of a C-ordered array, as an embedding's gradient: add.at on the flat element
        # indices (row * width + column) runs numpy's 1-D fast path, 3-4x the 2-D form's
        # speed on an epoch's lookups; the same additions in the same order, so the same
        # bits. (A flat index out of range would name the flat size: the rows are checked.)
        size = out.shape[0]
        if indices.size and (int(indices.min()) < -size or int(indices.max()) >= size):
            raise IndexError(f"scatter_add: index out of range for dimension 0 with size "
                             f"{size} (indices span {int(indices.min())}..{int(indices.max())})")
        rows = indices.reshape(-1).astype(xp.intp, copy=False) % size
        if rows.size <= size:  # (no more indices than rows: maybe each row once, as a loop's)
            ordered = xp.sort(rows)
            if bool((ordered[1:] != ordered[:-1]).all()):  # 0 + g, one row each: same bits
                out[rows] += g.reshape(rows.size, *out.shape[1:])
                return out
        width = out.size // size
        flat = (rows.reshape(-1, 1) * width + xp.arange(width)).reshape(-1)
        xp.add.at(out.reshape(-1), flat, g.reshape(-1))
        return out
    moved = xp.moveaxis(out, a, 0)
    grads = xp.moveaxis(g, tuple(range(a, a + indices.ndim)), tuple(range(indices.ndim)))
    xp.add.at(moved, indices, grads)
    return out


register(
    "take",
    kernel=_take,
    infer=_take_infer,
    arity=2,
    kind="index",
    vjp=[lambda g, ans, x, idx, axis=0: R.scatter_add(g, idx, x, axis=axis), None],
    doc="x gathered at integer indices along axis (embedding lookup); d = scatter-add",
    saves=("idx",),
)
register(
    "scatter_add",
    kernel=_scatter_add,
    arity=3,
    kind="index",
    shape_only=(2,),
    infer=lambda g, idx, like, axis=0: Spec(like.shape, g.dtype),
    vjp=[lambda gg, ans, g, idx, like, axis=0: R.take(gg, idx, axis=axis), None, None],
    doc="zeros of like's shape with g added at indices along axis",
    saves=("idx",),
)


def _one_hot(
    xp: Any, indices: Any, out: Any = None, depth: int = 2, dtype: Any = dt.float32
) -> Any:
    np_dtype = dt.as_dtype(dtype).np
    if out is None:
        out = xp.zeros(indices.shape + (depth,), dtype=np_dtype)
    else:
        out.fill(0)
    flat = out.reshape(-1, depth)
    valid = (indices >= 0) & (indices < depth)  # TF1: an out-of-range index gives a zero row
    rows = xp.arange(flat.shape[0])[valid.reshape(-1)]
    flat[rows, indices.reshape(-1)[valid.reshape(-1)]] = 1
    return out


register(
    "one_hot",
    kernel=_one_hot,
    kind="index",
    infer=lambda idx, depth, dtype=dt.float32: Spec(
        None if idx.shape is None else idx.shape + (int(depth),), dt.as_dtype(dtype)
    ),
    doc="one-hot rows of length depth for integer indices",
)


# ---- boolean masks (data-dependent shapes) ------------------------------------------------


def _mask_infer(x: Spec, mask: Spec) -> Spec:
    if not mask.dtype.is_bool:
        raise ShapeError(f"mask_select: the mask must be bool, got {mask.dtype.name}")
    if x.shape is None or mask.shape is None:
        return Spec(None, x.dtype)
    return Spec((None,) + x.shape[len(mask.shape) :], x.dtype)


def _mask_scatter(xp: Any, g: Any, mask: Any, like: Any, out: Any = None) -> Any:
    if out is None:
        out = xp.zeros(like.shape, dtype=g.dtype)
    else:
        out.fill(0)
    out[mask] = g
    return out


register(
    "mask_select",
    kernel=lambda xp, x, mask, out=None: x[mask],
    infer=_mask_infer,
    arity=2,
    kind="index",
    vjp=[lambda g, ans, x, mask: R.mask_scatter(g, mask, x), None],
    doc="the elements of x where mask is true (a copy); d = g scattered back",
    saves=("mask",),
)
register(
    "mask_scatter",
    kernel=_mask_scatter,
    arity=3,
    kind="index",
    shape_only=(2,),
    infer=lambda g, mask, like: Spec(like.shape, g.dtype),
    vjp=[lambda gg, ans, g, mask, like: R.mask_select(gg, mask), None, None],
    doc="zeros of like's shape with g written where mask is true",
    saves=("mask",),
)
