"""The building graph: IR nodes in creation order plus TF1's names, scopes and collections.

Every op goes through :meth:`Graph.apply`, which turns Python numbers, lists and arrays into
const nodes (taking the other operand's dtype, as ``x * 2`` on float32 stays float32 in TF1),
runs the registry op's shape rule on the inputs' static specs, and appends a frozen
``graphs.ir.Node``. Ids increase in creation order, so the id order is a topological order.
Runtime gradient rules call ``R.<op>`` on Tensors; that lands in :meth:`Graph.apply` too,
through ``Tensor.__tapeflow_apply__``.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ..graphs import ir
from ..runtime import Generator, OpDef, ShapeError, Spec
from ..runtime import dtypes as dt
from ..runtime.registry import Shape
from .autopack import holds_tensor, pack
from .conventions import convert_value, format_tf_shape, type_name, user_site
from .conventions import tf_dtype_of as tf_dtype_of  # (sources.py, compat_ops.py take it here)
from .tensor import Operation, Tensor

#: TF1's graph seed when only an op seed is set (tensorflow/python/framework/random_seed.py).
DEFAULT_GRAPH_SEED = 87654321

class Graph:
    """A TF1 graph: append-only IR nodes plus the Operation/Tensor handles that name them.

    Example:
        >>> import tapeflow.static as tf
        >>> g = tf.Graph()
        >>> with g.as_default():
        ...     a = tf.placeholder(tf.float32, [None, 3], name="a")
        ...     b = tf.matmul(a, tf.ones([3, 5]))
        >>> b
        <Tensor 'MatMul:0' shape=(?, 5) dtype=float32>
    """

    #: the enclosing graph of a loop or branch body being traced (static/control_flow.py)
    outer: Graph | None = None

    def __init__(self) -> None:
        self._nodes: dict[int, ir.Node] = {}
        self._tensors: dict[int, Tensor] = {}
        self._ops: dict[str, Operation] = {}
        self._name_counts: dict[str, int] = {}
        self._scope = ""
        self._role = "forward"
        self._control_stack: list[tuple[int, ...]] = []
        #: node id -> ids that must run whenever it runs (from ``control_dependencies``)
        self.control_deps: dict[int, tuple[int, ...]] = {}
        self._collections: dict[str, list[Any]] = {}
        self.seed: int | None = None
        self._finalized = False

    # ---- defaults and contexts ---------------------------------------------------------

    @contextlib.contextmanager
    def as_default(self) -> Iterator[Graph]:
        """Makes this the default graph of this thread inside a ``with`` block."""
        stack = _defaults.stack
        stack.append(self)
        try:
            yield self
        finally:
            stack.pop()

    @contextlib.contextmanager
    def name_scope(self, name: str | None) -> Iterator[str]:
        """Prefixes new op names with ``name/`` (made unique: ``layer``, ``layer_1``).

        ``None`` or ``""`` resets to the top level; a name ending in ``/`` is used as is.
        """
        previous = self._scope
        if not name:
            scope = ""
        elif name.endswith("/"):
            scope = name
        else:
            scope = self.unique_name(name) + "/"
        self._scope = scope
        try:
            yield scope
        finally:
            self._scope = previous

    @contextlib.contextmanager
    def role(self, role: str) -> Iterator[None]:
        """Tags nodes created inside with ``role`` (forward, backward, update)."""
        previous, self._role = self._role, role
        try:
            yield
        finally:
            self._role = previous

    @contextlib.contextmanager
    def control_dependencies(self, control_inputs: Sequence[Any] | None) -> Iterator[None]:
        """Ops created inside also run ``control_inputs`` (``None`` clears the outer ones)."""
        saved = self._control_stack
        if control_inputs is None:
            self._control_stack = []
        else:
            targets: list[int] = []
            for item in control_inputs:
                targets.extend(self.targets_of(item))
            self._control_stack = saved + [tuple(targets)]
        try:
            yield
        finally:
            self._control_stack = saved

    def finalize(self) -> None:
        """Forbids adding ops from now on (TF1 ``Graph.finalize``)."""
        self._finalized = True

    @property
    def finalized(self) -> bool:
        return self._finalized

    # ---- names ------------------------------------------------------------------------

    def unique_name(self, name: str) -> str:
        """``scope/name``, or ``scope/name_1``, ``_2``... when taken (TF1 numbering)."""
        full = self._scope + name
        count = self._name_counts.get(full, 0)
        self._name_counts[full] = count + 1
        if count > 0:
            base = full
            while full in self._name_counts:
                full = f"{base}_{count}"
                count += 1
            self._name_counts[full] = 1
        return full

    # ---- adding nodes ---------------------------------------------------------------------

    def _control_targets(self) -> tuple[int, ...]:
        return tuple(dict.fromkeys(i for group in self._control_stack for i in group))

    def add_node(self, kind: str, spec: Spec, name: str, type_: str, *, op: str = "",
                 inputs: Sequence[Tensor] = (), attrs: dict[str, Any] | None = None,
                 value: Any = None, out: Tensor | None = None) -> Tensor:
        """Appends one IR node and its Operation/Tensor; ``name`` is used as given."""
        if self._finalized:
            raise RuntimeError("Graph is finalized and cannot be modified.")
        node_id = len(self._nodes)
        node = ir.Node(id=node_id, kind=kind, op=op, inputs=tuple(t.node_id for t in inputs),
                       attrs=dict(attrs or {}), shape=spec.shape, dtype=spec.dtype, name=name,
                       site=user_site(), role=self._role, value=value)
        control = self._control_targets()
        operation = Operation(self, name, type_, list(inputs), node_id, (node_id,),
                              [self._tensors[i].op for i in control if i in self._tensors])
        tensor = out if out is not None else Tensor.__new__(Tensor)
        Tensor.__init__(tensor, operation, 0, spec.dtype, spec.shape)
        operation.outputs.append(tensor)
        self._nodes[node_id] = node
        self._tensors[node_id] = tensor
        self._ops[name] = operation
        if control:
            self.control_deps[node_id] = control
        return tensor

    def apply(self, opdef: OpDef, args: Sequence[Any], attrs: dict[str, Any],
              name: str | None = None, type_: str | None = None) -> Tensor:
        """Adds a call of registry op ``opdef`` on ``args``; shape errors name op and shapes."""
        if opdef.arity is not None and len(args) != opdef.arity:
            raise TypeError(f"op '{opdef.name}' takes {opdef.arity} inputs, got {len(args)}")
        like = self._operand_dtype(opdef, args)
        promoted = set(opdef.promote_inputs if opdef.promote_inputs is not None
                       else range(len(args)))
        inputs: list[Tensor] = []
        for i, arg in enumerate(args):
            if isinstance(arg, Tensor):
                if arg.graph is not self:
                    raise ValueError(f"{arg} must be from the same graph as the other inputs "
                                     f"of '{opdef.name}' (it belongs to another tf.Graph)")
                inputs.append(arg)
            elif holds_tensor(arg):  # TF1 packs a list holding tensors: tf.stop_gradient([y])
                inputs.append(pack(self, arg))
            else:
                # an array given to an op that does not promote keeps its own dtype (the
                # integer indices of take must not become the params' float dtype)
                explicit = opdef.promote is None and isinstance(arg, (np.ndarray, np.generic))
                target = like if (like is not None and i in promoted and not explicit) else None
                inputs.append(self.constant(convert_value(arg, target)))
        type_ = type_ or type_name(opdef.name)
        op_name = self.unique_name(name or type_)
        specs = [t.spec for t in inputs]
        try:
            spec = opdef.infer(*specs, **attrs)
        except ShapeError as exc:
            shown = ", ".join(format_tf_shape(s.shape) for s in specs)
            raise ShapeError(f"{exc} for '{op_name}' (op: '{type_}') with input shapes: "
                             f"{shown}.") from None
        return self.add_node("call", spec, op_name, type_, op=opdef.name, inputs=inputs,
                             attrs=attrs)

    @staticmethod
    def _operand_dtype(opdef: OpDef, args: Sequence[Any]) -> dt.DType | None:
        indices = opdef.promote_inputs if opdef.promote_inputs is not None else range(len(args))
        for i in indices:
            arg = args[i] if i < len(args) else None
            if isinstance(arg, Tensor):
                return arg.dtype
        # no tensor: as in TF, a float array's dtype is the hint for the other operands, so
        # tf.multiply(float64_array, 0.8) multiplies by 0.8 in float64, not float32's 0.8
        for i in indices:
            arg = args[i] if i < len(args) else None
            if isinstance(arg, (np.ndarray, np.generic)) and arg.dtype.kind == "f":
                return dt.as_dtype(arg.dtype)
        return None

    def constant(self, array: np.ndarray, name: str = "Const") -> Tensor:
        """A const node holding ``array`` (already of the intended dtype)."""
        spec = Spec(tuple(array.shape), dt.as_dtype(array.dtype))
        return self.add_node("const", spec, self.unique_name(name), "Const", value=array)

    def placeholder(self, dtype: dt.DType, shape: Shape, name: str | None) -> Tensor:
        spec = Spec(shape, dtype)
        return self.add_node("placeholder", spec, self.unique_name(name or "Placeholder"),
                             "Placeholder")

    def group(self, targets: Sequence[int], name: str, control: list[Operation],
              exact: bool = False) -> Operation:
        """An op with no node of its own: running it runs ``targets`` (TF1 ``group``).

        ``exact``: ``name`` is already unique (a name scope's own name), use it as is.
        """
        op_name = name if exact else self.unique_name(name)
        all_targets = tuple(dict.fromkeys(list(targets) + list(self._control_targets())))
        operation = Operation(self, op_name, "NoOp", [], None, all_targets, control)
        self._ops[op_name] = operation
        return operation

    def random_generator(self, op_seed: int | None) -> Generator:
        """A generator seeded from (graph seed, op seed), as TF1 derives op seeds.

        The same seeds give the same numbers every time a graph is built; with neither
        set the numbers differ from run to run.
        """
        if self.seed is None and op_seed is None:
            return Generator(None)
        graph_seed = DEFAULT_GRAPH_SEED if self.seed is None else int(self.seed)
        # TF1 uses the graph's op count as the op seed when only the graph seed is set
        op = len(self._nodes) if op_seed is None else int(op_seed)
        seed = np.random.SeedSequence([graph_seed & 0xFFFFFFFF, op & 0xFFFFFFFF])
        return Generator(int(seed.generate_state(1, np.uint64)[0]))

    def refine_shape(self, tensor: Tensor, shape: Shape) -> None:
        node = self._nodes[tensor.node_id]
        self._nodes[tensor.node_id] = node.with_(shape=shape)
        Tensor.__init__(tensor, tensor.op, tensor.value_index, tensor.dtype, shape)

    # ---- lookups ------------------------------------------------------------------------

    def node(self, node_id: int) -> ir.Node:
        return self._nodes[node_id]

    @property
    def nodes(self) -> dict[int, ir.Node]:
        """The IR nodes by id (append-only; read it, don't change it)."""
        return self._nodes

    def tensor(self, node_id: int) -> Tensor:
        return self._tensors[node_id]

    def targets_of(self, item: Any) -> tuple[int, ...]:
        """The node ids that running ``item`` (a Tensor, Variable or Operation) runs."""
        if isinstance(item, Tensor):
            return (item.node_id,)
        if isinstance(item, Operation):
            return item.targets
        raise TypeError(f"expected a Tensor or an Operation, got {item!r}")

    def get_operations(self) -> list[Operation]:
        return list(self._ops.values())

    def get_operation_by_name(self, name: str) -> Operation:
        try:
            return self._ops[name]
        except KeyError:
            raise KeyError(f"The name '{name}' refers to an Operation not in the graph.") from None

    def get_tensor_by_name(self, name: str) -> Tensor:
        op_name, _, index = name.rpartition(":")
        if not op_name or not index.isdigit():
            raise ValueError(f"The name '{name}' looks like an (invalid) Operation name, not "
                             "a Tensor. Tensor names must be of the form "
                             "\"<op_name>:<output_index>\".")
        op = self.get_operation_by_name(op_name)
        if int(index) >= len(op.outputs):
            raise KeyError(f"The name '{name}' refers to a Tensor which does not exist. The "
                           f"operation, '{op_name}', exists but only has {len(op.outputs)} "
                           "outputs.")
        return op.outputs[int(index)]

    def consumers(self, tensor: Tensor) -> list[Operation]:
        nid = tensor.node_id
        return [self._tensors[n.id].op for n in self._nodes.values() if nid in n.inputs]

    def add_to_collection(self, key: str, value: Any) -> None:
        self._collections.setdefault(key, []).append(value)

    def get_collection(self, key: str) -> list[Any]:
        return list(self._collections.get(key, []))

    # ---- views of the IR ----------------------------------------------------------------------

    def as_ir(self, outputs: Sequence[Any] = ()) -> ir.Graph:
        """The whole graph as a ``graphs.ir.Graph``; ``outputs`` are tensors or ops."""
        ids = [i for item in outputs for i in self.targets_of(item)]
        return ir.Graph(tuple(self._nodes.values()), tuple(dict.fromkeys(ids)))

    def format(self) -> str:
        """A readable printout of every node, one a line (like a jaxpr or torch.fx graph)."""
        return self.as_ir().format()

    def to_networkx(self) -> Any:
        return ir.to_networkx(self.as_ir())

    def __repr__(self) -> str:
        return f"<tapeflow.static.Graph with {len(self._nodes)} nodes>"


class _DefaultGraphs(threading.local):
    """Each thread's stack of ``as_default()`` graphs (TF1 keeps it per thread): a graph
    made default in one thread never receives another thread's ops."""

    def __init__(self) -> None:
        self.stack: list[Graph] = []


_global_default = Graph()
_defaults = _DefaultGraphs()


def get_default_graph() -> Graph:
    """The graph new ops go to: this thread's innermost ``as_default()`` graph, else the
    global default graph (one per process: a thread that made no graph default uses it).

    Example:
        >>> import threading
        >>> g, seen = Graph(), []
        >>> with g.as_default():
        ...     t = threading.Thread(target=lambda: seen.append(get_default_graph()))
        ...     t.start(); t.join()
        ...     get_default_graph() is g, seen[0] is g
        (True, False)
    """
    stack = _defaults.stack
    return stack[-1] if stack else _global_default


def reset_default_graph() -> None:
    """Replaces the global default graph with a new, empty one (not inside ``as_default``)."""
    global _global_default
    if _defaults.stack:
        raise RuntimeError("Do not use tf.reset_default_graph() to clear nested graphs. If "
                           "you need a cleared graph, exit the nesting and create a new graph.")
    _global_default = Graph()


def graph_of(values: Sequence[Any]) -> Graph:
    """The graph of the first Tensor among ``values``; the default graph when there is none.

    While a loop or branch body is traced, the body's graph (outer tensors are captured)."""
    default = get_default_graph()
    if default.outer is not None:
        return default
    for v in values:
        if isinstance(v, Tensor):
            return v.graph
    return get_default_graph()


def _dispatch(op: OpDef, args: Sequence[Any], attrs: dict[str, Any]) -> Tensor:
    # runtime R.<op>(...) on Tensors (inside gradient rules and composites) adds a node
    return graph_of(args).apply(op, args, attrs)


Tensor.__tapeflow_apply__ = staticmethod(_dispatch)  # type: ignore[attr-defined]
