"""TF1 variable sharing: ``tf.variable_scope``, ``tf.get_variable`` and the initializers.

``get_variable(name, shape)`` returns the variable called ``<scope>/<name>`` in the
current graph, creating it on first use (with the scope's initializer, else Glorot uniform
for floats and zeros otherwise, as TF1 does). A scope opened with ``reuse=True`` may only
fetch existing variables; ``reuse=tf.AUTO_REUSE`` creates or fetches. Without reuse,
asking twice for one name is the error TF1 raises, since that is how two layers end up
sharing weights by accident. Variable names follow the variable scopes only; ops made
inside a scope are prefixed with a name scope of the same name, as in TF1.

Initializers are callables ``(shape, dtype) -> Tensor`` built from the graph's own ops, so
a seeded graph draws the same initial values every time.

Example:
    >>> import tapeflow.static as tf
    >>> with tf.Graph().as_default():
    ...     with tf.variable_scope("layer"):
    ...         w = tf.get_variable("w", [2, 3])
    ...     with tf.variable_scope("layer", reuse=True):
    ...         same = tf.get_variable("w")
    >>> w.name, same is w
    ('layer/w:0', True)
"""

from __future__ import annotations

import contextlib
import math
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..runtime import composites
from ..runtime import dtypes as dt
from .graph import Graph, get_default_graph
from .sources import constant, random_normal, random_uniform, truncated_normal, zeros
from .tensor import Tensor, TensorShape
from .variables import Variable

__all__ = ["AUTO_REUSE", "VariableScope", "constant_initializer", "get_variable",
           "get_variable_scope", "glorot_normal_initializer", "glorot_uniform_initializer",
           "ones_initializer", "random_normal_initializer", "random_uniform_initializer",
           "truncated_normal_initializer", "variable_scope", "zeros_initializer"]

Initializer = Callable[..., Tensor]


class _AutoReuse:
    def __repr__(self) -> str:
        return "tf.AUTO_REUSE"


#: ``reuse=tf.AUTO_REUSE``: create a variable on first use, return it after that
AUTO_REUSE: Any = _AutoReuse()


@dataclass
class VariableScope:
    """The current variable scope: its name, reuse mode and default initializer."""

    name: str = ""
    reuse: Any = False
    initializer: Initializer | None = None
    dtype: dt.DType = dt.float32

    def reuse_variables(self) -> None:
        """From now on this scope fetches existing variables (TF1's ``reuse_variables()``)."""
        self.reuse = True


# per graph: the stack of open scopes and the variables get_variable made, by full name.
# The values must not reference their graph, or the weak keys never die (a Variable holds
# its graph), so the store keeps weak references; the graph itself keeps its variables.
_SCOPES: weakref.WeakKeyDictionary[Graph, list[VariableScope]] = weakref.WeakKeyDictionary()
_STORE: weakref.WeakKeyDictionary[Graph, dict[str, weakref.ref[Variable]]] = (
    weakref.WeakKeyDictionary())
_OPENED: weakref.WeakKeyDictionary[Graph, set[str]] = weakref.WeakKeyDictionary()


def get_variable_scope() -> VariableScope:
    """The innermost open variable scope of the default graph (the root scope if none)."""
    graph = get_default_graph()
    return _SCOPES.setdefault(graph, [VariableScope()])[-1]


@contextlib.contextmanager
def variable_scope(name_or_scope: str | VariableScope | None, default_name: str | None = None,
                   values: Sequence[Any] | None = None, initializer: Initializer | None = None,
                   reuse: Any = None, dtype: Any = None) -> Iterator[VariableScope]:
    """Opens the variable scope ``<outer>/<name>`` (and a name scope for the ops inside).

    ``reuse=None`` inherits the outer scope's reuse; ``True`` only fetches; ``AUTO_REUSE``
    creates or fetches. Passing a :class:`VariableScope` re-enters that scope by its full
    name. ``default_name`` names the scope when ``name_or_scope`` is None (made unique).
    """
    graph = get_default_graph()
    stack = _SCOPES.setdefault(graph, [VariableScope()])
    outer = stack[-1]
    if isinstance(name_or_scope, VariableScope):
        full = name_or_scope.name
    elif name_or_scope:
        full = f"{outer.name}/{name_or_scope}" if outer.name else str(name_or_scope)
    elif default_name:  # default_name, default_name_1, ...: a scope not opened before
        base = f"{outer.name}/{default_name}" if outer.name else default_name
        opened = _OPENED.setdefault(graph, set())
        full, count = base, 0
        while full in opened:
            count += 1
            full = f"{base}_{count}"
    else:
        raise ValueError("variable_scope: give name_or_scope or default_name")
    if reuse is False:
        reuse = outer.reuse  # (TF1: reuse cannot be switched off inside a reusing scope)
    scope = VariableScope(
        name=full,
        reuse=outer.reuse if reuse is None else (reuse or outer.reuse),
        initializer=initializer if initializer is not None else outer.initializer,
        dtype=dt.as_dtype(dtype) if dtype is not None else outer.dtype)
    stack.append(scope)
    _OPENED.setdefault(graph, set()).add(full)
    try:
        with graph.name_scope(full.rsplit("/", 1)[-1] if not isinstance(
                name_or_scope, VariableScope) else full + "/"):
            yield scope
    finally:
        stack.pop()


def get_variable(name: str, shape: Any = None, dtype: Any = None,
                 initializer: Initializer | Any = None, trainable: bool = True,
                 collections: Sequence[str] | None = None) -> Variable:
    """The variable ``<scope>/<name>``: created on first use, shared after (see the module).

    ``initializer`` may be an initializer, a Tensor or an array (then ``shape`` comes from
    it). Raises ValueError when the scope's reuse mode forbids the request, or when a
    shared variable's shape or dtype differs from the one asked for.
    """
    graph = get_default_graph()
    scope = get_variable_scope()
    full = f"{scope.name}/{name}" if scope.name else name
    store = _STORE.setdefault(graph, {})
    found_ref = store.get(full)
    found = None if found_ref is None else found_ref()
    wanted = None if dtype is None else dt.as_dtype(dtype)
    if found is not None:
        if scope.reuse is False:
            raise ValueError(f"Variable {full} already exists, disallowed. Did you mean to set "
                             "reuse=True or reuse=tf.AUTO_REUSE in VarScope?")
        if shape is not None and not found.shape.is_compatible_with(TensorShape(shape)):
            raise ValueError(f"Trying to share variable {full}, but specified shape "
                             f"{TensorShape(shape)} and found shape {found.shape}.")
        if wanted is not None and wanted is not found.dtype:
            raise ValueError(f"Trying to share variable {full}, but specified dtype "
                             f"{wanted.name} and found dtype {found.dtype.name}.")
        return found
    if scope.reuse is True:
        raise ValueError(f"Variable {full} does not exist, or was not created with "
                         "tf.get_variable(). Did you mean to set reuse=tf.AUTO_REUSE in "
                         "VarScope?")
    if isinstance(initializer, (Tensor, np.ndarray, list, tuple, int, float)):
        value = initializer  # (the variable takes the value's dtype unless one is asked for)
    else:
        wanted = wanted or scope.dtype
        if shape is None or not TensorShape(shape).is_fully_defined():
            raise ValueError(f"The shape of the new variable {full} must be fully defined, "
                             f"but is {None if shape is None else TensorShape(shape)}.")
        make = initializer or scope.initializer or _default_initializer(wanted)
        with graph.name_scope(f"{full}/Initializer/"):  # (an absolute scope, as in TF1)
            value = make(TensorShape(shape).as_list(), wanted)
    with graph.name_scope(""):  # variable names follow variable scopes only
        variable = Variable(value, trainable=trainable, collections=collections, name=full,
                            dtype=wanted)
    store[full] = weakref.ref(variable)
    return variable


def _default_initializer(dtype: dt.DType) -> Initializer:
    return glorot_uniform_initializer() if dtype.is_floating else zeros_initializer()


# ---- initializers: (shape, dtype) -> Tensor ------------------------------------------------


def zeros_initializer(dtype: Any = dt.float32) -> Initializer:
    return lambda shape, dtype=dtype, partition_info=None: zeros(shape, dtype)


def ones_initializer(dtype: Any = dt.float32) -> Initializer:
    return lambda shape, dtype=dtype, partition_info=None: constant(1, dtype, shape)


def constant_initializer(value: Any = 0, dtype: Any = dt.float32) -> Initializer:
    """Fills with ``value``: a number, or an array of exactly the variable's shape."""
    def make(shape: Any, dtype: Any = dtype, partition_info: Any = None) -> Tensor:
        return constant(value, dtype, shape)

    return make


def random_normal_initializer(mean: float = 0.0, stddev: float = 1.0, seed: int | None = None,
                              dtype: Any = dt.float32) -> Initializer:
    return lambda shape, dtype=dtype, partition_info=None: random_normal(
        shape, mean, stddev, dtype, seed)


def truncated_normal_initializer(mean: float = 0.0, stddev: float = 1.0,
                                 seed: int | None = None, dtype: Any = dt.float32) -> Initializer:
    return lambda shape, dtype=dtype, partition_info=None: truncated_normal(
        shape, mean, stddev, dtype, seed)


def random_uniform_initializer(minval: float = 0.0, maxval: float = 1.0,
                               seed: int | None = None, dtype: Any = dt.float32) -> Initializer:
    return lambda shape, dtype=dtype, partition_info=None: random_uniform(
        shape, minval, maxval, dtype, seed)


def _fans(shape: Sequence[int]) -> tuple[int, int]:
    # (fan_in, fan_out) as TF1 counts them: a matrix's rows and columns; scalars and vectors
    # count their size
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return int(shape[0]), int(shape[0])
    receptive = math.prod(int(d) for d in shape[:-2])
    return int(shape[-2]) * receptive, int(shape[-1]) * receptive


def glorot_uniform_initializer(seed: int | None = None, dtype: Any = dt.float32) -> Initializer:
    """Uniform in ``+-sqrt(6 / (fan_in + fan_out))``: TF1's default for get_variable."""
    def make(shape: Any, dtype: Any = dtype, partition_info: Any = None) -> Tensor:
        fan_in, fan_out = _fans(shape)
        limit = composites.glorot_limit(fan_in, fan_out)
        return random_uniform(shape, -limit, limit, dtype, seed)

    return make


def glorot_normal_initializer(seed: int | None = None, dtype: Any = dt.float32) -> Initializer:
    """Truncated normal with stddev ``sqrt(2 / (fan_in + fan_out)) / 0.8796`` (TF1's scale,
    which undoes the truncation's shrinking of the variance)."""
    def make(shape: Any, dtype: Any = dtype, partition_info: Any = None) -> Tensor:
        fan_in, fan_out = _fans(shape)
        stddev = math.sqrt(2.0 / max(1, fan_in + fan_out)) / 0.87962566103423978
        return truncated_normal(shape, 0.0, stddev, dtype, seed)

    return make
