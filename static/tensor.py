"""The TF-facing handles of a static graph: ``TensorShape``, ``Operation`` and ``Tensor``.

The graph itself lives in the shared IR (``graphs.ir.Node``); these objects point into it by
node id and present it the way TF1 does (``<Tensor 'MatMul:0' shape=(?, 5) dtype=float32>``).
Operators (``+``, ``@``, ``[]``...) are attached in :mod:`tapeflow.static.ops`, next to the op
functions they call.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from ..runtime.dtypes import DType
from ..runtime.registry import Shape, Spec, format_shape

if TYPE_CHECKING:
    from .graph import Graph


class Dimension(int):
    """A known dimension of a TensorShape: an int that also has TF1's ``.value``.

    Unknown dimensions are ``None`` (``Dimension(None)`` gives None), so shape arithmetic in
    the runtime's rules (``start + size``, ``size is None``) works on static shapes as is.

    Example:
        >>> Dimension(5).value, Dimension(5) + 1, Dimension(None)
        (5, 6, None)
    """

    def __new__(cls, value: Any) -> Any:  # None stays None: an unknown dim
        if value is None:
            return None
        return super().__new__(cls, int(value))

    @property
    def value(self) -> int:
        return int(self)


def _dim_value(d: Any) -> int | None:
    if d is None:
        return None
    value = int(d)
    if value < 0:
        raise ValueError(f"Dimension {value} must be >= 0 (use None for an unknown dimension)")
    return value


class TensorShape:
    """A static shape whose dimensions may be unknown (``None``), or of unknown rank.

    Example:
        >>> s = TensorShape([None, 5])
        >>> str(s), s.as_list()
        ('(?, 5)', [None, 5])
    """

    def __init__(self, dims: Iterable[Any] | TensorShape | None) -> None:
        if isinstance(dims, TensorShape):
            self._dims: Shape = dims._dims
        elif isinstance(dims, (int, np.integer)):
            self._dims = (_dim_value(dims),)  # TF1 reads a bare int as a rank-1 shape
        else:
            self._dims = None if dims is None else tuple(_dim_value(d) for d in dims)

    @property
    def dims(self) -> list[Dimension | None] | None:
        return None if self._dims is None else [Dimension(d) for d in self._dims]

    @property
    def ndims(self) -> int | None:
        return None if self._dims is None else len(self._dims)

    rank = ndims

    def as_list(self) -> list[int | None]:
        if self._dims is None:
            raise ValueError("as_list() is not defined on an unknown TensorShape.")
        return list(self._dims)

    def as_tuple(self) -> Shape:
        """The shape as the runtime writes it: a tuple with ``None`` dims, or ``None``."""
        return self._dims

    def is_fully_defined(self) -> bool:
        return self._dims is not None and all(d is not None for d in self._dims)

    def is_compatible_with(self, other: Any) -> bool:
        other_dims = TensorShape(other)._dims
        if self._dims is None or other_dims is None:
            return True
        if len(self._dims) != len(other_dims):
            return False
        pairs = zip(self._dims, other_dims, strict=True)
        return all(a is None or b is None or a == b for a, b in pairs)

    def merge_with(self, other: Any) -> TensorShape:
        """The more specific of two compatible shapes; ValueError when they conflict."""
        other_shape = TensorShape(other)
        if not self.is_compatible_with(other_shape):
            raise ValueError(f"Shapes {self} and {other_shape} are incompatible")
        if self._dims is None:
            return other_shape
        if other_shape._dims is None:
            return self
        return TensorShape(a if a is not None else b
                           for a, b in zip(self._dims, other_shape._dims, strict=True))

    def __getitem__(self, key: int | slice) -> Any:
        if self._dims is None:
            return None if isinstance(key, int) else TensorShape(None)
        if isinstance(key, slice):
            return TensorShape(self._dims[key])
        return Dimension(self._dims[key])

    def __len__(self) -> int:
        if self._dims is None:
            raise ValueError("Cannot take the length of shape with unknown rank.")
        return len(self._dims)

    def __iter__(self) -> Iterator[Dimension | None]:
        if self._dims is None:
            raise ValueError("Cannot iterate over a shape with unknown rank.")
        return iter([Dimension(d) for d in self._dims])

    def __eq__(self, other: object) -> bool:
        try:
            return self._dims == TensorShape(other)._dims  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return NotImplemented

    def __hash__(self) -> int:
        return hash(self._dims)

    def __str__(self) -> str:
        return format_shape(self._dims)

    def __repr__(self) -> str:
        return "TensorShape(None)" if self._dims is None else f"TensorShape({list(self._dims)})"


class Operation:
    """A node of the graph as TF1 shows it: a name, a type, input and output tensors.

    ``node_id`` is the IR node it stands for; it is ``None`` for ``group``/``no_op``, which
    are no node at all but a list of ``targets`` (node ids) that running the op runs.

    Example:
        >>> import tapeflow.static as tf
        >>> g = tf.Graph()
        >>> with g.as_default():
        ...     init = tf.no_op(name="init")
        >>> init.name, init.type
        ('init', 'NoOp')
    """

    def __init__(self, graph: Graph, name: str, type_: str, inputs: list[Tensor],
                 node_id: int | None, targets: tuple[int, ...],
                 control_inputs: list[Operation]) -> None:
        self.graph = graph
        self.name = name
        self.type = type_
        self.inputs = inputs
        self.outputs: list[Tensor] = []
        self.node_id = node_id
        self.targets = targets
        self.control_inputs = control_inputs

    @property
    def node(self) -> Any:
        """The IR node (``graphs.ir.Node``) of this op; None for group and no_op."""
        return None if self.node_id is None else self.graph.node(self.node_id)

    def run(self, feed_dict: dict[Any, Any] | None = None, session: Any = None) -> None:
        """Runs this op in ``session`` (default: the default session)."""
        from .session import session_or_default

        session_or_default(session, f"operation '{self.name}'").run(self, feed_dict)

    def __repr__(self) -> str:
        return f"<Operation '{self.name}' type={self.type}>"


class Tensor:
    """A symbolic value: output ``value_index`` of ``op``, with a static dtype and shape.

    Example:
        >>> import tapeflow.static as tf
        >>> g = tf.Graph()
        >>> with g.as_default():
        ...     x = tf.placeholder(tf.float32, [None, 5], name="x")
        >>> x
        <Tensor 'x:0' shape=(?, 5) dtype=float32>
    """

    # numpy must hand `array * tensor` to our reflected operators instead of broadcasting
    __array_ufunc__ = None
    __array_priority__ = 100

    def __init__(self, op: Operation, value_index: int, dtype: DType, shape: Shape) -> None:
        self.op = op
        self.value_index = value_index
        self.dtype = dtype
        self._spec = Spec(shape, dtype)
        self._tensor_shape: TensorShape | None = None

    @property
    def graph(self) -> Graph:
        return self.op.graph

    @property
    def node_id(self) -> int:
        assert self.op.node_id is not None, "a Tensor always belongs to a node"
        return self.op.node_id

    @property
    def name(self) -> str:
        return f"{self.op.name}:{self.value_index}"

    @property
    def spec(self) -> Spec:
        """What the runtime's shape rules see: ``Spec(shape, dtype)``."""
        return self._spec

    @property
    def shape(self) -> TensorShape:
        if self._tensor_shape is None:
            self._tensor_shape = TensorShape(self._spec.shape)
        return self._tensor_shape

    def get_shape(self) -> TensorShape:
        return self.shape

    def set_shape(self, shape: Any) -> None:
        """Refines the static shape (TF1 ``set_shape``); ValueError when it conflicts."""
        merged = self.shape.merge_with(shape)
        self.graph.refine_shape(self, merged.as_tuple())

    def eval(self, feed_dict: dict[Any, Any] | None = None, session: Any = None) -> Any:
        """This tensor's value in ``session`` (default: the default session)."""
        from .session import session_or_default

        return session_or_default(session, f"tensor '{self.name}'").run(self, feed_dict)

    def consumers(self) -> list[Operation]:
        return self.graph.consumers(self)

    def __repr__(self) -> str:
        return f"<Tensor '{self.name}' shape={self.shape} dtype={self.dtype.name}>"

    def __str__(self) -> str:
        # print(tensor) shows the repr line (the issue's format, not TF1's Tensor("...") form)
        return repr(self)

    def __bool__(self) -> bool:
        raise TypeError("Using a `tf.Tensor` as a Python `bool` is not allowed. Use "
                        "`if t is not None:` instead of `if t:` to test if a tensor is "
                        "defined, and use TensorFlow ops such as tf.cond to execute "
                        "subgraphs conditioned on the value of a tensor.")

    def __iter__(self) -> Iterator[Any]:
        raise TypeError(f"'Tensor' object is not iterable ({self.name}); index it with [] "
                        "or use tf.split / tf.unstack-style ops instead.")

    __hash__ = object.__hash__
