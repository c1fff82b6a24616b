"""Creation ops (full, arange, linspace) and seeded random draws."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from . import dtypes as dt
from .registry import ShapeError, Spec, register

# ---- creation ----------------------------------------------------------------------------------


def _shape_attr(op: str, shape: Sequence[int]) -> tuple[int, ...]:
    shape = tuple(int(d) for d in shape)
    if any(d < 0 for d in shape):
        raise ShapeError(f"{op}: negative dimension in shape {shape}")
    return shape


def _full(
    xp: Any, out: Any = None, shape: Sequence[int] = (), value: Any = 0.0, dtype: Any = dt.float32
) -> Any:
    if out is None:
        return xp.full(tuple(shape), value, dtype=dt.as_dtype(dtype).np)
    out.fill(value)
    return out


register(
    "full",
    kernel=_full,
    arity=0,
    kind="create",
    infer=lambda shape, value=0.0, dtype=dt.float32: Spec(
        _shape_attr("full", shape), dt.as_dtype(dtype)
    ),
    doc="a tensor of shape filled with value",
)


def _full_like(xp: Any, like: Any, out: Any = None, value: Any = 0.0, dtype: Any = None) -> Any:
    np_dtype = like.dtype if dtype is None else dt.as_dtype(dtype).np
    if out is None:
        return xp.full(like.shape, value, dtype=np_dtype)
    out.fill(value)
    return out


register(
    "full_like",
    kernel=_full_like,
    kind="create",
    shape_only=(0,),
    infer=lambda like, value=0.0, dtype=None: Spec(
        like.shape, like.dtype if dtype is None else dt.as_dtype(dtype)
    ),
    doc="a tensor of like's shape filled with value",
)


def _arange_len(start: float, stop: float, step: float) -> int:
    if step == 0:
        raise ShapeError("arange: step must not be zero")
    import math

    return max(0, math.ceil((stop - start) / step))


register(
    "arange",
    arity=0,
    kind="create",
    kernel=lambda xp, out=None, start=0, stop=1, step=1, dtype=dt.int64: xp.arange(
        start, stop, step, dtype=dt.as_dtype(dtype).np
    ),
    infer=lambda start=0, stop=1, step=1, dtype=dt.int64: Spec(
        (_arange_len(start, stop, step),), dt.as_dtype(dtype)
    ),
    doc="start, start+step, ... below stop",
)


def _linspace(xp: Any, out: Any = None, start: float = 0.0, stop: float = 1.0, num: int = 50,
              dtype: Any = dt.float32) -> Any:
    # computed in float64 and rounded once, so float32 results sit within one ulp of exact
    values = xp.linspace(start, stop, int(num), dtype=xp.float64)
    if out is None:
        return values.astype(dt.as_dtype(dtype).np)
    out[...] = values
    return out


def _linspace_len(num: Any) -> int:
    if int(num) < 0:
        raise ShapeError(f"linspace: number of steps must be non-negative, got {num}")
    return int(num)


register(
    "linspace",
    arity=0,
    kind="create",
    kernel=_linspace,
    infer=lambda start=0.0, stop=1.0, num=50, dtype=dt.float32: Spec(
        (_linspace_len(num),), dt.as_dtype(dtype)
    ),
    doc="num evenly spaced values from start to stop, both included",
)
register(
    "eye",
    arity=0,
    kind="create",
    kernel=lambda xp, out=None, n=1, m=None, dtype=dt.float32: xp.eye(
        n, m, dtype=dt.as_dtype(dtype).np
    ),
    infer=lambda n=1, m=None, dtype=dt.float32: Spec(
        (int(n), int(n if m is None else m)), dt.as_dtype(dtype)
    ),
    doc="an n x m identity matrix",
)


def _random(kind: str):
    def kernel(
        xp: Any,
        out: Any = None,
        shape: Sequence[int] = (),
        dtype: Any = dt.float32,
        a: float = 0.0,
        b: float = 1.0,
        generator: Any = None,
    ) -> Any:
        draw = getattr(generator, kind)
        values = draw(tuple(shape), a, b, dt.as_dtype(dtype))
        if out is None:
            return values
        out[...] = values
        return out

    def infer(
        shape: Sequence[int],
        dtype: Any = dt.float32,
        a: float = 0.0,
        b: float = 1.0,
        generator: Any = None,
    ) -> Spec:
        return Spec(_shape_attr(f"random_{kind}", shape), dt.as_dtype(dtype))

    return kernel, infer


def _uniform_like(xp: Any, like: Any, out: Any = None, a: float = 0.0, b: float = 1.0,
                  generator: Any = None, dtype: Any = None) -> Any:
    # uniform draws of like's shape (its data is never read): the mask of a dropout whose
    # batch size is known only when the graph runs
    values = generator.uniform(tuple(like.shape), a, b, dt.as_dtype(dtype or dt.of_array(like)))
    if out is None:
        return values
    out[...] = values
    return out


register(
    "random_uniform_like",
    kernel=_uniform_like,
    infer=lambda like, a=0.0, b=1.0, generator=None, dtype=None: Spec(
        like.shape, like.dtype if dtype is None else dt.as_dtype(dtype)),
    arity=1,
    kind="random",
    shape_only=(0,),
    doc="uniform draws in [a, b) of like's shape, from a seeded generator",
)


for _kind in ("uniform", "normal", "truncated_normal"):
    _k, _i = _random(_kind)
    register(
        f"random_{_kind}",
        kernel=_k,
        infer=_i,
        arity=0,
        kind="random",
        doc=f"random {_kind} draws (a, b = low, high or mean, std) from a seeded generator",
    )
