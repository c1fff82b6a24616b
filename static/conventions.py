"""TF1's conventions for showing a graph: op type names, shapes in error text, the dtype of
Python data (and data as an array of it), and the user's source line that made a node.

Example:
    >>> type_name("matmul"), type_name("softmax_cross_entropy"), format_tf_shape((None, 3))
    ('MatMul', 'SoftmaxCrossEntropy', '[?,3]')
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any

import numpy as np

from ..runtime import dtypes as dt
from ..runtime.registry import Shape
from .tensor import Operation

#: TF1 type names for registry ops whose CamelCase name differs from TF's.
TF_TYPES = {
    "add": "Add", "div": "RealDiv", "matmul": "MatMul", "eq": "Equal", "ne": "NotEqual",
    "lt": "Less", "le": "LessEqual", "gt": "Greater", "ge": "GreaterEqual", "argmax": "ArgMax",
    "argmin": "ArgMin", "log_softmax": "LogSoftmax", "concat": "ConcatV2", "stack": "Pack",
    "take": "GatherV2", "getitem": "StridedSlice", "one_hot": "OneHot", "clamp": "ClipByValue",
    "where": "Select", "full": "Fill", "unsqueeze": "ExpandDims", "random_normal":
    "RandomStandardNormal", "random_truncated_normal": "TruncatedNormal",
}

_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_LIBRARY_DIRS = tuple(os.path.join(_PACKAGE_ROOT, d) + os.sep for d in
                      ("runtime", "graphs", "static", "dynamic", "visualize", "compare"))
_CONTEXTLIB = os.path.dirname(contextlib.__file__) + os.sep + "contextlib"


def user_site() -> str:
    """``file:line`` of the first stack frame outside tapeflow: the user's line."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith(_LIBRARY_DIRS) and not filename.startswith(_CONTEXTLIB):
            return f"{filename}:{frame.f_lineno}"
        frame = frame.f_back  # type: ignore[assignment]
    return ""


def type_name(op_name: str) -> str:
    """The TF1 op type shown for a registry op (``matmul`` -> ``MatMul``)."""
    return TF_TYPES.get(op_name) or "".join(p.capitalize() for p in op_name.split("_"))


def tf_dtype_of(value: Any) -> dt.DType:
    """TF1's dtype for data: numpy keeps its dtype; Python floats are float32, ints int32."""
    if isinstance(value, (np.ndarray, np.generic)):
        return dt.as_dtype(value.dtype)
    kind = np.asarray(value).dtype.kind
    if kind == "f":
        return dt.float32
    if kind in "iu":
        return dt.int32
    if kind == "b":
        return dt.bool_
    raise TypeError(f"cannot convert {value!r} to a tensor: unsupported data type")


def format_tf_shape(shape: Shape) -> str:
    """A shape as TF1's error messages write it: ``[?,3]``."""
    if shape is None:
        return "<unknown>"
    return "[" + ",".join("?" if d is None else str(d) for d in shape) + "]"


def convert_value(value: Any, dtype: dt.DType | None) -> np.ndarray:
    """Data (number, list, array) as an array of ``dtype``, or of TF1's dtype for it.

    A value of a higher category than ``dtype`` (2.5 next to an int32 tensor) takes the
    runtime's promotion instead of being truncated.

    Example:
        >>> convert_value(2.5, dt.int32).dtype, convert_value([1, 2], None).dtype
        (dtype('float32'), dtype('int32'))
    """
    from .graph import Graph  # (graph.py imports this module)

    if isinstance(value, (Operation, Graph)):
        raise TypeError(f"cannot use {value!r} as a tensor value")
    natural = tf_dtype_of(value)
    if dtype is None or natural.category > dtype.category:
        target = natural if dtype is None else dt.promote(dtype, natural)
    else:
        target = dtype
    return np.asarray(value, dtype=target.np)
