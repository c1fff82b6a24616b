"""``tf.while_loop`` and ``tf.cond``: one graph node that owns its body graphs.

A body is traced once, like TF1 does, by calling the user's function on stand-in tensors:
each loop variable becomes a placeholder of a fresh :class:`BodyGraph`, and every tensor
of an enclosing graph that the function uses is *captured*: it becomes one more
placeholder of the body and one more input of the loop node (JAX's closure conversion).
The result is a single ``while`` (or ``cond``) node in the outer graph whose attributes
hold the bodies (``graphs/control.py``), and one ``control_output`` per result.

TF1's rules are checked while tracing: a loop variable must keep its dtype, and its shape
must fit its shape invariant (by default the shape it entered with); the two branches of a
``cond`` must give the same structure and dtypes.

Example:
    >>> import tapeflow.static as tf
    >>> with tf.Graph().as_default():
    ...     i = tf.constant(0)
    ...     total = tf.constant(1.0)
    ...     _, total = tf.while_loop(lambda i, t: i < 10, lambda i, t: (i + 1, t * 2.0),
    ...                              [i, total])
    ...     with tf.Session() as sess:
    ...         print(sess.run(total))
    1024.0
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..graphs import ir
from ..graphs.control import COND, OUTPUT, WHILE, Body, compatible
from ..runtime import OpDef, Spec
from ..runtime import dtypes as dt
from ..runtime.registry import format_shape
from . import nest
from .graph import Graph, get_default_graph
from .sources import convert_to_tensor
from .tensor import Tensor, TensorShape
from .tensor_array import TensorArray

__all__ = ["cond", "while_loop"]


class BodyGraph(Graph):
    """The graph a loop or branch body is traced into; outer tensors become its inputs.

    Attributes:
        outer: the enclosing graph.
        captured: the outer tensors the body uses, in the order they were first used.
    """

    def __init__(self, outer: Graph, name: str) -> None:
        super().__init__()
        self.outer = outer
        self.name = name
        self.seed = outer.seed
        self.captured: list[Tensor] = []
        self._inner: dict[int, Tensor] = {}  # outer node id -> its placeholder here

    def capture(self, tensor: Tensor) -> Tensor:
        """This body's stand-in for ``tensor`` of an enclosing graph."""
        if tensor.graph is self:
            return tensor
        outer = self.outer
        assert outer is not None
        if tensor.graph is not outer:
            if not isinstance(outer, BodyGraph):
                raise ValueError(f"{tensor} belongs to another tf.Graph than the loop "
                                 f"'{self.name}'")
            tensor = outer.capture(tensor)  # (a loop nested in a loop: capture level by level)
        inner = self._inner.get(tensor.node_id)
        if inner is None:
            name = tensor.op.name.replace("/", "_")
            inner = self.placeholder(tensor.dtype, tensor.spec.shape, f"captured/{name}")
            self._inner[tensor.node_id] = inner
            self.captured.append(outer.tensor(tensor.node_id))
        return inner

    def apply(self, opdef: OpDef, args: Sequence[Any], attrs: dict[str, Any],
              name: str | None = None, type_: str | None = None) -> Tensor:
        args = [self.capture(a) if isinstance(a, Tensor) else a for a in args]
        return super().apply(opdef, args, attrs, name, type_)

    def add_node(self, kind: str, spec: Spec, name: str, type_: str, **kwargs: Any) -> Tensor:
        if kind in ("variable", "assign"):
            raise ValueError(f"'{name}': create variables before the loop '{self.name}', not "
                             "inside its body (tapeflow does not lift them out)")
        return super().add_node(kind, spec, name, type_, **kwargs)

    def as_body(self, params: Sequence[Tensor], outputs: Sequence[Tensor],
                captured: Sequence[Tensor]) -> Body:
        """The traced body: ``params`` then a placeholder per entry of ``captured``."""
        extra = [self.capture(t) for t in captured]
        nodes = tuple(self.nodes.values())
        graph = ir.Graph(nodes, tuple(t.node_id for t in outputs))
        return Body(graph, tuple(t.node_id for t in [*params, *extra]), self.name)


def _trace(outer: Graph, name: str, fn: Callable[..., Any], template: Any,
           specs: Sequence[Spec], arrays: dict[int, TensorArray] | None = None
           ) -> tuple[BodyGraph, list[Tensor], list[Tensor], Any]:
    """Calls ``fn`` on stand-ins of ``specs`` packed as ``template``: (graph, params,
    flat results as tensors of the body, the results' structure). The leaves numbered in
    ``arrays`` are TensorArrays: the body sees a TensorArray around the stand-in."""
    body = BodyGraph(outer, name)
    arrays = arrays or {}
    with body.as_default(), body.name_scope(name):
        params = [body.placeholder(s.dtype, s.shape, f"arg{k}") for k, s in enumerate(specs)]
        wrapped = [arrays[k]._like(p) if k in arrays else p for k, p in enumerate(params)]
        args = nest.pack(template, wrapped) if template is not None else ()
        result = fn(*args) if isinstance(args, (list, tuple)) else fn(args)
        leaves, structure = nest.flatten(result)
        leaves = [x.stack() if isinstance(x, TensorArray) else x for x in leaves]
        results = [body.capture(convert_to_tensor(x)) if isinstance(x, Tensor)
                   else convert_to_tensor(x) for x in leaves]
    return body, params, results, structure


def _loop_var_checks(loop_vars: Sequence[Tensor], invariants: Sequence[Any],
                     results: Sequence[Tensor]) -> None:
    """TF1's errors for a loop variable whose dtype or shape changes in the body."""
    if len(results) != len(loop_vars):
        raise ValueError(f"The two structures don't have the same number of elements: the "
                         f"loop has {len(loop_vars)} variables, the body returned "
                         f"{len(results)} values")
    for var, shape, out in zip(loop_vars, invariants, results, strict=True):
        if out.dtype is not var.dtype:
            raise TypeError(f"Loop var {var.name} enters the loop with type "
                            f"<dtype: '{var.dtype.name}'>, but has type "
                            f"<dtype: '{out.dtype.name}'> after 1 iteration.")
        if not compatible(out.spec.shape, shape):
            raise ValueError(
                f"Input tensor '{var.name}' enters the loop with shape "
                f"{TensorShape(var.spec.shape)}, but has shape {TensorShape(out.spec.shape)} "
                "after one iteration. To allow the shape to vary across iterations, use the "
                "`shape_invariants` argument of tf.while_loop to specify a less-specific shape.")


def _invariants(loop_vars: Sequence[Tensor], shape_invariants: Any) -> list[Any]:
    if shape_invariants is None:
        return [v.spec.shape for v in loop_vars]
    given = [TensorShape(s).as_tuple() for s in nest.flatten(shape_invariants)[0]] \
        if not isinstance(shape_invariants, TensorShape) else [shape_invariants.as_tuple()]
    if len(given) != len(loop_vars):
        raise ValueError(f"shape_invariants has {len(given)} shapes for {len(loop_vars)} "
                         "loop variables")
    for var, shape in zip(loop_vars, given, strict=True):
        if not compatible(var.spec.shape, shape):
            raise ValueError(f"The shape invariant specified for {var.name} is not compatible "
                             f"with the initial shape of the loop variable. It enters the loop "
                             f"with shape {TensorShape(var.spec.shape)}, but the specified "
                             f"shape invariant is {TensorShape(shape)}.")
    return given


def _outputs(outer: Graph, node: Tensor, inputs: Sequence[Tensor], count: int,
             bodies: tuple[Body, ...], loop: bool, name: str) -> list[Tensor]:
    with outer.name_scope(name + "/"):
        return [outer.apply(OUTPUT, [node, *inputs], {"index": k, "bodies": bodies,
                                                      "loop": loop}, name="Exit", type_="Exit")
                for k in range(count)]


def while_loop(cond: Callable[..., Any], body: Callable[..., Any], loop_vars: Any,
               shape_invariants: Any = None, maximum_iterations: int | None = None,
               back_prop: bool = True, name: str = "while",
               return_same_structure: bool = False) -> Any:
    """Repeats ``body`` while ``cond`` holds: ``while cond(*v): v = body(*v)``; returns ``v``.

    Args:
        cond: loop variables -> a boolean scalar tensor.
        body: loop variables -> new loop variables (same structure, dtypes and shapes
            that fit ``shape_invariants``).
        loop_vars: a (nested) list, tuple or namedtuple of tensors.
        shape_invariants: per loop variable, a shape that its value may take (``None``
            dims vary); by default the shape it enters with.
        maximum_iterations: at most this many iterations (a Python int).
        back_prop: False: no gradient flows back through the loop (and nothing is saved).
        name: the name of the loop node.
        return_same_structure: with False (TF1's default), a single loop variable comes back
            as a tensor rather than a one-element list.

    Returns:
        The loop variables after the last iteration, in the structure of ``loop_vars``.

    Example:
        >>> import tapeflow.static as tf
        >>> with tf.Graph().as_default():
        ...     n = tf.while_loop(lambda n: n < 100, lambda n: n * 3, [tf.constant(1)])
        ...     print(tf.Session().run(n))
        243
    """
    if not callable(cond) or not callable(body):
        raise TypeError("cond and body must be callable")
    if maximum_iterations is not None and not isinstance(maximum_iterations, int):
        raise TypeError(f"maximum_iterations must be a Python int here, got {maximum_iterations!r}")
    leaves, template = nest.flatten(loop_vars)
    if not leaves:
        raise ValueError("No loop variables provided")
    arrays = {k: v for k, v in enumerate(leaves) if isinstance(v, TensorArray)}
    tensors = [v.stack() if isinstance(v, TensorArray) else convert_to_tensor(v)
               for v in leaves]
    default = get_default_graph()
    outer = default if default.outer is not None else tensors[0].graph
    if isinstance(outer, BodyGraph):  # a loop inside a body: its inputs are that body's
        tensors = [outer.capture(t) for t in tensors]
    shapes = _invariants(tensors, shape_invariants)
    specs = [Spec(s, t.dtype) for s, t in zip(shapes, tensors, strict=True)]
    full = template if isinstance(loop_vars, (list, tuple)) else (tuple, [template])
    name = outer.unique_name(name)
    cond_g, cond_params, (test, *more), _ = _trace(outer, "cond", cond, full, specs, arrays)
    if more or test.dtype is not dt.bool_ or not compatible(test.spec.shape, ()):
        raise TypeError(f"while_loop '{name}': cond must return one boolean scalar, got "
                        f"{test.dtype.name}{format_shape(test.spec.shape)}")
    body_g, body_params, results, structure = _trace(outer, "body", body, full, specs, arrays)
    if len(tensors) == 1 and structure == nest.LEAF:
        structure = template
    _loop_var_checks(tensors, shapes, results)
    captured = list({t.node_id: t for t in [*cond_g.captured, *body_g.captured]}.values())
    bodies = (cond_g.as_body(cond_params, [test], captured),
              body_g.as_body(body_params, results, captured))
    inputs = [*tensors, *captured]
    node = outer.apply(WHILE, inputs, {"cond": bodies[0], "body": bodies[1],
                                       "n_vars": len(tensors),
                                       "maximum_iterations": maximum_iterations,
                                       "back_prop": bool(back_prop)}, name=name)
    outputs: list[Any] = _outputs(outer, node, inputs, len(tensors), bodies, True, name)
    outputs = [arrays[k]._like(o) if k in arrays else o for k, o in enumerate(outputs)]
    packed = nest.pack(template, outputs)
    if not return_same_structure and isinstance(packed, (list, tuple)) and len(packed) == 1:
        return packed[0]
    return packed


def cond(pred: Any, true_fn: Callable[[], Any], false_fn: Callable[[], Any],
         name: str = "cond") -> Any:
    """``true_fn()`` if ``pred`` else ``false_fn()``, decided when the graph runs.

    Only the branch taken runs. Both branches must return the same structure of tensors
    with the same dtypes (shapes may differ: where they do, the result's dimension is
    unknown).

    Example:
        >>> import tapeflow.static as tf
        >>> with tf.Graph().as_default():
        ...     x = tf.placeholder(tf.float32, [])
        ...     y = tf.cond(x > 0, lambda: x * 2.0, lambda: -x)
        ...     print(tf.Session().run(y, {x: -3.0}))
        3.0
    """
    if isinstance(pred, (bool, int)) or not isinstance(pred, Tensor):
        raise TypeError("pred must not be a Python bool")
    if pred.dtype is not dt.bool_ or not compatible(pred.spec.shape, ()):
        raise ValueError(f"cond: pred must be a boolean scalar, got {pred}")
    outer = get_default_graph() if get_default_graph().outer is not None else pred.graph
    if isinstance(outer, BodyGraph):
        pred = outer.capture(pred)
    name = outer.unique_name(name)
    true_g, _, a, a_structure = _trace(outer, "true", lambda: true_fn(), None, [])
    false_g, _, b, b_structure = _trace(outer, "false", lambda: false_fn(), None, [])
    if a_structure != b_structure or len(a) != len(b):
        raise ValueError("true_fn and false_fn arguments to tf.cond must have the same "
                         "number, type, and overall structure of return values.")
    for x, y in zip(a, b, strict=True):
        if x.dtype is not y.dtype:
            raise ValueError(f"Outputs of true_fn and false_fn must have the same type: "
                             f"{x.dtype.name}, {y.dtype.name}")
    captured = list({t.node_id: t for t in [*true_g.captured, *false_g.captured]}.values())
    bodies = (true_g.as_body([], a, captured), false_g.as_body([], b, captured))
    inputs = [pred, *captured]
    node = outer.apply(COND, inputs, {"true_body": bodies[0], "false_body": bodies[1]},
                       name=name)
    outputs = _outputs(outer, node, inputs, len(a), bodies, False, name)
    return nest.pack(a_structure, outputs)
