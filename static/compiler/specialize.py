"""The one place a graph is fitted to a run: feeds bound, pruned, checked, specialised.

``specialize(graph, feed_specs)`` turns the whole graph a user built (its ``outputs`` are
what the run needs: fetched values and the ops it runs) into the graph that the passes or
the interpreter receive, once per (fetches, feed signature):

1. every fed node becomes a ``placeholder`` of the fed shape (TF1 lets any tensor be fed);
2. pruning: only what the outputs need, in topological order;
3. checks, each an error that names the node: a placeholder nobody fed, a fed variable
   that the run also assigns (TF1 refuses it too: the update op needs the variable itself,
   not a value), a shape no kernel can take, a tensor above the size cap;
4. shape inference again, with the concrete shapes of this run's feeds.

Example:
    >>> # source = specialize(graph, {x_id: Spec((4, 2), float32)})
    >>> # source.graph, source.feed_ids, source.read_vars
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ...graphs import ir
from ...runtime import ShapeError, Spec
from ...runtime import dtypes as dt
from ...runtime.memory import too_large
from ...runtime.registry import format_shape
from ..errors import InvalidArgumentError, ResourceExhaustedError


class MissingFeedError(InvalidArgumentError):
    """A placeholder (or variable) that the run reads was not given a value."""


@dataclass(frozen=True)
class Specialized:
    """A graph fitted to one feed signature, and what a run of it reads and writes.

    Attributes:
        graph: pruned, fed nodes as placeholders, every shape inferred from the feeds.
        feed_ids: the fed nodes the graph uses, sorted (feeds of other nodes are ignored).
        read_vars: variables whose start-of-run value the graph reads.
        assigned: variables the graph assigns (a run of it must commit them).
    """

    graph: ir.Graph
    feed_ids: tuple[int, ...]
    read_vars: tuple[int, ...]
    assigned: tuple[int, ...]


def specialize(graph: ir.Graph, feed_specs: Mapping[int, Spec]) -> Specialized:
    """``graph`` bound to feeds of ``feed_specs``, pruned, checked and specialised."""
    nodes: dict[int, ir.Node] = {n.id: n for n in graph.nodes}
    for nid, spec in feed_specs.items():
        node = nodes[nid]
        if node.kind == "placeholder" and not shape_fits(node.shape, spec.shape):
            raise InvalidArgumentError(
                f"cannot feed a value of shape {format_shape(spec.shape)} for placeholder "
                f"'{node.name or nid}' of shape {format_shape(node.shape)}", op_name=node.name)
        nodes[nid] = node.with_(kind="placeholder", op="", inputs=(), attrs={},
                                shape=tuple(spec.shape), value=None)  # type: ignore[arg-type]
    pruned = ir.subgraph(nodes, graph.outputs)
    _check_feeds(pruned, graph, feed_specs)
    fitted = _infer(pruned)
    _check_sizes(fitted)
    assigned = tuple(sorted({n.inputs[0] for n in fitted.nodes if n.kind == "assign"}))
    return Specialized(fitted, tuple(sorted(i for i in feed_specs if i in fitted)),
                       _read_variables(fitted), assigned)


def shape_fits(declared: tuple[int | None, ...] | None, fed: tuple[int, ...]) -> bool:
    """Whether a fed shape matches a declared one (None dims and unknown rank match all)."""
    if declared is None:
        return True
    return len(declared) == len(fed) and all(d is None or d == f
                                             for d, f in zip(declared, fed, strict=True))


def _tf_shape(shape: tuple[int | None, ...] | None) -> str:
    # TF1's way of writing a shape in its feed errors: [?,3]
    return "<unknown>" if shape is None else "[" + ",".join("?" if d is None else str(d)
                                                            for d in shape) + "]"


def _check_feeds(pruned: ir.Graph, graph: ir.Graph, feed_specs: Mapping[int, Spec]) -> None:
    for n in pruned.nodes:
        if n.kind == "assign" and n.inputs[0] in feed_specs:
            var, update = graph[n.inputs[0]], n.name or f"%{n.id}"
            raise InvalidArgumentError(
                f"Cannot feed variable '{var.name}': the run also assigns it (node '{update}'), "
                "and an update needs the variable itself, not a fed value (TF1: 'was passed "
                f"float from {var.name}:0 incompatible with expected float_ref'). Feed a "
                "tensor computed from the variable instead, or run the update without the "
                "feed.", op_name=var.name)
    missing = [n for n in pruned.nodes if n.kind == "placeholder" and n.id not in feed_specs]
    if missing:
        raise MissingFeedError(
            "You must feed a value for placeholder tensor "
            + ", ".join(f"'{n.name}' with dtype {n.dtype.name} and shape {_tf_shape(n.shape)}"
                        f" (built at {n.site})" for n in missing), op_name=missing[0].name)


def _infer(graph: ir.Graph) -> ir.Graph:
    """Every node's shape and dtype inferred again from the concrete shapes of its sources."""
    specs: dict[int, Spec] = {}
    nodes: list[ir.Node] = []
    for n in graph.nodes:
        if n.kind == "call":
            inputs = [specs[i] for i in n.inputs]
            try:
                spec = n.opdef.infer(*inputs, **n.attrs)
            except ShapeError as exc:
                shown = ", ".join(format_shape(s.shape) for s in inputs)
                raise InvalidArgumentError(f"{exc} (node '{n.name}' with input shapes {shown}, "
                                           f"built at {n.site})", op_name=n.name) from None
        elif n.kind == "const":
            spec = Spec(tuple(n.value.shape), dt.as_dtype(n.value.dtype))
        elif n.kind == "assign":
            spec = specs[n.inputs[1]]
        else:
            spec = Spec(n.shape, n.dtype)
        if spec.shape != n.shape or spec.dtype is not n.dtype:
            n = n.with_(shape=spec.shape, dtype=spec.dtype)
        specs[n.id] = spec
        nodes.append(n)
    return ir.Graph(tuple(nodes), graph.outputs)


def _check_sizes(graph: ir.Graph) -> None:
    """TF1's OOM error, raised before the program allocates anything: names the node, its
    shape and the bytes it would take."""
    for node in graph.nodes:
        if node.kind != "call" or node.shape is None or None in node.shape:
            continue
        why = too_large(node.shape, node.dtype.itemsize)  # type: ignore[arg-type]
        if why is not None:
            shape = ",".join(str(d) for d in node.shape)
            raise ResourceExhaustedError(
                f"OOM when allocating tensor with shape[{shape}] and type {node.dtype.name}: "
                f"node '{node.name}' (op {node.op}, built at {node.site}) would need {why}",
                op_name=node.name)


def _read_variables(graph: ir.Graph) -> tuple[int, ...]:
    """Variables whose value the graph uses (not those it only assigns to)."""
    read: set[int] = {o for o in graph.outputs if graph[o].kind == "variable"}
    for node in graph.nodes:
        inputs = node.inputs[1:] if node.kind == "assign" else node.inputs
        read.update(i for i in inputs if graph[i].kind == "variable")
    return tuple(sorted(read))
