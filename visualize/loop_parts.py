"""The parts of a loop a drawing names: its counter, its variables, its condition as a
formula, and the groupings its body is drawn with (op by op, or one box per part).

Example:
    >>> expression(0, {}, {0: "t"}, {})
    't'
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from ..graphs.ir import Node
from .fold import Folded
from .static_graph import _says_op, short_name
from .summary import Summary
from .units import fmt_number

INFIX = {"lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "==", "ne": "!=", "add": "+",
         "sub": "-", "mul": "*", "logical_and": "and", "logical_or": "or"}


def is_loop(node: Node) -> bool:
    """Whether ``node`` is a ``while`` node (a loop that owns its body)."""
    return node.kind == "call" and node.op == "while"


def loop_counter(loop: Node) -> int | None:
    """The position of the loop's counter: an integer scalar loop variable the body steps
    by a constant (``t + 1``, or ``t - 1`` in a gradient loop), else None."""
    body = loop.attrs["body"]
    by_id = {n.id: n for n in body.graph.nodes}
    for k in range(loop.attrs["n_vars"]):
        param, out = by_id[body.params[k]], by_id[body.graph.outputs[k]]
        if param.shape == () and param.dtype.name.startswith("int") and \
                out.op in ("add", "sub") and body.params[k] in out.inputs and \
                any(by_id[i].kind == "const" for i in out.inputs):
            return k
    return None


def carried_names(loop: Node, outer: Mapping[int, Node]) -> list[str]:
    """A name per loop variable: ``t`` for the counter, ``TensorArray k`` for a buffer the
    body writes as a TensorArray, ``d w`` for a gradient loop's sum that starts at zeros
    like ``w``, the initial value's name when it says more than its op (``h0``), else
    ``var k``."""
    counter = loop_counter(loop)
    body = loop.attrs["body"]
    names = []
    for k in range(loop.attrs["n_vars"]):
        source = outer.get(loop.inputs[k])
        name = short_name(source) if source is not None else ""
        written = body.graph[body.graph.outputs[k]].name
        if k == counter:
            names.append("t")
        elif "TensorArray" in written:  # (tf.TensorArray's buffer, written once per step)
            names.append(f"TensorArray {k}")
        elif source is not None and source.op == "full_like" and source.inputs and \
                source.inputs[0] in outer and loop.role == "backward":
            names.append(f"d {_value_name(outer[source.inputs[0]], outer)}")  # from 0
        elif source is None or source.kind == "const" or _says_op(name, source.op) or \
                name.rstrip("_0123456789") in ("Const", "Identity", "zeros", "zeros_like"):
            names.append(f"var {k}")
        else:
            names.append(name)
    return names


def _value_name(node: Node, outer: Mapping[int, Node]) -> str:
    """A node's short name; a loop's final value is named after its loop variable."""
    loop = outer.get(node.inputs[0]) if node.op == "control_output" else None
    if loop is not None and is_loop(loop) and node.attrs["index"] < loop.attrs["n_vars"]:
        return carried_names(loop, outer)[node.attrs["index"]]
    return short_name(node)


def expression(node_id: int, nodes: Mapping[int, Node], params: Mapping[int, str],
               outer: Mapping[int, Node], depth: int = 3) -> str:
    """A node as a short formula: ``t < min(40, max(lengths))``. Parameters of a body are
    named by ``params`` or, when they stand for an outer value, read on in ``outer``."""
    if node_id in params:
        return params[node_id]
    node = nodes.get(node_id)
    if node is None:
        return "?"
    if node.kind == "const" and getattr(node.value, "size", 2) == 1:
        return fmt_number(node.value)
    if node.kind != "call" or depth == 0:
        return short_name(node).removeprefix("captured/")
    args = [expression(i, nodes, params, outer, depth - 1) for i in node.inputs]
    if node.op in INFIX and len(args) == 2:
        return f"{args[0]} {INFIX[node.op]} {args[1]}"
    return f"{node.op}({', '.join(args)})"


def condition_text(loop: Node, outer: Mapping[int, Node], names: Sequence[str]) -> str:
    """The loop's condition as a formula over its variables and the outer values it reads."""
    cond = loop.attrs["cond"]
    nodes = {n.id: n for n in cond.graph.nodes}
    params: dict[int, str] = {}
    for k, p in enumerate(cond.params):
        if k < len(names):
            params[p] = names[k]
        elif loop.inputs[k] in outer:
            params[p] = expression(loop.inputs[k], outer, {}, outer, depth=2)
    return expression(cond.graph.outputs[0], nodes, params, outer)


def body_summary(nodes: Sequence[Node]) -> Summary:
    """A body drawn op by op, less its constants (named in the tooltips) and the ``sum_to``
    ops that move no data (drawn as plain edges, as the summarised outer graph does)."""
    by_id = {n.id: n for n in nodes}
    hidden = frozenset(n.id for n in nodes if n.kind == "const")
    through = {n.id: n.inputs[0] for n in nodes if n.op == "sum_to" and n.inputs
               and n.inputs[0] in by_id and by_id[n.inputs[0]].shape == n.shape}
    ids = [n.id for n in nodes if n.id not in hidden and n.id not in through]
    return Summary(Folded({i: i for i in ids}, {i: (i,) for i in ids}, tuple(ids)), {}, {},
                   hidden, through)


def grouped_body(nodes: Sequence[Node], params: Sequence[int], n_vars: int) -> Summary:
    """A body drawn in a few boxes: each loop-carried parameter on its own, the captured
    values in one box, and the ops of each role in one box (a loop's step; a gradient
    loop's recomputed forward and its gradient). Constants and ``sum_to`` ops that move
    no data are left out, as in :func:`body_summary`."""
    plain = body_summary(nodes)
    carried, captured = set(params[:n_vars]), list(params[n_vars:])
    heads: dict[str, int] = {}
    group_of: dict[int, int] = {}
    for n in nodes:
        if n.id not in plain.folded.group_of:
            continue
        if n.id in carried:
            group_of[n.id] = n.id
        elif n.id in captured:
            group_of[n.id] = captured[0]
        else:
            group_of[n.id] = heads.setdefault(n.role, n.id)
    members: dict[int, list[int]] = {}
    for n in nodes:
        if n.id in group_of:
            members.setdefault(group_of[n.id], []).append(n.id)
    order = tuple(n.id for n in nodes if group_of.get(n.id) == n.id)
    return Summary(Folded(group_of, {g: tuple(m) for g, m in members.items()}, order), {},
                   {}, plain.hidden, plain.through)


def ops_text(nodes: Sequence[Node], most: int = 6) -> str:
    """``matmul x2, sigmoid x3, ...``: the commonest ops of a group, most first."""
    counts = Counter(n.op for n in nodes if n.kind == "call").most_common()
    shown = ", ".join(f"{op} \u00d7{c}" if c > 1 else op for op, c in counts[:most])
    return shown + (", ..." if len(counts) > most else "")
