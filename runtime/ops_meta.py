"""``shape_of``: a tensor's shape as a 1-D integer tensor, read at run time (TF1's
``tf.shape``, for dimensions unknown when the graph is built). It has no gradient."""

from __future__ import annotations

from typing import Any

from . import dtypes as dt
from .registry import Spec, register


def _shape_of(xp: Any, x: Any, out: Any = None, dtype: dt.DType = dt.int32) -> Any:
    result = xp.asarray(x.shape, dtype=dtype.np)
    return result if out is None else (xp.copyto(out, result) or out)


register(
    "shape_of",
    kernel=_shape_of,
    infer=lambda x, dtype=dt.int32: Spec((None if x.shape is None else len(x.shape),), dtype),
    kind="index",
    shape_only=(0,),
    doc="the shape of x as a 1-D integer tensor",
)
