"""Residuals: a forward loop keeps, per iteration, the values its reverse loop would recompute.

``while_vjp`` (``static/control_grad.py``) builds a reverse loop whose body replays the
forward body on the loop variables the forward loop saved (``take(stack, t)``) and takes
the vector-Jacobian product of the replay. The product reads some replayed values itself
(a tanh's output for its derivative, a mask for a select's), and the forward loop had
computed each of them already, once per iteration. This pass, run by the compiler on a
graph that holds both loops, finds them: the nodes of the reverse body that compute the
same op, with the same attributes, on the same values at the same iteration ``t`` as a
node of the forward body. The forward loop then stacks those nodes' values too (its
``keep`` attribute: ``graphs/control.py``), and the reverse loop takes each stack as one
more input and reads row ``t`` of it (which its runner slices) in place of the replay;
the replayed nodes that nothing reads any more are pruned when its body is compiled. So
the reverse step runs the product only, and the saved memory grows by those stacks, as
the issue asks ("the forward loop saves what the backward body needs per iteration").

A value is matched, never guessed: a parameter of the reverse body is the forward body's
captured value when both loops capture the same outer node, a row ``t`` of a saved stack
is the forward loop variable at iteration ``t``, a constant is a constant of the same
value, and a call is a call of the same op and attributes on matched values. Anything
else (a nested loop, a value computed another way) is replayed as before.

Example:
    >>> # graph = save_residuals(graph)   (static/compiler/loops.py, before attach_runners)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...graphs.control import OUTPUT, Body
from ...graphs.ir import CONTROL_OPS, Graph, Node, freeze
from ...runtime import Spec

__all__ = ["save_residuals"]


def save_residuals(graph: Graph) -> Graph:
    """``graph`` with each reverse loop reading its forward loop's stacks of the values its
    product reads, instead of recomputing them (see the module docstring)."""
    nodes = {n.id: n for n in graph.nodes}
    before: dict[int, list[Node]] = {}  # reverse loop id -> the new stack results it reads
    next_id = max(nodes, default=-1) + 1  # (an empty graph: sess.run([]))
    for r in graph.nodes:
        forward = _forward_of(nodes, r)
        if forward is None:
            continue
        chosen = _residuals(nodes, forward, r)
        if not chosen:
            continue
        keep = tuple(forward.attrs.get("keep", ()))
        n_f = forward.attrs["n_vars"]
        results = []
        for _, fid in chosen:
            if fid not in keep:
                keep += (fid,)
            bodies = (forward.attrs["cond"], forward.attrs["body"])
            attrs = {"index": 2 * n_f + 1 + keep.index(fid), "bodies": bodies, "loop": True,
                     "node": fid}
            specs = [Spec(nodes[i].shape, nodes[i].dtype) for i in forward.inputs]
            spec = OUTPUT.infer(Spec(None, forward.dtype), *specs, **attrs)
            results.append(Node(next_id, "call", OUTPUT.name, (forward.id, *forward.inputs),
                                attrs, spec.shape, spec.dtype, name=f"{forward.name}/Residual",
                                site=r.site, role=forward.role))
            next_id += 1
        nodes[forward.id] = forward.with_(attrs={**forward.attrs, "keep": keep})
        before[r.id] = results
        _rewire(nodes, nodes[r.id], [rid for rid, _ in chosen], results)
    if not before:
        return graph
    order = []
    for n in graph.nodes:
        order += before.get(n.id, [])
        order.append(nodes[n.id])
    return Graph(tuple(order), graph.outputs)


def _forward_of(nodes: Mapping[int, Node], r: Node) -> Node | None:
    """The forward loop whose stacks the while node ``r`` reads, if any (one only)."""
    if r.kind != "call" or r.op != "while" or r.attrs.get("runners") is not None:
        return None
    found = {nodes[i].inputs[0] for i in r.inputs[r.attrs["n_vars"]:]
             if nodes[i].kind == "call" and nodes[i].op == OUTPUT.name and nodes[i].attrs["loop"]}
    loops = [nodes[f] for f in found if nodes[f].op == "while"]
    return loops[0] if len(loops) == 1 else None


def _key(n: Node, inputs: tuple[int, ...]) -> Any:
    if n.kind == "const":
        value = n.value
        return ("const", str(getattr(value, "dtype", type(value))),
                getattr(value, "shape", ()), getattr(value, "tobytes", lambda: value)())
    if n.kind == "call" and n.op not in CONTROL_OPS:
        return ("call", n.op, inputs, freeze(dict(n.attrs)))
    return None


def _residuals(nodes: Mapping[int, Node], forward: Node, r: Node) -> list[tuple[int, int]]:
    """(reverse body node, forward body node) for each value the reverse body replays
    that its product reads and the forward body computes from its loop variables."""
    fb, rb = forward.attrs["body"], r.attrs["body"]
    n_f = forward.attrs["n_vars"]
    t = rb.params[0]  # (the reverse loop's counter: the forward iteration it is at)
    outer = {forward.inputs[q]: fb.params[q] for q in range(n_f, len(forward.inputs))}
    match: dict[int, int] = {}
    stack_of: dict[int, int] = {}
    for p, param in enumerate(rb.params):
        src = nodes[r.inputs[p]]
        if src.id in outer:
            match[param] = outer[src.id]
        elif (src.kind == "call" and src.op == OUTPUT.name and src.inputs[0] == forward.id
              and n_f <= src.attrs["index"] < 2 * n_f):
            stack_of[param] = fb.params[src.attrs["index"] - n_f]
    known: dict[Any, int] = {}
    varying = set(fb.params[:n_f])
    for n in fb.graph.nodes:
        if any(i in varying for i in n.inputs):
            varying.add(n.id)
        key = _key(n, n.inputs)
        if key is not None:
            known.setdefault(key, n.id)
    for n in rb.graph.nodes:
        if n.id in match:
            continue
        if (n.kind == "call" and n.op == "take" and n.inputs[0] in stack_of
                and n.inputs[1] == t and int(n.attrs.get("axis", 0)) == 0):
            match[n.id] = stack_of[n.inputs[0]]
        elif n.kind != "placeholder" and all(i in match for i in n.inputs):
            key = _key(n, tuple(match[i] for i in n.inputs))
            if key is not None and key in known:
                match[n.id] = known[key]
    users = rb.graph.users()
    return [(rid, fid) for rid, fid in match.items()
            if _worth_keeping(rb.graph[rid]) and fid in varying and rid not in rb.graph.outputs
            and any(u not in match and _reads(rb.graph[u], rid) for u in users[rid])]


def _worth_keeping(n: Node) -> bool:
    """A computed value: not a row, a concatenation or a view, which copy or alias what
    the loop saves already (recomputing them is cheap; keeping them copies memory)."""
    return n.kind == "call" and n.op not in CONTROL_OPS and n.opdef.kind not in ("index", "view")


def _reads(user: Node, nid: int) -> bool:
    """Whether ``user`` reads ``nid``'s data (not only its shape)."""
    shape_only = user.opdef.shape_only if user.kind == "call" else ()
    return any(i == nid and k not in shape_only for k, i in enumerate(user.inputs))


def _rewire(nodes: dict[int, Node], r: Node, replayed: list[int], stacks: list[Node]) -> None:
    """The reverse loop ``r`` (and its results) with one more input per stack, read at row
    ``t`` by its body in place of each replayed node."""
    cond, body = r.attrs["cond"], r.attrs["body"]
    body = _reading_rows(body, dict(zip(replayed, stacks, strict=True)))
    top = max(n.id for n in cond.graph.nodes) + 1
    extra = [Node(top + j, "placeholder", "", (), {}, s.shape, s.dtype, name=f"residual{j}")
             for j, s in enumerate(stacks)]
    cond = Body(Graph((*cond.graph.nodes, *extra), cond.graph.outputs),
                (*cond.params, *(e.id for e in extra)), cond.name)
    inputs = (*r.inputs, *(s.id for s in stacks))
    nodes[r.id] = r.with_(inputs=inputs, attrs={**r.attrs, "cond": cond, "body": body})
    for n in list(nodes.values()):
        if n.kind == "call" and n.op == OUTPUT.name and n.inputs and n.inputs[0] == r.id:
            nodes[n.id] = n.with_(inputs=(r.id, *inputs),
                                  attrs={**n.attrs, "bodies": (cond, body)})


def _reading_rows(body: Body, stacks: Mapping[int, Node]) -> Body:
    """``body`` with one more parameter per stack and each replayed node ``take(stack, t)``,
    keeping its id. The parameters get ids below every other (-1, -2, ...), so sorting the
    body's nodes by id, as ``subgraph`` does, still puts them before their readers; the
    loop runner slices these takes (``find_slices``), so no program ever loads them."""
    t = body.params[0]
    nodes, params = [], []
    for n in body.graph.nodes:
        if n.id in stacks:
            stack = stacks[n.id]
            param = Node(-1 - len(params), "placeholder", "", (), {}, stack.shape,
                         stack.dtype, name=f"{n.name}/saved", site=n.site, role=n.role)
            nodes.append(n.with_(op="take", inputs=(param.id, t), attrs={"axis": 0}))
            params.append(param)
        else:
            nodes.append(n)
    return Body(Graph((*params, *nodes), body.graph.outputs),
                (*body.params, *(p.id for p in params)), body.name)
