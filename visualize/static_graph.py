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
from .fold import Folded, common_name, fold

AUTO_FOLD_NODES = 400  # above this many nodes, collapse=None folds repeated steps

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
KIND_TITLES = {"placeholder": "placeholder", "variable": "Variable", "const": "constant",
               "op": "forward op", "gradient": "gradient op", "update": "update"}
ROLE_TITLES = {"forward": "forward", "backward": "backward (gradients)",
               "update": "update (optimizer)"}
ROLE_FILL = {"forward": "#f7faff", "backward": "#fff7f5", "update": "#faf7ff"}

# ColorBrewer Set3 plus a few: light enough that black text stays readable
BUFFER_PALETTE = ("#8dd3c7", "#ffffb3", "#bebada", "#fb8072", "#80b1d3", "#fdb462",
                  "#b3de69", "#fccde5", "#d9d9d9", "#bc80bd", "#ccebc5", "#ffed6f",
                  "#a6cee3", "#fdbf6f", "#cab2d6", "#b2df8a")


def node_kind(node: Node) -> str:
    """The drawing kind of an IR node: a key of :data:`KIND_STYLES`."""
    if node.kind in ("placeholder", "variable", "const"):
        return node.kind
    if node.kind == "assign" or node.role == "update":
        return "update"
    return "gradient" if node.role == "backward" else "op"


def value_label(node: Node) -> str:
    """``float32(?, 5)``: what an edge out of ``node`` carries."""
    return f"{node.dtype.name}{format_shape(node.shape)}"


def _short_attrs(node: Node) -> str:
    shown = []
    for key, value in node.attrs.items():
        if key in ("generator", "index", "dtype") or value is None or value is False:
            continue
        text = repr(value) if not isinstance(value, str) else value
        shown.append(f"{key}={text if len(text) <= 16 else text[:13] + '...'}")
    return ", ".join(shown[:2])


def node_label(node: Node) -> str:
    """Two or three lines: the node's short name, its op (or kind) and attributes."""
    name = node.name.rsplit("/", 1)[-1] if node.name else f"%{node.id}"
    if node.kind == "call":
        attrs = _short_attrs(node)
        return f"{name}\n{node.op}" + (f"({attrs})" if attrs else "")
    if node.kind == "const":
        value = node.value
        if value is not None and getattr(value, "size", 2) == 1:
            return f"{name}\n{value.item()!r}"
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
    """(label lines, buffer id) for a node the plan placed in the arena, else None."""
    buffer = plan.buffer_of.get(node_id)
    if buffer is None or buffer not in plan.offsets:
        return None
    first, last = plan.lifetimes[buffer]
    return (f"buf {buffer} @ {plan.offsets[buffer]} +{plan.sizes[buffer]} B\n"
            f"steps {first}..{last}", buffer)


def static_graph(graph: Any, outputs: Sequence[Any] = (), *, plan: Any = None,
                 backward: bool = True, collapse: bool | None = None,
                 color_by: str = "buffer", legend: bool = True, title: str = "",
                 rankdir: str = "TB") -> Figure:
    """Draws a static graph: forward, backward and update clusters.

    Args:
        graph: a ``tapeflow.static.Graph`` or a ``graphs.ir.Graph``.
        outputs: tensors/ops (or node ids for an IR graph) to prune to; empty: everything.
        plan: a memory plan (``static.planner.Plan``): colour nodes by arena buffer and
            show offset, size and lifetime. Nodes the plan does not know stay plain.
        backward: include the backward and update parts (False: the forward part only).
        collapse: fold repeated (unrolled) steps; None folds graphs above
            :data:`AUTO_FOLD_NODES` nodes.
        color_by: ``"buffer"`` (one colour per planned buffer) or ``"offset"`` (one colour
            per arena offset: same colour, same bytes reused).
        legend: add a small key of the node kinds.
        title: the drawing's title.

    Returns:
        a :class:`~tapeflow.visualize.dot.Figure` (``.svg()``, ``.save(path)``, inline in
        Jupyter).
    """
    nodes = select_nodes(graph, outputs, backward)
    if collapse is None:
        collapse = len(nodes) > AUTO_FOLD_NODES
    folded = fold(nodes) if collapse else None
    heading = title or "static graph"
    if folded is not None and folded.folded_count:
        heading += f"  (repeated steps folded: {len(nodes)} nodes drawn as {len(folded)})"
    if plan is not None:
        known = sum(1 for n in nodes if _memory_note(plan, n.id) is not None)
        heading += (f"\nmemory plan: arena {plan.arena_bytes} B, no reuse {plan.naive_bytes} B, "
                    f"lower bound {plan.lower_bound_bytes} B; {known} drawn nodes live in the "
                    f"arena (the compiled graph has {len(plan.steps)} steps)")
    drawn = len(folded) if folded is not None else len(nodes)
    builder = DotBuilder("static_graph", {"rankdir": rankdir, "label": heading,
                                          "labelloc": "t", "newrank": "true",
                                          "compound": "true", "ranksep": 0.35,
                                          "nodesep": 0.25})
    draw_static(builder, nodes, folded, plan, color_by)
    kinds = sorted({node_kind(n) for n in nodes}, key=list(KIND_STYLES).index)
    if legend:
        _legend(builder, kinds, plan is not None)
    counts = Counter(n.role for n in nodes)
    return builder.figure(heading, nodes=len(nodes), drawn=drawn,
                          roles=dict(counts), kinds=kinds)


def draw_static(builder: DotBuilder, nodes: list[Node], folded: Folded | None = None,
                plan: Any = None, color_by: str = "buffer", prefix: str = "") -> None:
    """Draws ``nodes`` (topological order) into ``builder``: sources, then one cluster per
    role; ``prefix`` keeps node ids apart when several graphs share one drawing."""
    by_id = {n.id: n for n in nodes}
    group_of = folded.group_of if folded else {n.id: n.id for n in nodes}
    members = folded.members if folded else {n.id: (n.id,) for n in nodes}
    order = folded.order if folded else tuple(n.id for n in nodes)
    offset_colour: dict[int, str] = {}
    sources = [g for g in order if by_id[g].kind in ("placeholder", "variable")]
    for gid in sources:
        attrs = _node_attrs(by_id, members[gid], plan, color_by, offset_colour)
        builder.node(f"{prefix}n{gid}", **attrs)
    for role in ("forward", "backward", "update"):
        in_role = [g for g in order if g not in sources and by_id[g].role == role]
        if not in_role:
            continue
        with builder.cluster(ROLE_TITLES[role], style="filled,rounded", color="#bbbbbb",
                             fillcolor=ROLE_FILL[role], fontsize=13):
            for gid in in_role:
                attrs = _node_attrs(by_id, members[gid], plan, color_by, offset_colour)
                builder.node(f"{prefix}n{gid}", **attrs)
    position_of = {gid: k for k, gid in enumerate(order)}
    edges: Counter[tuple[int, int, bool]] = Counter()
    for n in nodes:
        for position, i in enumerate(n.inputs):
            if i in by_id:
                ref = n.kind == "assign" and position == 0
                edges[(group_of[i], group_of[n.id], ref)] += 1
    for (src, dst, ref), count in edges.items():
        if ref:  # the variable an assign writes: drawn as a dashed back reference
            builder.edge(f"{prefix}n{dst}", f"{prefix}n{src}", style="dashed", color="#5b3b99",
                         constraint="false", label="writes", fontcolor="#5b3b99")
            continue
        label = value_label(by_id[src]) + (f" \u00d7{count}" if count > 1 else "")
        edge_attrs: dict[str, object] = {"label": label}
        if src == dst:
            edge_attrs.update(color="#1f4e99", penwidth=1.6)  # the loop of a folded recurrence
        elif position_of[src] > position_of[dst]:
            # folding can point an edge backwards (a later step feeds an earlier group's
            # members); letting it rank the layout would stretch the drawing
            edge_attrs.update(constraint="false", style="dashed")
        builder.edge(f"{prefix}n{src}", f"{prefix}n{dst}", **edge_attrs)


def _node_attrs(by_id: dict[int, Node], ids: tuple[int, ...], plan: Any, color_by: str,
                offset_colour: dict[int, str]) -> dict[str, object]:
    node = by_id[ids[0]]
    kind = node_kind(node)
    attrs: dict[str, object] = dict(KIND_STYLES[kind])
    attrs["class"] = f"tf-{kind}"
    if len(ids) > 1:
        name = common_name([by_id[i].name for i in ids]).rsplit("/", 1)[-1]
        label = f"{name} \u00d7{len(ids)}\n{node.op or node.kind}"
        attrs["tooltip"] = f"{len(ids)} repeated nodes, e.g. {node.name}"
        attrs["peripheries"] = 2
    else:
        label = node_label(node)
        attrs["tooltip"] = f"{node.name or '%' + str(node.id)}  {value_label(node)}" + (
            f"  built at {node.site}" if node.site else "")
    if plan is not None:
        notes = [(i, _memory_note(plan, i)) for i in ids]
        placed = [(i, note) for i, note in notes if note is not None]
        if placed:
            text, buffer = placed[0][1]
            key = buffer if color_by == "buffer" else plan.offsets[buffer]
            if color_by == "offset":
                colour = offset_colour.setdefault(
                    key, BUFFER_PALETTE[len(offset_colour) % len(BUFFER_PALETTE)])
            else:
                colour = BUFFER_PALETTE[key % len(BUFFER_PALETTE)]
            attrs["fillcolor"] = colour
            if len(ids) > 1:
                distinct = len({note[1] for _, note in placed})
                text = f"{distinct} buffers, first:\n{text}"
            label += "\n" + text
            attrs["class"] = f"tf-{kind} tf-buffer"
    attrs["label"] = label
    return attrs


def _legend(builder: DotBuilder, kinds: list[str], memory: bool) -> None:
    with builder.cluster("legend", style="rounded", color="#cccccc", fontsize=10):
        previous = None
        for kind in kinds:
            attrs = dict(KIND_STYLES[kind])
            builder.node(f"legend_{kind}", label=KIND_TITLES[kind], fontsize=9, height=0.3,
                         **attrs)
            if previous is not None:
                builder.edge(previous, f"legend_{kind}", style="invis")
            previous = f"legend_{kind}"
        if memory:
            builder.node("legend_memory", label="colour = arena buffer\nbuf B @ offset +size\n"
                         "steps first..last", shape="plaintext", fontsize=9, style="")
            if previous is not None:
                builder.edge(previous, "legend_memory", style="invis")
