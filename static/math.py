"""``tf.math``: the TF1 (1.13+) spellings of the math ops, the same functions as ``tf.*``.

Each name is the very function ``tf.<name>`` (or ``tf.nn.<name>``) is, so
``tf.math.exp is tf.exp``; only ``reduce_std`` and ``reduce_variance``, which TF1 spells
under ``tf.math`` alone, live here only.

Example:
    >>> import tapeflow.static as tf
    >>> tf.math.reduce_sum is tf.reduce_sum
    True
"""

from __future__ import annotations

from .compat_ops import (
    cos,
    expm1,
    log1p,
    reciprocal,
    reduce_all,
    reduce_any,
    reduce_std,
    reduce_variance,
    sin,
    squared_difference,
)
from .nn import log_sigmoid, log_softmax, softmax, softplus, softsign
from .ops import (
    abs,
    add,
    add_n,
    argmax,
    argmin,
    divide,
    equal,
    exp,
    greater,
    greater_equal,
    less,
    less_equal,
    log,
    logical_and,
    logical_not,
    logical_or,
    maximum,
    minimum,
    multiply,
    negative,
    not_equal,
    pow,
    reduce_max,
    reduce_mean,
    reduce_min,
    reduce_sum,
    sigmoid,
    sign,
    sqrt,
    square,
    subtract,
    tanh,
    truediv,
)

__all__ = [
    "abs", "add", "add_n", "argmax", "argmin", "cos", "divide", "equal", "exp", "expm1",
    "greater", "greater_equal", "less", "less_equal", "log", "log1p", "log_softmax",
    "logical_and", "logical_not", "logical_or", "maximum", "minimum", "multiply", "negative",
    "not_equal", "pow",
    "reciprocal", "reduce_all", "reduce_any", "reduce_max", "reduce_mean", "reduce_min",
    "reduce_std", "reduce_sum", "reduce_variance", "sigmoid", "sign", "sin", "softmax", "sqrt",
    "square", "squared_difference", "subtract", "tanh", "truediv",
]
__all__ += ["log_sigmoid", "softplus", "softsign"]


def __getattr__(name: str) -> object:
    """``tf.math.<name>`` that tapeflow lacks: an error naming the closest supported names."""
    from .unsupported import miss

    raise miss("tf.math", name)
