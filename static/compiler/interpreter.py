"""The plain interpreter: runs a specialised graph node by node on the registry kernels.

A loop in the spirit of torch.fx's Interpreter: each call node evaluates its kernel on its
inputs' arrays, keeping every value of the run (no memory planning, no in-place writes).
It is the Program of ``CompileOptions(optimize=False, plan_memory=False)`` and, with the
:func:`check_finite` hook, of the numerics check (``check_numerics``): every value is
checked as soon as it is made, and the first NaN/Inf raises :class:`NumericsError` naming
the node, its op and the user's line. Either way the run's assignments land only after
it succeeded, so a failing training step changes no variable.

Example:
    >>> # source = specialize(graph, specs)
    >>> # program = Interpreter(source, "cpu", check_finite(source.graph, "cpu"))
    >>> # values, updates = program.run({feed_id: x}, {var_id: w})
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ...graphs.ir import Graph, Node
from ...runtime import Spec, evaluate, xp_for
from ...runtime.backend import to_device
from ...runtime.registry import OpDef, format_shape, operand_dtype, shape_error
from ..errors import InvalidArgumentError

if TYPE_CHECKING:
    from .pipeline import Specialized

#: called with (node, its value, the values so far) after each value is made
Check = Callable[[Node, Any, Mapping[int, Any]], None]


class NumericsError(InvalidArgumentError):
    """A value of the run is NaN or infinite; ``op_name`` is the node that first made one."""


class Interpreter:
    """Runs a :class:`Specialized` graph one node after another (the Program contract).

    Args:
        source: the pruned, specialised graph and what it reads.
        device: "cpu" or "gpu".
        check: a hook run on every value as it is made (sources included, assigns not);
            it raises to stop the run.
    """

    fresh_results: ClassVar[bool] = False  # a fetched feed or variable is handed back as is

    def __init__(self, source: Specialized, device: str, check: Check | None = None) -> None:
        self.source = source
        self.graph = graph = source.graph
        self.device = device
        self._xp = xp = xp_for(device)
        self._check = check
        self._steps: list[tuple[Node, Any]] = []
        for node in graph.nodes:
            payload: Any = None
            if node.kind == "call":
                opdef = node.opdef
                # kernels are called directly when no input needs a cast (the usual case:
                # the graph builder already gave Python numbers the other operand's dtype)
                payload = (opdef, not _needs_promotion(opdef, [graph[i].dtype
                                                              for i in node.inputs]))
            elif node.kind == "const":
                payload = xp.asarray(node.value) if device != "cpu" else node.value
            self._steps.append((node, payload))

    def run(self, feeds: Mapping[int, Any], variables: Mapping[int, Any]
            ) -> tuple[list[Any], dict[int, Any]]:
        """(values of the outputs in order, {variable id: new value})."""
        env: dict[int, Any] = {}
        updates: dict[int, Any] = {}
        check = self._check
        for node, payload in self._steps:
            kind = node.kind
            if kind == "call":
                value = self._call(node, payload, env)
            elif kind == "placeholder":
                value = feeds[node.id]
            elif kind == "variable":
                if node.id not in variables:  # only assigned (an initialiser): not read
                    continue
                value = variables[node.id]
            elif kind == "const":
                value = payload
            else:  # assign (variable, value): lands after the run; reads see the old value
                env[node.id] = updates[node.inputs[0]] = env[node.inputs[1]]
                continue  # (a value checked when it was made)
            if check is not None:
                check(node, value, env)
            env[node.id] = value
        return [env.get(o) for o in self.graph.outputs], updates

    def _call(self, node: Node, payload: tuple[OpDef, bool], env: Mapping[int, Any]) -> Any:
        opdef, direct = payload
        args = [env[i] for i in node.inputs]
        try:
            if direct:
                value = opdef.kernel(self._xp, *args, **node.attrs)
                if isinstance(value, np.generic):  # numpy gives scalars for 0-d
                    value = self._xp.asarray(value)
            else:
                value = evaluate(opdef, args, dict(node.attrs))
        except Exception as exc:  # noqa: BLE001 - re-raised naming the node
            raise self._error(node, exc) from exc
        if opdef.kind == "random" and self.device != "cpu":
            value = to_device(value, self.device)
        return value

    def _error(self, node: Node, exc: Exception) -> InvalidArgumentError:
        """The failure re-raised as TF1 does, naming the node, its op and where it was built."""
        if isinstance(exc, (ValueError, IndexError, TypeError)):
            # the registry's words for a kernel failure: the op and its input shapes
            specs = [Spec(self.graph[i].shape, self.graph[i].dtype) for i in node.inputs]
            exc = shape_error(node.opdef, specs, dict(node.attrs), exc)
        return InvalidArgumentError(f"{exc}\n\t [[node {node.name} (op {node.op}"
                                    f"{_built_at(node)})]]", op_name=node.name)


def _needs_promotion(opdef: OpDef, dtypes: Sequence[Any]) -> bool:
    """Whether ``evaluate`` would cast any input of ``opdef`` for these input dtypes."""
    common = operand_dtype(opdef, list(dtypes), [None] * len(dtypes))
    if common is None:
        return False
    indices = opdef.promote_inputs if opdef.promote_inputs is not None else range(len(dtypes))
    return any(dtypes[i] is not common for i in indices if i < len(dtypes))


def check_finite(graph: Graph, device: str) -> Check:
    """The numerics check's hook for ``graph``: raises NumericsError at the first NaN/Inf."""
    xp = xp_for(device)

    def check(node: Node, value: Any, env: Mapping[int, Any]) -> None:
        if getattr(value, "dtype", None) is None or value.dtype.kind not in "fc":
            return
        found = ("NaN" if bool(xp.isnan(value).any())
                 else "Inf" if bool(xp.isinf(value).any()) else None)
        if found is None:
            return
        count = int(xp.count_nonzero(~xp.isfinite(value)))
        where = f"{count} of {value.size} elements of shape {format_shape(tuple(value.shape))}"
        if node.kind == "call":
            shown = ", ".join(f"{graph[i].name or '%' + str(i)} "
                              f"{format_shape(tuple(env[i].shape))}" for i in node.inputs)
            text = (f"Tensor had {found} values: the output of node '{node.name}' (op "
                    f"{node.op}{_built_at(node)}) is the first value of this run that is not "
                    f"finite ({where}); its inputs ({shown}) were finite.")
        else:
            text = (f"Tensor had {found} values: the {node.kind} '{node.name}' holds "
                    f"{found} ({where}) before any op ran.")
        raise NumericsError(f"{text} No variable was changed.", op_name=node.name)

    return check


def _built_at(node: Node) -> str:
    return f", built at {node.site}" if node.site else ""
