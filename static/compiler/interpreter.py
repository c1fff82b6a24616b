"""The plain interpreter: runs a pruned graph node by node with ``runtime.evaluate``.

A loop in the spirit of torch.fx's Interpreter: each call node evaluates its registry
kernel on its inputs' arrays. It keeps every value of the run (no memory planning, no
in-place writes); the compiled executor replaces it when a compiler is plugged into
``program.build_program``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ...graphs.ir import Graph
from ...runtime import Spec, evaluate, get, xp_for
from ...runtime.backend import canonical_device, to_device
from ...runtime.registry import OpDef, operand_dtype, shape_error
from ..errors import InvalidArgumentError
from .program import CompileOptions

_CALL, _PLACEHOLDER, _VARIABLE, _CONST, _ASSIGN = range(5)
_KINDS = {"call": _CALL, "placeholder": _PLACEHOLDER, "variable": _VARIABLE, "const": _CONST,
          "assign": _ASSIGN}


class InterpretedProgram:
    """Runs ``graph`` (pruned, topologically ordered) by evaluating one node after another.

    Example:
        >>> # values, updates = InterpretedProgram(pruned, feed_ids, CompileOptions()).run(
        >>> #     {feed_id: x}, {var_id: w})
    """

    def __init__(self, graph: Graph, feed_ids: tuple[int, ...], options: CompileOptions) -> None:
        self.graph = graph
        self.feed_ids = feed_ids
        self.device = canonical_device(options.device)
        xp = xp_for(self.device)
        self._steps: list[tuple[int, int, Any, tuple[int, ...], dict[str, Any]]] = []
        for node in graph.nodes:
            kind = _KINDS[node.kind]
            payload: Any = None
            if kind == _CALL:
                opdef = get(node.op)
                # kernels are called directly when no input needs a cast (the usual case:
                # the graph builder already gave Python numbers the other operand's dtype)
                direct = not _needs_promotion(opdef, [graph[i].dtype for i in node.inputs])
                payload = (opdef, direct)
            elif kind == _CONST:
                payload = xp.asarray(node.value) if self.device == "gpu" else node.value
            self._steps.append((kind, node.id, payload, node.inputs, dict(node.attrs)))
        self._outputs = graph.outputs
        self._xp = xp

    def run(self, feeds: Mapping[int, Any], variables: Mapping[int, Any]
            ) -> tuple[list[Any], dict[int, Any]]:
        """(values of the outputs in order, {variable id: new value})."""
        env: dict[int, Any] = {}
        updates: dict[int, Any] = {}
        xp = self._xp
        for kind, nid, payload, inputs, attrs in self._steps:
            if kind == _CALL:
                opdef, direct = payload
                args = [env[i] for i in inputs]
                try:
                    if direct:
                        value = opdef.kernel(xp, *args, **attrs)
                        if isinstance(value, np.generic):  # numpy gives scalars for 0-d
                            value = xp.asarray(value)
                    else:
                        value = evaluate(opdef, args, attrs)
                except Exception as exc:  # noqa: BLE001 - re-raised naming the node
                    raise self._error(nid, exc) from exc
                if opdef.kind == "random" and self.device == "gpu":
                    value = to_device(value, "gpu")
                env[nid] = value
            elif kind == _PLACEHOLDER:
                env[nid] = feeds[nid]
            elif kind == _VARIABLE:
                if nid in variables:  # a variable that is only assigned is not read
                    env[nid] = variables[nid]
            elif kind == _CONST:
                env[nid] = payload
            else:  # assign: (variable, value); lands after the run, reads see the old value
                value = env[inputs[1]]
                updates[inputs[0]] = value
                env[nid] = value
        return [env.get(o) for o in self._outputs], updates

    def _error(self, nid: int, exc: Exception) -> InvalidArgumentError:
        """The failure re-raised as TF1 does, naming the node, its op and where it was built."""
        if isinstance(exc, (ValueError, IndexError, TypeError)):
            # the registry's words for a kernel failure: the op and its input shapes
            node = self.graph[nid]
            specs = [Spec(self.graph[i].shape, self.graph[i].dtype) for i in node.inputs]
            exc = shape_error(get(node.op), specs, dict(node.attrs), exc)
        node = self.graph[nid]
        where = f", built at {node.site}" if node.site else ""
        return InvalidArgumentError(f"{exc}\n\t [[node {node.name} (op {node.op}{where})]]",
                                    op_name=node.name)


def _needs_promotion(opdef: OpDef, dtypes: Sequence[Any]) -> bool:
    """Whether ``evaluate`` would cast any input of ``opdef`` for these input dtypes."""
    common = operand_dtype(opdef, list(dtypes), [None] * len(dtypes))
    if common is None:
        return False
    indices = opdef.promote_inputs if opdef.promote_inputs is not None else range(len(dtypes))
    return any(dtypes[i] is not common for i in indices if i < len(dtypes))
