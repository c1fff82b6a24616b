"""A static (TF1-style) graph as a Graphviz drawing: forward, backward and update parts.

The classic picture of reverse-mode autodiff: the forward graph, with the backward graph
that ``tf.gradients`` appended below it, and the update nodes of the optimizer last, each
in its own cluster. Node kinds are told apart by shape and colour (placeholder, variable,
const, forward op, gradient op, update); every edge carries the dtype and shape of the
value it moves. Given a memory plan, each node the plan knows is coloured by its arena
buffer and shows its offset, size and lifetime. Unrolled loops can be folded.

Example:
    >>> import tapeflow.static as tf
    >>> from tapeflow.visualize import static_graph
    >>> with tf.Graph().as_default() as g:
    ...     x = tf.placeholder(tf.float32, [None, 2], name="x")
    ...     y = tf.reduce_sum(tf.sigmoid(x))
    >>> fig = static_graph(g, outputs=[y])
    >>> "Sigmoid" in fig.source
    True
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from ..graphs.ir import Graph, Node, subgraph
from ..runtime.registry import format_shape
from .dot import DotBuilder, Figure
from .fold import _NUMBER_SUFFIX, Folded
from .graph_key import BUFFER_PALETTE, legend_cluster, offset_colours
from .summary import Summary, collapse_cells, summarise
from .units import fmt_bytes, fmt_number

AUTO_FOLD_NODES = 80  # above this many nodes, collapse=None draws the summarised view
GENERIC_NAMES = ("value", "output", "result")

KIND_STYLES: dict[str, dict[str, str]] = {
    "placeholder": {"shape": "invhouse", "fillcolor": "#fff1b8", "color": "#a07a00"},
    "variable": {"shape": "cylinder", "fillcolor": "#c9efc9", "color": "#2e7d32"},
    "const": {"shape": "note", "fillcolor": "#eeeeee", "color": "#808080"},
    "op": {"shape": "box", "style": "filled,rounded", "fillcolor": "#dbe8ff",
           "color": "#1f4e99"},
    "gradient": {"shape": "box", "style": "filled,rounded,bold", "fillcolor": "#ffdcd4",
                 "color": "#b03a2e"},
    "update": {"shape": "box3d", "fillcolor": "#e8dcff", "color": "#5b3b99"},
}
# CompileOptions(recompute=...): a forward op run again in the backward, a value kept for it
KIND_STYLES["recompute"] = {**KIND_STYLES["op"], "style": "filled,rounded,dashed", "penwidth": "2"}
KIND_STYLES["checkpoint"] = {**KIND_STYLES["op"], "peripheries": "2"}  # the key only
KIND_TITLES = {"placeholder": "placeholder", "variable": "Variable", "const": "constant",
               "op": "forward op", "gradient": "gradient op", "update": "update",
               "recompute": "recomputed: a forward op\nrun again in the backward",
               "checkpoint": "checkpoint: a forward value\nkept for the backward"}
ROLE_TITLES = {"init": "initialization (runs once, before training)", "forward": "forward",
               "backward": "backward (gradients)", "update": "update (optimizer)"}
ROLE_FILL = {"init": "#f5fff5", "forward": "#f7faff", "backward": "#fff7f5",
             "update": "#faf7ff"}

CELL_STYLE = {"style": "filled,rounded,bold", "color": "#d35400", "fillcolor": "#fff4e6",
              "fontsize": 13, "fontcolor": "#a04000"}
RECURRENCE = {"color": "#d35400", "fontcolor": "#a04000", "penwidth": 2.0,
              "constraint": "false", "style": "bold"}


def node_kind(node: Node) -> str:
    """The drawing kind of an IR node: a key of :data:`KIND_STYLES`."""
    if node.kind in ("placeholder", "variable", "const"):
        return node.kind
    if node.kind == "assign" or node.role == "update":
        return "update"
    return {"backward": "gradient", "recompute": "recompute"}.get(node.role, "op")


def drawn_role(node: Node) -> str:
    """The cluster a node is drawn in: its role, except that an initializer (an assign
    outside the optimizer, and the constants only it reads) gets a cluster of its own."""
    if node.kind == "assign" and node.role != "update":
        return "init"
    return "backward" if node.role == "recompute" else node.role


def value_label(node: Node) -> str:
    """``float32(?, 5)``: what an edge out of ``node`` carries."""
    return f"{node.dtype.name}{format_shape(node.shape)}"


def _short_attrs(node: Node) -> str:
    shown = []
    for key, value in node.attrs.items():
        if key in ("generator", "index", "dtype", "steps") or value is None or value is False:
            continue
        text = fmt_number(value) if not isinstance(value, str) else value
        shown.append(f"{key}={text if len(text) <= 16 else text[:13] + '...'}")
    return ", ".join(shown[:2])


def short_name(node: Node) -> str:
    """The last part of a node's name; a generic last part (TF1 names a loss
    ``mean_squared_error/value``) gives way to its scope's."""
    if not node.name:
        return f"%{node.id}"
    parts = node.name.split("/")
    if parts[-1] in GENERIC_NAMES and len(parts) > 1:
        return parts[-2]
    return parts[-1]


def _says_op(name: str, op: str) -> bool:
    """Whether a node's name only repeats its op (``MatMul_3`` for ``matmul``)."""
    return _NUMBER_SUFFIX.sub("", name).replace("_", "").lower() == op.replace("_", "").lower()


def node_label(node: Node) -> str:
    """One to three lines: the node's short name, its op (unless the name says it already)
    and attributes."""
    name = short_name(node)
    if node.kind == "call":
        attrs = _short_attrs(node)
        op = node.op + (f"({attrs})" if attrs else "")
        return op if _says_op(name, node.op) else f"{name}\n{op}"
    if node.kind == "const":
        value = node.value
        if value is not None and getattr(value, "size", 2) == 1:
            return f"{name}\n{fmt_number(value)}"
        return f"{name}\n{value_label(node)}"
    if node.kind == "assign":
        return f"{name}\nassign"
    return f"{name}\n{value_label(node)}"


def _as_ir(graph: Any, outputs: Sequence[Any]) -> Graph:
    """Accepts a ``graphs.ir.Graph`` or a ``tapeflow.static.Graph`` (pruned to outputs)."""
    if isinstance(graph, Graph):
        if outputs:
            return subgraph({n.id: n for n in graph.nodes}, list(outputs))
        return graph
    if hasattr(graph, "as_ir"):
        full: Graph = graph.as_ir(list(outputs))
        if full.outputs:
            return subgraph({n.id: n for n in full.nodes}, list(full.outputs))
        return full
    raise TypeError(f"static_graph: expected a graphs.ir.Graph or a tapeflow.static.Graph, "
                    f"got {type(graph).__name__}")


def select_nodes(graph: Any, outputs: Sequence[Any] = (), backward: bool = True) -> list[Node]:
    """The IR nodes a drawing shows: pruned to ``outputs``; forward ones only unless
    ``backward``."""
    ir_graph = _as_ir(graph, outputs)
    nodes = [n for n in ir_graph.nodes if backward or n.role == "forward"]
    if not backward:
        kept = {n.id for n in nodes}
        nodes = [n for n in nodes if all(i in kept for i in n.inputs)]
    return nodes


def _memory_note(plan: Any, node_id: int) -> tuple[str, int] | None:
    """(label lines, arena offset) for a node the plan placed in the arena, else None."""
    buffer = plan.buffer_of.get(node_id)
    if buffer is None or buffer not in plan.offsets:
        return None
    first, last = plan.lifetimes[buffer]
    offset = plan.offsets[buffer]
    return (f"@ {fmt_bytes(offset)} +{fmt_bytes(plan.sizes[buffer])}\n"
            f"steps {first}..{last}", offset)


def op_level(nodes: Sequence[Node]) -> Summary:
    """The grouping of the op-level view: every node drawn on its own."""
    ids = [n.id for n in nodes]
    return Summary(Folded({i: i for i in ids}, {i: (i,) for i in ids}, tuple(ids)), {}, {},
                   frozenset(), {})


def static_graph(graph: Any, outputs: Sequence[Any] = (), *, plan: Any = None,
                 backward: bool = True, collapse: bool | None = None,
                 color_by: str = "offset", legend: bool = True, title: str = "",
                 rankdir: str = "TB", expand_cells: bool = False) -> Figure:
    """Draws a static graph: forward, backward and update clusters.

    Args:
        graph: a ``tapeflow.static.Graph`` or a ``graphs.ir.Graph``.
        outputs: tensors/ops (or node ids for an IR graph) to prune to; empty: everything.
        plan: a memory plan (``static.compiler.planner.Plan``): fill each node the plan
            placed in the arena with the colour of its arena offset and show offset, size
            and lifetime (schedule steps). Nodes the plan does not know stay white.
        backward: include the backward and update parts (False: the forward part only).
        collapse: the summarised view (see :mod:`~tapeflow.visualize.summary`): an
            unrolled loop as one cell box marked x T, the optimizer as one box, constants
            left out. False: every op. None: summarised above :data:`AUTO_FOLD_NODES` nodes.
        color_by: ``"offset"`` (same colour, same bytes reused) or ``"buffer"`` (one colour
            per planned buffer).
        legend: add a key of the node kinds (and of the offsets' colours).
        title: the drawing's title.
        rankdir: Graphviz's direction, ``"TB"`` (top to bottom) or ``"LR"``.
        expand_cells: in the summarised view, draw the ops inside each loop cell (default:
            each cell is one box with its recurrence edge).

    Returns:
        a :class:`~tapeflow.visualize.dot.Figure` (``.svg()``, ``.save(path)``, inline in
        Jupyter).
    """
    nodes = select_nodes(graph, outputs, backward)
    if collapse is None:
        collapse = len(nodes) > AUTO_FOLD_NODES
    summary = summarise(nodes) if collapse else op_level(nodes)
    if collapse and not expand_cells:
        summary = collapse_cells(summary)
    heading = title or "static graph"
    dtypes = sorted({n.dtype.name for n in nodes if n.kind == "call"})
    if collapse:
        heading += (f"\nsummarised: {len(nodes)} nodes drawn as {len(summary.folded)} boxes; "
                    f"values are {'/'.join(dtypes)}; the op-level view: collapse=False")
    if plan is not None:
        heading += (f"\nmemory plan: arena {fmt_bytes(plan.arena_bytes)}, lower bound "
                    f"{fmt_bytes(plan.lower_bound_bytes)}, no reuse "
                    f"{fmt_bytes(plan.naive_bytes)}; fill colour = arena offset")
    builder = DotBuilder("static_graph", {"rankdir": rankdir, "label": heading,
                                          "labelloc": "t", "newrank": "true",
                                          "compound": "true", "ranksep": 0.35,
                                          "nodesep": 0.25})
    colours = draw_static(builder, nodes, summary, plan, color_by)
    kinds = sorted({node_kind(n) for n in nodes if n.id in summary.folded.group_of} | (
        {"checkpoint"} if any(n.role == "recompute" for n in nodes) else set()),
        key=list(KIND_STYLES).index)
    if legend:
        legend_cluster(builder, kinds, colours)
    counts = Counter(n.role for n in nodes)
    return builder.figure(heading, nodes=len(nodes), drawn=len(summary.folded),
                          roles=dict(counts), kinds=kinds,
                          cells={r: t for r, (t, _) in summary.cells.items()})


def draw_static(builder: DotBuilder, nodes: list[Node], summary: Summary | None = None,
                plan: Any = None, color_by: str = "offset", prefix: str = "",
                highlight: Any = frozenset()) -> dict[int, str]:
    """Draws ``nodes`` (topological order) into ``builder``: sources, then one cluster per
    role, each loop cell boxed inside its role; ``prefix`` keeps node ids apart when several
    graphs share one drawing; nodes in ``highlight`` are drawn dashed and grey (padding).
    Returns the colour of each arena offset (or buffer) it used."""
    summary = summary or op_level(nodes)
    by_id = {n.id: n for n in nodes}
    members, order = summary.folded.members, summary.folded.order
    colours: dict[int, str] = {}
    kept = {i for n in nodes if n.role == "recompute" for i in n.inputs
            if by_id[i].kind == "call" and by_id[i].role == "forward"}

    def draw(gid: int) -> None:
        attrs = _node_attrs(by_id, members[gid], summary, plan, color_by, colours)
        if any(i in highlight for i in members[gid]):
            attrs.update(style="dashed,filled", color="#999999", fontcolor="#777777",
                         fillcolor="#f2f2f2")
        if any(i in kept for i in members[gid]):
            attrs["peripheries"] = 2
        builder.node(f"{prefix}n{gid}", **attrs)

    in_cell = {g for _, gs in summary.cells.values() for g in gs}
    sources = [g for g in order if by_id[g].kind in ("placeholder", "variable")]
    for gid in sources:
        draw(gid)
    init_only = _init_only(nodes)
    for role in ("init", "forward", "backward", "update"):
        in_role = [g for g in order if g not in sources and
                   ("init" if g in init_only else drawn_role(by_id[g])) == role]
        if not in_role:
            continue
        with builder.cluster(ROLE_TITLES[role], style="filled,rounded", color="#bbbbbb",
                             fillcolor=ROLE_FILL[role], fontsize=13):
            for gid in in_role:
                if gid not in in_cell:
                    draw(gid)
            if role in summary.cells and summary.cells[role][1][0] in summary.loops:
                draw(summary.cells[role][1][0])
            elif role in summary.cells:
                steps, cell = summary.cells[role]
                what = "cell" if role == "forward" else "cell's gradient"
                with builder.cluster(f"loop {what} \u00d7{steps} (drawn once, runs at each "
                                     f"of {steps} steps)", **CELL_STYLE):
                    for gid in cell:
                        draw(gid)
    _draw_edges(builder, nodes, summary, by_id, prefix)
    return colours


def _init_only(nodes: list[Node]) -> set[int]:
    """Initializer assigns and the nodes only they read (initial values)."""
    readers: dict[int, set[int]] = {}
    for n in nodes:
        for i in n.inputs:
            readers.setdefault(i, set()).add(n.id)
    init = {n.id for n in nodes if n.kind == "assign" and n.role != "update"}
    for n in reversed(nodes):
        if n.kind not in ("variable", "placeholder") and n.id not in init and \
                readers.get(n.id) and readers[n.id] <= init:
            init.add(n.id)
    return init


def _draw_edges(builder: DotBuilder, nodes: list[Node], summary: Summary,
                by_id: dict[int, Node], prefix: str) -> None:
    group_of = summary.folded.group_of
    position = {gid: k for k, gid in enumerate(summary.folded.order)}
    cell_of = {g: role for role, (_, gs) in summary.cells.items() for g in gs}
    edges: dict[tuple[int, int, bool], int] = {}
    for n in nodes:
        if n.id not in group_of:
            continue
        for k, i in enumerate(n.inputs):
            src = summary.source(i)
            if src not in group_of:
                continue  # a constant the summary leaves out
            gsrc, gdst = group_of[src], group_of[n.id]
            if gsrc == gdst and (gsrc not in cell_of or gsrc in summary.loops):
                continue  # inside a collapsed name scope or cell (its loop is drawn below)
            edges.setdefault((gsrc, gdst, n.kind == "assign" and k == 0), src)
    summarised = bool(summary.cells or summary.scopes)
    for head, (role, _) in summary.loops.items():
        text = "state to step t+1" if role == "forward" else "gradient to step t-1"
        builder.edge(f"{prefix}n{head}", f"{prefix}n{head}", label=text,
                     **{k: v for k, v in RECURRENCE.items() if k != "constraint"})
    for (src, dst, ref), value in edges.items():
        if ref and summarised:
            continue  # the optimizer's box says which variables it writes
        if ref:  # the variable an assign writes: drawn as a dashed back reference
            builder.edge(f"{prefix}n{dst}", f"{prefix}n{src}", style="dashed", color="#5b3b99",
                         constraint="false", label="writes", fontcolor="#5b3b99")
            continue
        source = by_id[value]
        label = value_label(source)
        if summarised:  # shapes only (the heading names the dtype); sources show their own
            label = "" if source.kind in ("variable", "placeholder") else \
                format_shape(source.shape)
        attrs: dict[str, object] = {"label": label}
        if cell_of.get(src) and cell_of.get(src) == cell_of.get(dst) and \
                position[src] >= position[dst]:
            # within one loop cell, an edge against the order carries a value to the next
            # step (forward: the state h[t] -> step t+1; backward: its gradient -> step t-1)
            # or, on an add into itself, sums a weight's gradient over the steps
            if src == dst and source.op == "add":
                text = "sum over steps"
            else:
                text = "to step t+1" if cell_of[src] == "forward" else "to step t-1"
            attrs.update(RECURRENCE, label=text)
        elif position[src] > position[dst]:
            attrs.update(constraint="false", style="dashed")
        builder.edge(f"{prefix}n{src}", f"{prefix}n{dst}", **attrs)


def _node_attrs(by_id: dict[int, Node], ids: tuple[int, ...], summary: Summary, plan: Any,
                color_by: str, colours: dict[int, str]) -> dict[str, object]:
    node = by_id[ids[0]]
    kind = node_kind(node)
    attrs: dict[str, object] = dict(KIND_STYLES[kind])
    attrs["class"] = f"tf-{kind}"
    if ids[0] in summary.loops:
        role, ops = summary.loops[ids[0]]
        steps = next(t for t, cell in summary.cells.values() if ids[0] in cell)
        what = "loop cell" if role == "forward" else "gradient of the loop cell"
        label = f"{what} \u00d7{steps}\n{ops} ops per step, drawn once"
        attrs.update(CELL_STYLE, shape="box3d", fontsize=11,
                     tooltip=f"{len(ids)} ops: {ops} per step over {steps} steps; "
                             f"static_graph(..., expand_cells=True) draws them")
    elif ids[0] in summary.scopes:
        scope = summary.scopes[ids[0]].rsplit("/", 1)[-1]
        written = [by_id[by_id[i].inputs[0]].name for i in ids
                   if by_id[i].kind == "assign" and by_id[i].inputs[0] in by_id]
        label = f"{scope}: {len(ids)} ops\nwrites {', '.join(written)}"
        attrs.update(KIND_STYLES["update"], tooltip=f"name scope {summary.scopes[ids[0]]}")
    elif len(ids) > 1:
        label = node_label(node).split("\n")[-1] if _says_op(short_name(node), node.op) \
            else node.op
        in_cell = any(ids[0] in cell for _, cell in summary.cells.values())
        # in a cell box the box says x T; ops repeated side by side say how many
        label += f"\n{format_shape(node.shape)}" if in_cell else \
            f" \u00d7{len(ids)}\n{short_name(node).rstrip('_0123456789')}"
        attrs["tooltip"] = f"{len(ids)} repeated nodes, e.g. {node.name}"
    else:
        label = node_label(node)
        attrs["tooltip"] = f"{node.name or '%' + str(node.id)}  {value_label(node)}" + (
            f"  built at {node.site}" if node.site else "")
    if plan is not None:
        attrs["fillcolor"] = "white"
        placed = [note for note in (_memory_note(plan, i) for i in ids) if note is not None]
        if placed and ids[0] in summary.loops:  # a whole loop: too many buffers for one colour
            attrs["fillcolor"] = CELL_STYLE["fillcolor"]
            label += f"\nits values use {len({o for _, o in placed})} arena offsets"
        elif placed:
            text, offset = placed[0]
            if color_by == "offset":
                colours[offset] = attrs["fillcolor"] = offset_colours(plan)[offset]
            else:
                attrs["fillcolor"] = colours.setdefault(
                    plan.buffer_of[ids[0]], BUFFER_PALETTE[len(colours) % len(BUFFER_PALETTE)])
            if len(ids) > 1:
                text = f"{len({o for _, o in placed})} offsets, first:\n{text}"
            label += "\n" + text
            attrs["class"] = f"tf-{kind} tf-buffer"
    attrs["label"] = label
    return attrs
