"""The numerics check (``tf.debugging.enable_check_numerics``): name the first op that made NaN/Inf.

Opt in per session with ``tf.Session(options=tf.CompileOptions(check_numerics=True))``, or
for every session created afterwards with ``tf.debugging.enable_check_numerics()``. Such a
session runs each pruned graph with :class:`CheckedProgram`: node by node, on the same
registry kernels, with every floating value checked as soon as it is made. The first
non-finite value raises :class:`NumericsError` (an ``InvalidArgumentError``) naming the
node, its op and the user's line that built it, or the placeholder/variable that held the
bad value. The check runs before the session commits any assignment, so a failing
training step changes no variable.

It costs a full pass over every value, and no memory planning is done: it is a debugging
mode, as TF's is.

Example:
    >>> import numpy as np, tapeflow.static as tf
    >>> with tf.Graph().as_default():
    ...     x = tf.placeholder(tf.float64, [2], name="x")
    ...     y = tf.reduce_sum(tf.log(x), name="total")
    ...     sess = tf.Session(options=tf.CompileOptions(check_numerics=True))
    ...     try:
    ...         sess.run(y, {x: [1.0, -1.0]})
    ...     except tf.errors.InvalidArgumentError as exc:
    ...         print(exc.op_name)
    Log
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..graphs.ir import Graph, Node
from ..runtime import evaluate, xp_for
from ..runtime.backend import canonical_device, to_device
from ..runtime.registry import format_shape
from .errors import InvalidArgumentError

_ENABLED = [False]


class NumericsError(InvalidArgumentError):
    """A value of the run is NaN or infinite; ``op_name`` is the node that first made one."""


def enable_check_numerics() -> None:
    """Sessions created from now on check every value for NaN/Inf (TF2's spelling).

    Example:
        >>> enable_check_numerics(); is_check_numerics_enabled()
        True
        >>> disable_check_numerics()
    """
    _ENABLED[0] = True


def disable_check_numerics() -> None:
    """Sessions created from now on run without the check (the default)."""
    _ENABLED[0] = False


def is_check_numerics_enabled() -> bool:
    return _ENABLED[0]


def _bad(xp: Any, value: Any) -> str | None:
    if getattr(value, "dtype", None) is None or value.dtype.kind not in "fc":
        return None
    if bool(xp.isnan(value).any()):
        return "NaN"
    if bool(xp.isinf(value).any()):
        return "Inf"
    return None


class CheckedProgram:
    """Runs a pruned graph node by node and stops at the first NaN/Inf (Program contract).

    Example:
        >>> # values, updates = CheckedProgram(pruned, feed_ids, options).run(feeds, variables)
    """

    def __init__(self, graph: Graph, feed_ids: tuple[int, ...], options: Any) -> None:
        self.graph = graph
        self.feed_ids = feed_ids
        self.device = canonical_device(getattr(options, "device", "cpu"))
        self._xp = xp_for(self.device)

    def run(self, feeds: Mapping[int, Any], variables: Mapping[int, Any]
            ) -> tuple[list[Any], dict[int, Any]]:
        """(values of the outputs in order, {variable id: new value}); raises NumericsError."""
        env: dict[int, Any] = {}
        updates: dict[int, Any] = {}
        xp = self._xp
        for node in self.graph.nodes:
            if node.kind == "call":
                args = [env[i] for i in node.inputs]
                try:
                    value = evaluate(node.opdef, args, dict(node.attrs))
                except Exception as exc:  # noqa: BLE001 - re-raised naming the node
                    raise InvalidArgumentError(f"{exc}\n\t [[node {node.name} (op {node.op}"
                                               f"{_built_at(node)})]]", op_name=node.name
                                               ) from exc
                if node.opdef.kind == "random" and self.device != "cpu":
                    value = to_device(value, self.device)
            elif node.kind == "placeholder":
                value = feeds[node.id]
            elif node.kind == "variable":
                if node.id not in variables:  # only assigned (an initialiser): not read
                    continue
                value = variables[node.id]
            elif node.kind == "const":
                value = xp.asarray(node.value)
            else:  # assign (variable, value): lands after the run; reads see the old value
                env[node.id] = updates[node.inputs[0]] = env[node.inputs[1]]
                continue  # (a value checked when it was made)
            found = _bad(xp, value)
            if found is not None:
                raise self._error(node, value, found, env)
            env[node.id] = value
        return [env.get(o) for o in self.graph.outputs], updates

    def _error(self, node: Node, value: Any, found: str, env: Mapping[int, Any]
               ) -> NumericsError:
        count = int(self._xp.count_nonzero(~self._xp.isfinite(value)))
        where = f"{count} of {value.size} elements of shape {format_shape(tuple(value.shape))}"
        if node.kind == "call":
            shown = ", ".join(f"{self.graph[i].name or '%' + str(i)} "
                              f"{format_shape(tuple(env[i].shape))}" for i in node.inputs)
            text = (f"Tensor had {found} values: the output of node '{node.name}' (op "
                    f"{node.op}{_built_at(node)}) is the first value of this run that is not "
                    f"finite ({where}); its inputs ({shown}) were finite.")
        else:
            text = (f"Tensor had {found} values: the {node.kind} '{node.name}' holds "
                    f"{found} ({where}) before any op ran.")
        return NumericsError(f"{text} No variable was changed.", op_name=node.name)


def _built_at(node: Node) -> str:
    return f", built at {node.site}" if node.site else ""
