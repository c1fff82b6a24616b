"""More TF1 names: ``tf.sin``, ``tf.range``, ``tf.linspace``, ``tf.assign``, ``tf.to_float``...

(Not named ``compat.py``: the package attribute would hide TF's own ``tf.compat``.)

Like :mod:`.ops`, every function only maps TF1's names and arguments onto registry ops,
the runtime's composites (``runtime/composites.py``: norms, ``squared_difference``,
``reduce_all``) or the functions of :mod:`.ops`; none writes a formula of its own.

Example:
    >>> import tapeflow.static as tf
    >>> with tf.Graph().as_default():
    ...     r = tf.range(3)
    ...     print(r.dtype.name, tf.Session().run(tf.reduce_sum(r)))
    int32 3
"""

from __future__ import annotations

import builtins
from typing import Any

from ..runtime import composites, encode_index
from ..runtime import dtypes as dt
from .graph import get_default_graph, tf_dtype_of
from .ops import _axis, cast, divide, multiply
from .sources import call, convert_to_tensor
from .tensor import Tensor


def _unary(op: str, type_: str) -> Any:
    def function(x: Any, name: str | None = None) -> Tensor:
        return call(op, [x], name=name, type_=type_)

    function.__name__ = function.__qualname__ = op
    function.__doc__ = f"Elementwise {op} (TF1 op type {type_})."
    return function


sin = _unary("sin", "Sin")
cos = _unary("cos", "Cos")
log1p = _unary("log1p", "Log1p")
expm1 = _unary("expm1", "Expm1")


def squared_difference(x: Any, y: Any, name: str | None = None) -> Tensor:
    """(x - y) * (x - y), elementwise with broadcasting."""
    x = x if isinstance(x, Tensor) or isinstance(y, Tensor) else convert_to_tensor(x)
    with get_default_graph().name_scope(name or "SquaredDifference"):
        difference: Tensor = composites.squared_difference(x, y)
        return difference


def reciprocal(x: Any, name: str | None = None) -> Tensor:
    """1 / x."""
    return divide(1.0, x, name=name or "Reciprocal")


def _as_bool_reduce(composite: Any, type_: str) -> Any:
    def function(input_tensor: Any, axis: Any = None, keepdims: bool | None = None,
                 name: str | None = None, reduction_indices: Any = None,
                 keep_dims: bool | None = None) -> Tensor:
        x = convert_to_tensor(input_tensor)
        keep = bool(keepdims if keepdims is not None else keep_dims)
        with x.graph.name_scope(name or type_):
            result: Tensor = composite(x, axis=_axis(axis, reduction_indices), keepdims=keep)
            return result

    function.__name__ = function.__qualname__ = f"reduce_{type_.lower()}"
    function.__doc__ = f"Logical {type_} over ``axis`` (all axes when None)."
    return function


reduce_all = _as_bool_reduce(composites.all_true, "All")
reduce_any = _as_bool_reduce(composites.any_true, "Any")


def range(start: Any, limit: Any = None, delta: Any = 1, dtype: Any = None,  # noqa: A001
          name: str = "range") -> Tensor:
    """``start, start + delta, ...`` below ``limit`` (``tf.range(n)`` counts from 0).

    Python ints give int32 and floats float32, as in TF1.
    """
    if limit is None:
        start, limit = 0, start
    for value in (start, limit, delta):
        if isinstance(value, Tensor):
            raise TypeError(f"range: start, limit and delta must be Python numbers here (the "
                            f"length is part of the static shape), got {value}")
    target = dt.as_dtype(dtype) if dtype is not None else tf_dtype_of([start, limit, delta])
    return call("arange", [], {"start": start, "stop": limit, "step": delta, "dtype": target},
                name=name, type_="Range")


def linspace(start: Any, stop: Any, num: int, name: str | None = None) -> Tensor:
    """``num`` evenly spaced values from ``start`` to ``stop``, both included (float32)."""
    if isinstance(start, Tensor) or isinstance(stop, Tensor) or isinstance(num, Tensor):
        raise TypeError("linspace: start, stop and num must be Python numbers here (the "
                        "length is part of the static shape)")
    if isinstance(start, int) or isinstance(stop, int):
        raise TypeError("Value passed to parameter 'start' has DataType int32 not in list of "
                        "allowed values: bfloat16, float16, float32, float64")
    return call("linspace", [], {"start": float(start), "stop": float(stop), "num": int(num),
                                 "dtype": dt.float32}, name=name, type_="LinSpace")


lin_space = linspace


def assign(ref: Any, value: Any, validate_shape: Any = None, use_locking: Any = None,
           name: str | None = None) -> Tensor:
    """``ref.assign(value)``: the value lands after the run (reads see the run's start)."""
    return ref.assign(value, name=name)  # type: ignore[no-any-return]


def assign_add(ref: Any, value: Any, use_locking: Any = None, name: str | None = None) -> Tensor:
    return ref.assign_add(value, name=name)  # type: ignore[no-any-return]


def assign_sub(ref: Any, value: Any, use_locking: Any = None, name: str | None = None) -> Tensor:
    return ref.assign_sub(value, name=name)  # type: ignore[no-any-return]


def _to(dtype: dt.DType, label: str) -> Any:
    def function(x: Any, name: str = label) -> Tensor:
        return cast(x, dtype, name=name)

    function.__name__ = function.__qualname__ = label.lower().replace("to", "to_")
    function.__doc__ = f"``tf.cast(x, tf.{dtype.name})`` (TF1's deprecated shorthand)."
    return function


to_float, to_double = _to(dt.float32, "ToFloat"), _to(dt.float64, "ToDouble")
to_int32, to_int64 = _to(dt.int32, "ToInt32"), _to(dt.int64, "ToInt64")

def global_norm(t_list: Any, name: str | None = None) -> Tensor:
    """``sqrt(sum(sum(t ** 2) for t in t_list))``; None entries are skipped (TF1)."""
    tensors = [t for t in t_list if t is not None]
    graph = tensors[0].graph if tensors and isinstance(tensors[0], Tensor) else None
    with (graph or get_default_graph()).name_scope(name or "global_norm"):
        norm: Tensor = composites.global_norm(tensors)
        return norm


def clip_by_global_norm(t_list: Any, clip_norm: Any, use_norm: Any = None,
                        name: str | None = None) -> tuple[list[Any], Tensor]:
    """``(t * clip_norm / max(global_norm, clip_norm) for t in t_list), global_norm``: the
    list scaled down together when its global norm exceeds ``clip_norm`` (None entries stay
    None). TF1's form, ``clip_norm * min(1 / norm, 1 / clip_norm)``: a NaN or infinite norm
    makes every entry NaN, so a diverged step shows instead of passing silently.

    Example:
        >>> import tapeflow.static as tf
        >>> with tf.Graph().as_default():
        ...     clipped, norm = tf.clip_by_global_norm([tf.constant([3.0, 4.0])], 1.0)
        ...     print(tf.Session().run([clipped[0], norm]))
        [array([0.6, 0.8], dtype=float32), np.float32(5.0)]
    """
    items = list(t_list)
    norm = global_norm(items) if use_norm is None else use_norm
    with get_default_graph().name_scope(name or "clip_by_global_norm"):
        clip = cast(clip_norm, norm.dtype) if isinstance(clip_norm, Tensor) else \
            convert_to_tensor(clip_norm, dtype=norm.dtype)
        scale = multiply(clip, call("minimum", [reciprocal(norm), divide(1.0, clip)]))
        clipped = [None if t is None else multiply(t, cast(scale, t.dtype)) for t in items]
    return clipped, norm


def clip_by_norm(t: Any, clip_norm: Any, axes: Any = None, name: str | None = None) -> Tensor:
    """``t * clip_norm / max(||t||, clip_norm)``, the L2 norm taken over ``axes`` (all by
    default); a zero tensor stays zero."""
    with get_default_graph().name_scope(name or "clip_by_norm"):
        t = convert_to_tensor(t)
        norm = composites.l2_norm(t, axis=axes_tuple(axes), keepdims=True)
        return divide(multiply(t, clip_norm), call("maximum", [norm, clip_norm]))


def unstack(value: Any, num: int | None = None, axis: int = 0,
             name: str = "unstack") -> list[Tensor]:
    """The slices of ``value`` along ``axis``, that axis removed (TF1 ``tf.unstack``: an RNN's
    inputs one time step at a time). The axis must have a known size.

    Example:
        >>> import tapeflow.static as tf
        >>> with tf.Graph().as_default():
        ...     steps = tf.unstack(tf.zeros([2, 3, 4]), axis=1)
        >>> len(steps), steps[0].shape.as_list()
        (3, [2, 4])
    """
    value = convert_to_tensor(value)
    rank = value.shape.ndims
    if rank is None or not -rank <= axis < rank:
        raise ValueError(f"unstack: axis {axis} is out of range for {value}")
    axis %= rank
    size = value.shape.as_list()[axis] if num is None else num
    if size is None:
        raise ValueError(f"Cannot infer num from shape {value.shape}")
    if value.shape.as_list()[axis] not in (None, size):
        raise ValueError(f"unstack: num={num} does not match dimension {axis} of {value}")
    with value.graph.name_scope(name):
        return [call("getitem", [value], {"index": encode_index((slice(None),) * axis + (i,))},
                     type_="Unpack") for i in builtins.range(size)]


def reduce_variance(input_tensor: Any, axis: Any = None, keepdims: bool = False,
                    name: str | None = None) -> Tensor:
    """The population variance over ``axis`` (all axes when None)."""
    x = convert_to_tensor(input_tensor)
    with x.graph.name_scope(name or "reduce_variance"):
        variance: Tensor = composites.moments(x, axis=axes_tuple(axis), keepdims=keepdims)[1]
        return variance


def reduce_std(input_tensor: Any, axis: Any = None, keepdims: bool = False,
               name: str | None = None) -> Tensor:
    """The square root of :func:`reduce_variance`."""
    return call("sqrt", [reduce_variance(input_tensor, axis, keepdims)], name=name or
                "reduce_std", type_="Sqrt")


def axes_tuple(axes: Any) -> Any:
    """A list of axes as the tuple the registry's reductions take (None and ints as given)."""
    return tuple(int(a) for a in axes) if isinstance(axes, (list, tuple)) else axes


def disable_v2_behavior() -> None:
    """Nothing to disable: tapeflow.static is TF1 graph mode (for ``tf.compat.v1`` code)."""


disable_eager_execution = disable_v2_behavior

__all__ = ["assign", "assign_add", "assign_sub", "clip_by_global_norm", "clip_by_norm", "cos",
           "disable_eager_execution", "disable_v2_behavior", "expm1", "global_norm", "lin_space",
           "linspace", "log1p", "range", "unstack",
           "reciprocal", "reduce_all", "reduce_any", "sin", "squared_difference", "to_double",
           "to_float", "to_int32", "to_int64"]
