"""The TF1 op functions (``tf.add``, ``tf.matmul``, ``tf.reduce_mean``...) and Tensor operators.

Each function only maps TF1's names and arguments onto registry ops; the math lives in the
runtime registry (one definition per op).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..runtime import composites, encode_index
from ..runtime import dtypes as dt
from .graph import get_default_graph, graph_of
from .sources import call, constant, shape_dim
from .tensor import Operation, Tensor, TensorShape

# ---- elementwise math ---------------------------------------------------------------------

def _binary(op: str, type_: str) -> Callable[..., Tensor]:
    def function(x: Any, y: Any, name: str | None = None) -> Tensor:
        return call(op, [x, y], name=name, type_=type_)

    function.__name__ = type_.lower()
    function.__doc__ = f"Elementwise {op} with numpy broadcasting (TF1 op type {type_})."
    return function


def _unary(op: str, type_: str) -> Callable[..., Tensor]:
    def function(x: Any, name: str | None = None) -> Tensor:
        return call(op, [x], name=name, type_=type_)

    function.__name__ = type_.lower()
    function.__doc__ = f"Elementwise {op} (TF1 op type {type_})."
    return function


add = _binary("add", "Add")
subtract = _binary("sub", "Sub")
multiply = _binary("mul", "Mul")
divide = _binary("div", "RealDiv")
truediv = divide
pow = _binary("pow", "Pow")  # noqa: A001 - TF1's name
maximum = _binary("maximum", "Maximum")
minimum = _binary("minimum", "Minimum")
equal = _binary("eq", "Equal")
not_equal = _binary("ne", "NotEqual")
less = _binary("lt", "Less")
less_equal = _binary("le", "LessEqual")
greater = _binary("gt", "Greater")
greater_equal = _binary("ge", "GreaterEqual")
logical_and = _binary("logical_and", "LogicalAnd")
logical_or = _binary("logical_or", "LogicalOr")
logical_not = _unary("logical_not", "LogicalNot")
negative = _unary("neg", "Neg")
sqrt = _unary("sqrt", "Sqrt")
exp = _unary("exp", "Exp")
log = _unary("log", "Log")
abs = _unary("abs", "Abs")  # noqa: A001 - TF1's name
sign = _unary("sign", "Sign")
sigmoid = _unary("sigmoid", "Sigmoid")
tanh = _unary("tanh", "Tanh")
identity = _unary("identity", "Identity")
stop_gradient = _unary("stop_gradient", "StopGradient")


def square(x: Any, name: str | None = None) -> Tensor:
    """x * x, one node of type Square."""
    return call("mul", [x, x], name=name, type_="Square")


def add_n(inputs: Sequence[Any], name: str | None = None) -> Tensor:
    """The sum of a list of tensors of one shape."""
    if not inputs:
        raise ValueError("add_n: inputs must be a non-empty list of tensors")
    if len(inputs) == 1:
        return identity(inputs[0], name=name)
    total: Tensor = inputs[0]
    for i, x in enumerate(inputs[1:], start=2):
        total = call("add", [total, x], name=name if i == len(inputs) else None, type_="AddN")
    return total


def matmul(a: Any, b: Any, transpose_a: bool = False, transpose_b: bool = False,
           name: str | None = None) -> Tensor:
    """op(a) @ op(b); shape errors name the op and both shapes at this line.

    Example:
        >>> import tapeflow.static as tf
        >>> with tf.Graph().as_default():
        ...     a = tf.placeholder("float32", [None, 3])
        ...     print(tf.matmul(a, tf.ones([3, 5])).shape)
        (?, 5)
    """
    return call("matmul", [a, b], {"transpose_a": transpose_a, "transpose_b": transpose_b},
                name=name, type_="MatMul")


def cast(x: Any, dtype: Any, name: str | None = None) -> Tensor:
    target = dt.as_dtype(dtype)
    if isinstance(x, Tensor) and x.dtype is target:
        return x
    return call("cast", [x], {"dtype": target}, name=name, type_="Cast")


def clip_by_value(t: Any, clip_value_min: Any, clip_value_max: Any,
                  name: str | None = None) -> Tensor:
    """min(max(t, lo), hi); Python bounds become attrs, tensor bounds maximum/minimum ops."""
    if isinstance(clip_value_min, Tensor) or isinstance(clip_value_max, Tensor):
        return minimum(maximum(t, clip_value_min), clip_value_max, name=name)
    return call("clamp", [t], {"min": clip_value_min, "max": clip_value_max}, name=name,
                type_="ClipByValue")


def where(condition: Any, x: Any = None, y: Any = None, name: str | None = None) -> Tensor:
    """x where condition else y; a vector condition picks whole rows, as in TF1."""
    if x is None or y is None:
        raise TypeError("tf.where(condition) without x and y (the coordinates of true "
                        "elements) has a data-dependent shape and is not supported")
    cond_shape = condition.shape.as_tuple() if isinstance(condition, Tensor) else None
    x_shape = x.shape.as_tuple() if isinstance(x, Tensor) else None
    if cond_shape is not None and x_shape is not None and len(cond_shape) == 1 < len(x_shape):
        condition = reshape(condition, [-1] + [1] * (len(x_shape) - 1))
    return call("where", [condition, x, y], name=name, type_="Select")


# ---- reductions ---------------------------------------------------------------------------

def _axis(axis: Any, reduction_indices: Any) -> Any:
    axis = reduction_indices if axis is None else axis
    if isinstance(axis, Tensor):
        raise TypeError(f"the reduction axis must be a Python int or list, not {axis}")
    return tuple(int(a) for a in axis) if isinstance(axis, (list, tuple)) else axis


def _reduce(op: str, type_: str) -> Callable[..., Tensor]:
    def function(input_tensor: Any, axis: Any = None, keepdims: bool | None = None,
                 name: str | None = None, reduction_indices: Any = None,
                 keep_dims: bool | None = None) -> Tensor:
        keep = bool(keepdims if keepdims is not None else keep_dims)
        result = call(op, [input_tensor], {"axis": _axis(axis, reduction_indices),
                                           "keepdims": keep}, name=name, type_=type_)
        source = input_tensor.dtype if isinstance(input_tensor, Tensor) else result.dtype
        # TF1 keeps an integer input's dtype (the registry sums integers in int64)
        if source.is_integer and result.dtype is not source:
            return cast(result, source)
        return result

    function.__name__ = f"reduce_{op}"
    function.__doc__ = f"{type_} over ``axis`` (all axes when None), keeping dims if asked."
    return function


reduce_sum = _reduce("sum", "Sum")
reduce_mean = _reduce("mean", "Mean")
reduce_max = _reduce("max", "Max")
reduce_min = _reduce("min", "Min")


def argmax(input: Any, axis: int | None = None, name: str | None = None,  # noqa: A002
           dimension: int | None = None, output_type: Any = dt.int64) -> Tensor:
    """Index of the largest value along ``axis`` (TF1: axis 0 when not given)."""
    axis = dimension if axis is None else axis
    result = call("argmax", [input], {"axis": 0 if axis is None else int(axis)}, name=name)
    return cast(result, output_type)


def argmin(input: Any, axis: int | None = None, name: str | None = None,  # noqa: A002
           dimension: int | None = None, output_type: Any = dt.int64) -> Tensor:
    axis = dimension if axis is None else axis
    result = call("argmin", [input], {"axis": 0 if axis is None else int(axis)}, name=name)
    return cast(result, output_type)


# ---- shapes and indexing ------------------------------------------------------------------

def reshape(tensor: Any, shape: Any, name: str | None = None) -> Tensor:
    dims = tuple(-1 if d is None else shape_dim(d, "Reshape") for d in
                 (shape.as_list() if isinstance(shape, TensorShape) else shape))
    return call("reshape", [tensor], {"shape": dims}, name=name, type_="Reshape")


def transpose(a: Any, perm: Sequence[int] | None = None, name: str = "transpose") -> Tensor:
    axes = None if perm is None else tuple(int(p) for p in perm)
    return call("transpose", [a], {"axes": axes}, name=name, type_="Transpose")


def concat(values: Sequence[Any], axis: int, name: str = "concat") -> Tensor:
    return call("concat", list(values), {"axis": int(axis)}, name=name, type_="ConcatV2")


def stack(values: Sequence[Any], axis: int = 0, name: str = "stack") -> Tensor:
    return call("stack", list(values), {"axis": int(axis)}, name=name, type_="Pack")


def squeeze(input: Any, axis: Any = None, name: str | None = None,  # noqa: A002
            squeeze_dims: Any = None) -> Tensor:
    axis = squeeze_dims if axis is None else axis
    if isinstance(axis, list):
        axis = tuple(axis)
    return call("squeeze", [input], {"axis": axis}, name=name, type_="Squeeze")


def expand_dims(input: Any, axis: int, name: str | None = None) -> Tensor:  # noqa: A002
    return call("unsqueeze", [input], {"axis": int(axis)}, name=name, type_="ExpandDims")


def gather(params: Any, indices: Any, axis: int = 0, name: str | None = None) -> Tensor:
    """Rows (slices along ``axis``) of ``params`` at integer ``indices``."""
    if not isinstance(indices, Tensor):
        indices = constant(indices, dtype=dt.int64 if np.asarray(indices).dtype.kind == "i"
                           else None)
    return call("take", [params, indices], {"axis": int(axis)}, name=name, type_="GatherV2")


def split(value: Tensor, num_or_size_splits: Any, axis: int = 0,
          name: str = "split") -> list[Tensor]:
    """Pieces of ``value`` along ``axis``: ``n`` equal pieces, or pieces of the given sizes."""
    size = value.shape[axis]
    if size is None:
        raise ValueError(f"split: dimension {axis} of {value} must be known to split it")
    if isinstance(num_or_size_splits, int):
        n = num_or_size_splits
        if n <= 0 or size % n:
            raise ValueError(f"Dimension {axis} of {value.name} has size {size}, which is not "
                             f"evenly divisible by {n}")
        sizes = [size // n] * n
    else:
        sizes = [int(s) for s in num_or_size_splits]
        if sizes.count(-1) == 1:
            sizes[sizes.index(-1)] = size - (sum(sizes) + 1)
    with value.graph.name_scope(name):
        return [call("getitem", [value], {"index": index}, type_="StridedSlice")
                for index in composites.split_indices(size, sizes, axis)]


def one_hot(indices: Any, depth: int, on_value: Any = None, off_value: Any = None,
            axis: int | None = None, dtype: Any = None, name: str | None = None) -> Tensor:
    """One-hot rows of length ``depth`` (TF1: an out-of-range index gives a row of zeros)."""
    if axis not in (None, -1):
        raise ValueError(f"one_hot: only axis=-1 is supported, got axis={axis}")
    target = dt.as_dtype(dtype) if dtype is not None else dt.float32
    if not isinstance(indices, Tensor):
        indices = constant(indices)
    result = call("one_hot", [indices], {"depth": int(depth), "dtype": target}, name=name)
    if on_value is None and off_value is None:
        return result
    on = 1 if on_value is None else on_value
    off = 0 if off_value is None else off_value
    # on * h + off * (1 - h) for a one-hot h
    return add(multiply(result, on), multiply(subtract(1, result), off))


def _getitem(tensor: Tensor, key: Any) -> Tensor:
    items = key if isinstance(key, tuple) else (key,)
    if any(isinstance(k, (Tensor, list, np.ndarray)) for k in items):
        raise TypeError(f"Only integers, slices (`:`), ellipsis (`...`) and tf.newaxis "
                        f"(`None`) are valid indices for {tensor.name}, got {key!r}; use "
                        "tf.gather for integer-array indexing")
    return call("getitem", [tensor], {"index": encode_index(items)}, type_="StridedSlice")


# ---- control flow ----------------------------------------------------------------------------

def _flat_control(inputs: Sequence[Any]) -> list[Any]:
    flat: list[Any] = []
    for item in inputs:
        if isinstance(item, (list, tuple)):
            flat.extend(_flat_control(item))
        elif item is not None:
            flat.append(item)
    return flat


def group(*inputs: Any, name: str = "group_deps") -> Operation:
    """An op that runs all ``inputs`` and returns nothing (``sess.run`` gives None)."""
    items = _flat_control(inputs)
    graph = graph_of(items) if items else get_default_graph()
    targets = [i for item in items for i in graph.targets_of(item)]
    control = [item.op if isinstance(item, Tensor) else item for item in items]
    return graph.group(targets, name, control)


def no_op(name: str = "NoOp") -> Operation:
    """An op that does nothing (but runs its control dependencies)."""
    return get_default_graph().group((), name, [])


def control_dependencies(control_inputs: Sequence[Any] | None) -> Any:
    """Context: ops created inside also run ``control_inputs``.

    Within one ``Session.run`` every variable read sees the value from the start of the run
    and assignments land afterwards, so a control dependency decides *whether* something
    runs, never the order of reads and writes.
    """
    items = None if control_inputs is None else _flat_control(control_inputs)
    graph = graph_of(items) if items else get_default_graph()
    return graph.control_dependencies(items)


def name_scope(name: str | None, default_name: str | None = None, values: Any = None) -> Any:
    """Context that prefixes new op names with ``name/`` in the default graph."""
    graph = graph_of(values) if values else get_default_graph()
    return graph.name_scope(name if name is not None else default_name)


# ---- operators ------------------------------------------------------------------------------

def _install_operators(cls: type) -> None:
    def binary(op: str, type_: str, reflected: bool = False) -> Callable[[Tensor, Any], Tensor]:
        if reflected:
            return lambda self, other: call(op, [other, self], type_=type_)
        return lambda self, other: call(op, [self, other], type_=type_)

    table = [("add", "add", "Add"), ("sub", "sub", "Sub"), ("mul", "mul", "Mul"),
             ("truediv", "div", "RealDiv"), ("pow", "pow", "Pow"), ("matmul", "matmul", "MatMul"),
             ("and", "logical_and", "LogicalAnd"), ("or", "logical_or", "LogicalOr")]
    for dunder, op, type_ in table:
        setattr(cls, f"__{dunder}__", binary(op, type_))
        setattr(cls, f"__r{dunder}__", binary(op, type_, reflected=True))
    for dunder, op, type_ in [("lt", "lt", "Less"), ("le", "le", "LessEqual"),
                              ("gt", "gt", "Greater"), ("ge", "ge", "GreaterEqual")]:
        setattr(cls, f"__{dunder}__", binary(op, type_))
    setattr(cls, "__neg__", lambda self: call("neg", [self], type_="Neg"))  # noqa: B010
    setattr(cls, "__abs__", lambda self: call("abs", [self], type_="Abs"))  # noqa: B010
    setattr(cls, "__invert__", lambda self: call("logical_not", [self]))  # noqa: B010
    setattr(cls, "__getitem__", _getitem)  # noqa: B010


_install_operators(Tensor)

