"""Sources of a static graph: placeholders, constants, filled and random tensors (TF1 names).

Random ops carry a ``runtime.Generator`` seeded from the graph seed (``set_random_seed``) and
the op seed, as TF1 derives them, so the same seeds give the same numbers each time a graph
is built.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..runtime import dtypes as dt
from ..runtime import get
from ..runtime.shapes import as_dim, check_rank
from .autopack import holds_tensor, pack
from .graph import get_default_graph, graph_of, tf_dtype_of
from .tensor import Tensor, TensorShape


def call(op: str, inputs: Any, attrs: dict[str, Any] | None = None,
         name: str | None = None, type_: str | None = None) -> Tensor:
    """Adds registry op ``op`` to the graph of ``inputs`` (the default graph if none)."""
    return graph_of(inputs).apply(get(op), inputs, attrs or {}, name=name, type_=type_)


def placeholder(dtype: Any, shape: Any = None, name: str | None = None) -> Tensor:
    """A value fed at run time; ``None`` dims (or ``shape=None``) accept any size.

    Example:
        >>> import tapeflow.static as tf
        >>> with tf.Graph().as_default():
        ...     x = tf.placeholder("float", [None, 2], name="features")
        >>> x.shape.as_list()
        [None, 2]
    """
    return get_default_graph().placeholder(dt.as_dtype(dtype), TensorShape(shape).as_tuple(),
                                           name)


def constant(value: Any, dtype: Any = None, shape: Any = None, name: str = "Const") -> Tensor:
    """A constant tensor; Python floats become float32 and ints int32 unless ``dtype`` says.

    Example:
        >>> import tapeflow.static as tf
        >>> with tf.Graph().as_default():
        ...     print(tf.constant([[1.0, 2.0]]).dtype.name, tf.constant(3).dtype.name)
        float32 int32
    """
    target = dt.as_dtype(dtype) if dtype is not None else tf_dtype_of(value)
    try:
        array = np.asarray(value, dtype=target.np)
    except OverflowError as exc:  # (numpy's raw error for a Python int out of range)
        raise TypeError(f"{name}: cannot convert the value to a tensor of dtype "
                        f"{target.name}: {exc}") from None
    if shape is not None:
        dims = _shape_list(shape, "constant")
        if array.size == 1:
            array = np.full(dims, array.reshape(()), dtype=target.np)
        elif array.size == int(np.prod(dims)):
            array = array.reshape(dims)
        else:
            raise ValueError(f"Too many elements provided. Needed at most {int(np.prod(dims))}, "
                             f"but received {array.size}")
    return get_default_graph().constant(array, name=name)


def convert_to_tensor(value: Any, dtype: Any = None, name: str | None = None) -> Tensor:
    """``value`` if it is a Tensor (of ``dtype`` when given), else a constant of it."""
    if isinstance(value, Tensor):
        if dtype is not None and value.dtype is not dt.as_dtype(dtype):
            raise ValueError(f"Tensor conversion requested dtype {dt.as_dtype(dtype).name} "
                             f"for Tensor with dtype {value.dtype.name}: {value!r}")
        return value
    if holds_tensor(value):  # TF1 packs a list holding tensors (static/autopack.py)
        return convert_to_tensor(pack(get_default_graph(), value), dtype)
    return constant(value, dtype=dtype, name=name or "Const")


def shape_dim(value: Any, op: str) -> int:
    """One dimension of a shape argument as an int: TF1's TypeError for a float or a bool
    (``tf.zeros([2.5, 2])`` is refused, not truncated to 2)."""
    dim = as_dim(value)
    if dim is None:
        raise TypeError(f"{op}: Expected int32, got {value!r} of type "
                        f"'{type(value).__name__}' instead.")
    return dim


def _shape_list(shape: Any, op: str) -> tuple[int, ...]:
    if isinstance(shape, Tensor):
        raise TypeError(f"{op}: the shape must be a Python list, not the tensor {shape}")
    if not isinstance(shape, (int, np.integer, TensorShape)):
        shape = [d if d is None else shape_dim(d, op) for d in shape]
    dims = TensorShape(shape if not isinstance(shape, (int, np.integer)) else [shape])
    if not dims.is_fully_defined():
        raise ValueError(f"{op}: the shape {dims} has unknown dimensions")
    check_rank(op, dims.as_list())
    return tuple(int(d) for d in dims.as_list() if d is not None)


def fill(dims: Any, value: Any, name: str | None = None) -> Tensor:
    """A tensor of shape ``dims`` filled with ``value`` (its dtype from the value)."""
    dtype = tf_dtype_of(value)
    return call("full", [], {"shape": _shape_list(dims, "fill"), "value": value, "dtype": dtype},
                name=name, type_="Fill")


def zeros(shape: Any, dtype: Any = dt.float32, name: str | None = None) -> Tensor:
    return call("full", [], {"shape": _shape_list(shape, "zeros"), "value": 0,
                             "dtype": dt.as_dtype(dtype)}, name=name or "zeros", type_="Fill")


def ones(shape: Any, dtype: Any = dt.float32, name: str | None = None) -> Tensor:
    return call("full", [], {"shape": _shape_list(shape, "ones"), "value": 1,
                             "dtype": dt.as_dtype(dtype)}, name=name or "ones", type_="Fill")


def zeros_like(tensor: Any, dtype: Any = None, name: str | None = None) -> Tensor:
    target = None if dtype is None else dt.as_dtype(dtype)
    return call("full_like", [tensor], {"value": 0, "dtype": target}, name=name or "zeros_like")


def ones_like(tensor: Any, dtype: Any = None, name: str | None = None) -> Tensor:
    target = None if dtype is None else dt.as_dtype(dtype)
    return call("full_like", [tensor], {"value": 1, "dtype": target}, name=name or "ones_like")


def _random(kind: str, type_: str, shape: Any, a: float, b: float, dtype: Any,
            seed: int | None, name: str | None) -> Tensor:
    target = dt.as_dtype(dtype)
    if not target.is_floating:
        raise ValueError(f"{type_}: only floating dtypes are supported, got {target.name}")
    graph = get_default_graph()
    attrs = {"shape": _shape_list(shape, type_), "dtype": target, "a": float(a), "b": float(b),
             "generator": graph.random_generator(seed)}
    return graph.apply(get(kind), [], attrs, name=name, type_=type_)


def random_uniform(shape: Any, minval: float = 0.0, maxval: float | None = None,
                   dtype: Any = dt.float32, seed: int | None = None,
                   name: str | None = None) -> Tensor:
    """Uniform draws in [minval, maxval) (maxval defaults to 1), seeded like TF1."""
    return _random("random_uniform", "RandomUniform", shape, minval,
                   1.0 if maxval is None else maxval, dtype, seed, name)


def random_normal(shape: Any, mean: float = 0.0, stddev: float = 1.0, dtype: Any = dt.float32,
                  seed: int | None = None, name: str | None = None) -> Tensor:
    return _random("random_normal", "RandomStandardNormal", shape, mean, stddev, dtype, seed,
                   name)


def truncated_normal(shape: Any, mean: float = 0.0, stddev: float = 1.0, dtype: Any = dt.float32,
                     seed: int | None = None, name: str | None = None) -> Tensor:
    """Normal draws, redrawn beyond two standard deviations (TF1's truncated_normal)."""
    return _random("random_truncated_normal", "TruncatedNormal", shape, mean, stddev, dtype,
                   seed, name)


