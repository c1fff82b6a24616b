"""``tf.export_onnx``: a static inference graph as an ONNX model (needs the ``onnx`` extra).

The graph is pruned to what ``outputs`` need (``graphs.ir.subgraph``, the same pruning a
Session does). Then ``inputs`` become ONNX graph inputs, Variables become initializers
holding the session's current values, consts become initializers, and each call node
becomes ONNX nodes by the op's rule in :mod:`tapeflow.static.onnx.rules`. The model is
checked with ``onnx.checker`` before it is written.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ...graphs import ir
from ...runtime import Spec
from ..tensor import Tensor
from .rules import RULES, Emitter, OnnxExportError, tensor_type

DEFAULT_OPSET = 17
SUPPORTED_OPSETS = (17, 18)
_IR_VERSION = 8  # the IR version of ONNX 1.13, which introduced opset 18


def _import_onnx() -> Any:
    try:
        import onnx
        import onnx.numpy_helper  # noqa: F401  (a submodule onnx does not import itself)
    except ImportError:
        raise ImportError("export_onnx needs the 'onnx' package: pip install 'tapeflow[onnx]' "
                          "(onnx and onnxruntime)") from None
    return onnx


def _tensors(values: Any, what: str, graph: Any) -> list[Tensor]:
    items = list(values) if isinstance(values, (list, tuple)) else [values]
    for item in items:
        if not isinstance(item, Tensor):
            raise TypeError(f"export_onnx: {what} must be graph Tensors, got {item!r}")
        if item.graph is not graph:
            raise ValueError(f"export_onnx: {item} is not an element of the session's graph")
    return items


def _unique_names(graph: ir.Graph) -> dict[int, str]:
    names: dict[int, str] = {}
    taken: set[str] = set()
    for node in graph.nodes:
        name = node.name or f"node_{node.id}"
        while name in taken:
            name = f"{name}_{node.id}"
        taken.add(name)
        names[node.id] = name
    return names


def _value_info(onnx: Any, name: str, spec: Spec) -> Any:
    shape = None if spec.shape is None else list(spec.shape)
    return onnx.helper.make_tensor_value_info(name, tensor_type(onnx, spec.dtype), shape)


def _inference_subgraph(graph: Any, ins: list[Tensor], outs: list[Tensor]
                        ) -> tuple[ir.Graph, dict[int, str]]:
    """The nodes the outputs need, fed tensors turned into placeholders, with unique names;
    refuses a graph that updates state or needs a placeholder that is not an input."""
    nodes = dict(graph.nodes)
    for t in ins:  # a fed tensor is a graph input whatever computed it before (as in TF1)
        nodes[t.node_id] = nodes[t.node_id].with_(kind="placeholder", op="", inputs=(),
                                                  attrs={})
    pruned = ir.subgraph(nodes, [t.node_id for t in outs])
    unused = [nodes[t.node_id] for t in ins if t.node_id not in pruned]
    names = _unique_names(ir.Graph(pruned.nodes + tuple(unused), pruned.outputs))
    input_ids = {t.node_id for t in ins}
    for node in pruned.nodes:
        if node.kind == "assign":
            raise OnnxExportError(f"export_onnx: the outputs depend on assign node "
                                  f"'{node.name}' (built at {node.site}); export an inference "
                                  "graph (no training or update ops)", "assign", node.name)
        if node.kind == "placeholder" and node.id not in input_ids:
            raise OnnxExportError(f"export_onnx: the outputs need placeholder '{node.name}' "
                                  f"(built at {node.site}), which is not among inputs",
                                  "placeholder", node.name)
    return pruned, names


def _emit_nodes(emitter: Emitter, sess: Any, pruned: ir.Graph, names: dict[int, str]
                ) -> dict[int, Spec]:
    """Emits weights (the session's current values), constants and op nodes in order;
    returns every node's spec."""
    variables = [n for n in pruned.nodes if n.kind == "variable"]
    values = sess.run([sess.graph.tensor(n.id) for n in variables]) if variables else []
    for node, value in zip(variables, values, strict=True):
        emitter.const(np.asarray(value, dtype=node.dtype.np), names[node.id])
    specs: dict[int, Spec] = {}
    for node in pruned.nodes:
        specs[node.id] = Spec(node.shape, node.dtype)
        if node.kind == "const":
            emitter.const(np.asarray(node.value, dtype=node.dtype.np), names[node.id])
        elif node.kind == "call":
            rule = RULES.get(node.op)
            if rule is None:
                raise OnnxExportError(f"export_onnx: op '{node.op}' (node '{node.name}', built "
                                      f"at {node.site}) has no ONNX mapping", node.op, node.name)
            rule(emitter, node, [names[i] for i in node.inputs],
                 [specs[i] for i in node.inputs], names[node.id])
    return specs


def export_onnx(sess: Any, inputs: Tensor | Sequence[Tensor], outputs: Tensor | Sequence[Tensor],
                path: str | os.PathLike[str], opset: int = DEFAULT_OPSET,
                model_name: str = "tapeflow") -> Any:
    """Writes the inference graph from ``inputs`` to ``outputs`` as an ONNX model file.

    Args:
        sess: the Session whose variable values become the model's weights.
        inputs: the placeholders (or any tensors) the model takes; ONNX input names are the
            tensors' op names (``x``), their static shapes with ``None`` dims left free.
        outputs: the tensors the model computes; ONNX output names are their op names.
        path: where to write the ``.onnx`` file.
        opset: the ONNX opset, 17 (default) or 18.

    Returns:
        The ``onnx.ModelProto`` that was written.

    Raises:
        OnnxExportError: an op with no ONNX mapping (naming the op and the node), a state
            update (assign) in the graph, or a placeholder the outputs need that is not
            among ``inputs``.
        ImportError: the ``onnx`` package is not installed.

    Example:
        >>> # tf.export_onnx(sess, [x], [logits], "xor.onnx")
        >>> # onnxruntime.InferenceSession("xor.onnx").run(None, {"x": batch})
    """
    onnx = _import_onnx()
    if opset not in SUPPORTED_OPSETS:
        raise ValueError(f"export_onnx: opset {opset} is not supported; use one of "
                         f"{SUPPORTED_OPSETS}")
    graph = sess.graph
    ins = _tensors(inputs, "inputs", graph)
    outs = _tensors(outputs, "outputs", graph)
    pruned, names = _inference_subgraph(graph, ins, outs)
    emitter = Emitter(onnx, opset)
    specs = _emit_nodes(emitter, sess, pruned, names)
    # every input is a model input, also one the outputs do not need (ONNX allows that)
    graph_inputs = [_value_info(onnx, names[t.node_id], Spec(t.spec.shape, t.dtype))
                    for t in ins]
    graph_outputs = []
    for t in outs:
        name = names[t.node_id]
        if pruned[t.node_id].kind != "call":  # an input or a weight: outputs must be computed
            name = emitter.add("Identity", [name], f"{name}:output")
        graph_outputs.append(_value_info(onnx, name, specs[t.node_id]))
    onnx_graph = onnx.helper.make_graph(emitter.nodes, model_name, graph_inputs, graph_outputs,
                                        emitter.initializers)
    model = onnx.helper.make_model(onnx_graph, producer_name="tapeflow",
                                   opset_imports=[onnx.helper.make_opsetid("", opset)])
    model.ir_version = _IR_VERSION
    onnx.checker.check_model(model)
    onnx.save(model, os.fspath(path))
    return model


__all__ = ["OnnxExportError", "export_onnx"]
