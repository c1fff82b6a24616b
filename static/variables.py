"""TF1 ``Variable``: state that lives in a Session, read and assigned by graph nodes.

A Variable is one IR node of kind ``variable``; reading it means using that node (so a
gradient with respect to a Variable is a gradient with respect to that node). Its value lives
outside the graph, in each Session's variable store, keyed by node id. ``assign`` makes an IR
node of kind ``assign`` with inputs (variable, value); the initializer is such an assign from
the initial-value subgraph.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..runtime import Spec
from ..runtime import dtypes as dt
from .graph import Graph, format_tf_shape, get_default_graph
from .ops import add, cast, group, identity, subtract
from .sources import constant
from .tensor import Operation, Tensor


class GraphKeys:
    """Names of the standard collections (TF1 ``tf.GraphKeys``)."""

    GLOBAL_VARIABLES = "variables"
    TRAINABLE_VARIABLES = "trainable_variables"
    GLOBAL_STEP = "global_step"
    LOCAL_VARIABLES = "local_variables"  # (tf.metrics' totals; local_variables_initializer)
    UPDATE_OPS = "update_ops"
    SUMMARIES = "summaries"


class Variable(Tensor):
    """A mutable tensor whose value persists across ``Session.run`` calls.

    Example:
        >>> import tapeflow.static as tf
        >>> g = tf.Graph()
        >>> with g.as_default():
        ...     w = tf.Variable(tf.zeros([2, 5]), name="W")
        >>> w
        <Variable 'W:0' shape=(2, 5) dtype=float32>
    """

    def __init__(self, initial_value: Any = None, trainable: bool = True,
                 collections: Sequence[str] | None = None, validate_shape: bool = True, *,
                 name: str | None = None, dtype: Any = None) -> None:
        if initial_value is None:
            raise ValueError("initial_value must be specified.")
        if callable(initial_value) and not isinstance(initial_value, Tensor):
            initial_value = initial_value()
        graph = initial_value.graph if isinstance(initial_value, Tensor) else get_default_graph()
        target = None if dtype is None else dt.as_dtype(dtype)
        with graph.name_scope(name or "Variable") as scope:
            init = self._initial_tensor(initial_value, target)
            shape = init.shape.as_tuple() if validate_shape else None
            graph.add_node("variable", Spec(shape, init.dtype), scope[:-1], "VariableV2",
                           out=self)
            self._initializer_op = _assign(self, init, "Assign").op
        self._initial_value = init
        self.trainable = trainable
        keys = list(collections) if collections is not None else [GraphKeys.GLOBAL_VARIABLES]
        if trainable and GraphKeys.TRAINABLE_VARIABLES not in keys:
            keys.append(GraphKeys.TRAINABLE_VARIABLES)
        for key in keys:
            graph.add_to_collection(key, self)

    @staticmethod
    def _initial_tensor(value: Any, dtype: dt.DType | None) -> Tensor:
        if isinstance(value, Tensor):
            return value if dtype is None or value.dtype is dtype else cast(value, dtype)
        return constant(value, dtype=dtype, name="initial_value")

    @property
    def initializer(self) -> Operation:
        """The op that sets this variable to its initial value."""
        return self._initializer_op

    @property
    def initial_value(self) -> Tensor:
        return self._initial_value

    def value(self) -> Tensor:
        """The variable as a tensor (its reads are the variable node itself)."""
        return self

    def read_value(self) -> Tensor:
        """An explicit read: an Identity node of the variable."""
        return identity(self, name="read")

    def assign(self, value: Any, use_locking: bool | None = None, name: str | None = None,
               read_value: bool = True) -> Tensor:
        """A node that sets the variable to ``value``; running it gives the new value.

        Within one run, reads of the variable see its value from the start of the run;
        the assignment lands when the run finishes (the last assign of a run wins).
        """
        return _assign(self, value, name or "Assign")

    def assign_add(self, delta: Any, use_locking: bool | None = None,
                   name: str | None = None, read_value: bool = True) -> Tensor:
        """``assign(self + delta)``."""
        with self.graph.name_scope(name or "AssignAdd") as scope:
            return _assign(self, add(self, delta), scope[:-1], unique=False)

    def assign_sub(self, delta: Any, use_locking: bool | None = None,
                   name: str | None = None, read_value: bool = True) -> Tensor:
        """``assign(self - delta)``."""
        with self.graph.name_scope(name or "AssignSub") as scope:
            return _assign(self, subtract(self, delta), scope[:-1], unique=False)

    def __repr__(self) -> str:
        return f"<Variable '{self.name}' shape={self.shape} dtype={self.dtype.name}>"


def _assign(var: Variable, value: Any, name: str, unique: bool = True) -> Tensor:
    graph = var.graph
    if isinstance(value, Tensor):
        if value.graph is not graph:
            raise ValueError(f"{value} must be from the same graph as {var}")
        if value.dtype is not var.dtype:
            raise TypeError(f"Input 'value' of 'Assign' Op has type {value.dtype.name} that "
                            f"does not match type {var.dtype.name} of argument 'ref' "
                            f"({var.op.name}).")
    else:
        value = constant(value, dtype=var.dtype, name="value")
    op_name = graph.unique_name(name) if unique else name
    if not var.shape.is_compatible_with(value.shape):
        raise ValueError(f"Shapes {var.shape} and {value.shape} are incompatible for "
                         f"'{op_name}' (op: 'Assign') with input shapes: "
                         f"{format_tf_shape(var.spec.shape)}, "
                         f"{format_tf_shape(value.spec.shape)}.")
    return graph.add_node("assign", Spec(var.spec.shape, var.dtype), op_name, "Assign",
                          inputs=[var, value])


def global_variables(graph: Graph | None = None) -> list[Variable]:
    return (graph or get_default_graph()).get_collection(GraphKeys.GLOBAL_VARIABLES)


def trainable_variables(graph: Graph | None = None) -> list[Variable]:
    return (graph or get_default_graph()).get_collection(GraphKeys.TRAINABLE_VARIABLES)


def variables_initializer(var_list: Sequence[Variable], name: str = "init") -> Operation:
    """One op that runs the initializers of ``var_list``."""
    return group(*[v.initializer for v in var_list], name=name)


def global_variables_initializer() -> Operation:
    """One op that initialises every global variable of the default graph.

    Example:
        >>> import tapeflow.static as tf
        >>> with tf.Graph().as_default():
        ...     w = tf.Variable(1.0)
        ...     with tf.Session() as sess:
        ...         _ = sess.run(tf.global_variables_initializer())
        ...         print(sess.run(w))
        1.0
    """
    return variables_initializer(global_variables(), name="init")


def local_variables(scope: str | None = None) -> list[Any]:
    """The local variables (``tf.metrics``' running totals) of the default graph."""
    return get_collection(GraphKeys.LOCAL_VARIABLES, scope)


def local_variables_initializer() -> Operation:
    """One op that initialises the local variables (``tf.metrics``' running totals)."""
    return variables_initializer(get_collection(GraphKeys.LOCAL_VARIABLES), name="init_1")


def get_collection(key: str, scope: str | None = None, graph: Graph | None = None
                   ) -> list[Any]:
    """The items of collection ``key``; with ``scope``, those whose name matches it from the
    start (a regular expression, as TF1's ``re.match``)."""
    items = (graph or get_default_graph()).get_collection(key)
    if scope is None:
        return items
    import re

    return [item for item in items if re.match(scope, getattr(item, "name", "") or "")]


def add_to_collection(key: str, value: Any) -> None:
    get_default_graph().add_to_collection(key, value)


def is_variable(value: Any) -> bool:
    return isinstance(value, Variable)


__all__ = ["GraphKeys", "Variable", "add_to_collection", "get_collection",
           "global_variables", "global_variables_initializer", "is_variable",
           "local_variables", "local_variables_initializer", "trainable_variables",
           "variables_initializer"]
