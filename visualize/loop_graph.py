"""A static graph with loops in it, drawn with each loop as a box holding its body.

A ``while`` node owns its body graph (``graphs/control.py``): the body is compiled once and
run once per iteration. Drawn as one node, that is invisible; here the node becomes a box
(a Graphviz cluster) holding the body's ops, labelled with the loop's condition, with

* the loop-carried values entering the box (each body parameter fed by the loop's input:
  the value of the first iteration) and the captured outer values it reads every iteration;
* a **back edge** from each body output to the loop-carried parameter it becomes at the
  next iteration;
* the results leaving the box: the final value of each loop variable, and for a loop a
  gradient runs through, the stack of the values each iteration started from (saved for
  the reverse loop) and the number of iterations run.

A gradient loop (``tf.gradients`` through a ``while_loop``) is a loop too, drawn the same
way in the backward part: it runs the iterations in reverse, reading the saved stacks.
With memory plans, the ops outside the boxes are coloured by their offset in the outer
arena and the ops in a box by their offset in that body's own arena, planned once and
reused by every iteration.

Example:
    >>> import tapeflow.static as tf
    >>> from tapeflow.visualize.loop_graph import loop_graph
    >>> with tf.Graph().as_default() as g:
    ...     x = tf.placeholder(tf.float64, [3], name="x")
    ...     _, y = tf.while_loop(lambda i, v: i < 5, lambda i, v: (i + 1, tf.sin(v)),
    ...                          [tf.constant(0), x])
    >>> fig = loop_graph(g, outputs=[y])
    >>> "next iteration" in fig.source
    True
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from ..graphs.ir import Node
from .dot import DotBuilder, Figure
from .graph_key import legend_cluster
from .loop_parts import (
    body_summary,
    carried_names,
    condition_text,
    grouped_body,
    is_loop,
    ops_text,
)
from .static_graph import (
    KIND_STYLES,
    ROLE_TITLES,
    draw_static,
    node_kind,
    select_nodes,
    short_name,
    value_label,
)
from .summary import Summary, summarise
from .units import fmt_bytes

# class="loop" lets a page find the box (visualize/html_page.py scrolls a frame to it)
LOOP_BOX = {"style": "filled,rounded,bold", "color": "#00796b", "fillcolor": "#eef8f5",
            "fontcolor": "#00574b", "fontsize": 12, "penwidth": 2, "labeljust": "l",
            "class": "loop"}
BACK_EDGE = {"color": "#00796b", "fontcolor": "#00574b", "penwidth": 2.2, "style": "bold",
             "constraint": "false", "label": "next iteration"}
CARRIED = {"shape": "invhouse", "style": "filled,bold", "fillcolor": "#c8eee4",
           "color": "#00796b"}
CONDITION = {"shape": "diamond", "style": "filled", "fillcolor": "#fff8e1", "color": "#a07a00",
             "fontsize": 9}
STACK_EDGE = {"color": "#d35400", "fontcolor": "#a04000", "style": "dashed"}
# above this many nodes (outside and inside the boxes), collapse=None summarises: the RNN's
# forward graph with its loop (about 100) stays op by op, its training graph (300) does not
AUTO_FOLD_LOOP_NODES = 160
# inside a gradient loop's box, the roles of its ops say what each part does per iteration
# (the forward part is the replay as written; compiled, it reads the values the forward loop
# saved for it, static/compiler/residuals.py, and only rows and views run again)
BODY_ROLE_TITLES = {"forward": "the step's forward ops, replayed: compiled, they read the "
                               "values the forward loop saved",
                    "backward": "the step's gradient"}


class LoopBuilder(DotBuilder):
    """A DotBuilder that draws each loop node as the box of its body: the static drawing
    asks for the loop node and gets the box. The edges of loop nodes and of their results
    are left out of the static drawing: :meth:`_Loop.edges` draws them, knowing each one's
    parameter or output. ``restyle`` overrides some nodes' attributes (a carried
    parameter's shape, a grouped box's label)."""

    def __init__(self, name: str, graph_attrs: dict[str, object],
                 loops: dict[str, Callable[[LoopBuilder], None]], muted: set[str]) -> None:
        super().__init__(name, graph_attrs)
        self.loops, self.muted = loops, muted
        self.restyle: dict[str, dict[str, object]] = {}
        self.unlabelled: set[str] = set()  # boxes of many ops: their edges carry no label
        self.titles: dict[str, str] | None = None  # role clusters' titles inside a body
        self.flat = False  # no role clusters (inside a box of one role, or a grouped body)

    def node(self, node_id: str, **attrs: object) -> None:
        draw = self.loops.get(node_id)
        if draw is None:
            super().node(node_id, **{**attrs, **self.restyle.get(node_id, {})})
        else:
            draw(self)

    def edge(self, src: str, dst: str, **attrs: object) -> None:
        if src in self.loops or dst in self.loops or dst in self.muted:
            return
        if src in self.unlabelled or dst in self.unlabelled:
            attrs["label"] = ""
        super().edge(src, dst, **attrs)

    def own_edge(self, src: str, dst: str, **attrs: object) -> None:
        """An edge drawn as given (a loop's own edges)."""
        super().edge(src, dst, **attrs)

    @contextmanager
    def cluster(self, label: str, **attrs: object) -> Iterator[None]:
        if self.flat:
            yield
            return
        role = next((r for r, t in ROLE_TITLES.items() if t == label), None)
        if self.titles is not None and role in self.titles:
            label = self.titles[role]
        with super().cluster(label, **attrs):
            yield


class _Loop:
    """One loop of the drawing: its node, the names of its variables, its body's plan, and
    (once drawn) the grouping its body was drawn with."""

    def __init__(self, node: Node, outer: Mapping[int, Node], plan: Any, saved: int | None,
                 grouped: bool) -> None:
        self.node, self.plan, self.saved, self.grouped = node, plan, saved, grouped
        self.prefix = f"L{node.id}_"
        self.body = node.attrs["body"]
        self.n_vars: int = node.attrs["n_vars"]
        self.names = carried_names(node, outer)
        self.condition = condition_text(node, outer, self.names)
        self.summary: Summary | None = None

    def dot_id(self, body_node: int) -> str | None:
        """The drawn box of a body node (through the ops drawn as plain edges)."""
        assert self.summary is not None
        group = self.summary.folded.group_of.get(self.summary.source(body_node))
        return None if group is None else f"{self.prefix}n{group}"

    def label(self) -> str:
        gradient = self.node.role == "backward"
        what = "the gradient loop: the iterations in reverse" if gradient else "the loop"
        lines = [f"while {self.condition}:  {what}",
                 "body compiled once, run once per iteration"]
        if self.plan is not None:
            lines.append(f"its own arena of {fmt_bytes(self.plan.arena_bytes)}, reused by every "
                         "iteration" + ("" if self.grouped else
                                        "; fill colour = offset in that arena"))
        if self.saved:
            lines.append(f"saves {fmt_bytes(self.saved)} per iteration for the gradient "
                         "(the stacks grow with the iterations run)")
        return "\n".join(lines)

    def result_label(self, result: Node) -> str:
        index = result.attrs["index"]
        if index < self.n_vars:
            return f"{self.names[index]}, final\n{value_label(result)}"
        if index < 2 * self.n_vars:
            return f"stack of {self.names[index - self.n_vars]}\n{value_label(result)}"
        return f"iterations run\n{value_label(result)}"

    def body_nodes(self, outer: Mapping[int, Node], named: Mapping[int, str]) -> list[Node]:
        """The body's nodes, its parameters named for what they stand for (a captured
        result of another loop by ``named``: ``stack of h``)."""
        position = {p: k for k, p in enumerate(self.body.params)}
        nodes = []
        for n in self.body.graph.nodes:
            k = position.get(n.id)
            if k is not None and k < self.n_vars:
                n = n.with_(name=f"{self.names[k]} (carried)")
            elif k is not None and self.node.inputs[k] in outer:
                source = self.node.inputs[k]
                name = named.get(source) or short_name(outer[source])
                n = n.with_(name=f"{name} (captured)")
            nodes.append(n)
        return nodes

    def draw(self, builder: LoopBuilder, outer: Mapping[int, Node], named: Mapping[int, str],
             color_by: str) -> None:
        """The box: the body (op by op, or grouped), its carried parameters side by side at
        the top, and its condition."""
        nodes = self.body_nodes(outer, named)
        self.summary = grouped_body(nodes, self.body.params, self.n_vars) if self.grouped \
            else body_summary(nodes)
        carried = [f"{self.prefix}n{p}" for p in self.body.params[:self.n_vars]]
        for dot_id in carried:
            builder.restyle[dot_id] = CARRIED
        if self.grouped:
            self._group_styles(builder, {n.id: n for n in nodes})
        roles = {n.role for n in nodes if n.kind == "call"}
        with DotBuilder.cluster(builder, self.label(), **LOOP_BOX):
            builder.flat, builder.titles = self.grouped or len(roles) <= 1, BODY_ROLE_TITLES
            try:
                draw_static(builder, nodes, self.summary, None if self.grouped else self.plan,
                            color_by, self.prefix)
            finally:
                builder.flat, builder.titles = False, None
            builder.same_rank(carried)
            DotBuilder.node(builder, f"{self.prefix}cond", label=f"{self.condition} ?",
                            tooltip="the loop's condition, checked before each iteration: "
                                    "false ends the loop", **CONDITION)
        for k in sorted(self.node.attrs["cond"].reads(0)):
            source = self.dot_id(self.body.params[k])
            if source is not None:
                builder.own_edge(source, f"{self.prefix}cond", style="dotted",
                                 color="#a07a00", arrowhead="none")

    def _group_styles(self, builder: LoopBuilder, by_id: Mapping[int, Node]) -> None:
        """Labels of a grouped body's boxes: what each part is and which ops it runs."""
        assert self.summary is not None
        gradient = self.node.role == "backward"
        for head, members in self.summary.folded.members.items():
            node = by_id[head]
            if len(members) == 1 and node.kind == "placeholder":
                continue
            dot_id = f"{self.prefix}n{head}"
            builder.unlabelled.add(dot_id)
            if node.kind == "placeholder":
                names = [by_id[m].name.removesuffix(" (captured)") for m in members]
                rows = [", ".join(names[k:k + 3]) for k in range(0, len(names), 3)]
                label = "captured, the same every iteration:\n" + "\n".join(rows)
            else:
                part = BODY_ROLE_TITLES[node.role] if gradient else "one step of the loop"
                label = (f"{part}: {len(members)} ops\n"
                         f"{ops_text([by_id[m] for m in members])}")
                label += self._offsets_text(members)
            kind = node_kind(node)
            builder.restyle[dot_id] = {"label": label, "fillcolor": KIND_STYLES[kind].get(
                "fillcolor", "white"), "tooltip": f"{len(members)} nodes; the op-level view "
                                                  "draws each (collapse=False)"}

    def _offsets_text(self, members: Sequence[int]) -> str:
        if self.plan is None:
            return ""
        buffers = {self.plan.buffer_of[m] for m in members if m in self.plan.buffer_of}
        offsets = {self.plan.offsets[b] for b in buffers if b in self.plan.offsets}
        return f"\nits values use {len(offsets)} offsets of the body's arena" if offsets else ""

    def edges(self, builder: LoopBuilder, outer: Summary, results: Sequence[Node],
              by_id: Mapping[int, Node]) -> None:
        """Values entering the box, the back edges, and the results leaving it."""
        group_of = outer.folded.group_of
        for k, source in enumerate(self.node.inputs):
            param = self.dot_id(self.body.params[k])
            outside = group_of.get(outer.source(source))
            if param is None or outside is None:
                continue  # (an initial constant: the summary leaves constants out)
            if k < self.n_vars:
                builder.own_edge(f"n{outside}", param, label="first value", color="#00796b",
                                 fontcolor="#00574b")
            else:
                builder.edge(f"n{outside}", param, label=value_label(by_id[source]))
        for k in range(self.n_vars):
            out = self.dot_id(self.body.graph.outputs[k])
            param = self.dot_id(self.body.params[k])
            if out is not None and param is not None:
                builder.own_edge(out, param, **BACK_EDGE)
        drawn: set[tuple[str, str]] = set()
        for result in results:
            index, target = result.attrs["index"], group_of.get(result.id)
            if index < self.n_vars:
                source = self.dot_id(self.body.graph.outputs[index])
                attrs: dict[str, object] = {"label": "after the last iteration"}
            elif index < 2 * self.n_vars:
                source = self.dot_id(self.body.params[index - self.n_vars])
                attrs = {"label": "each iteration's value", **STACK_EDGE}
            else:
                source, attrs = f"{self.prefix}cond", {"label": "counted", **STACK_EDGE}
            if source is not None and target is not None and \
                    (source, f"n{target}") not in drawn:
                drawn.add((source, f"n{target}"))
                builder.own_edge(source, f"n{target}", **attrs)


def loop_graph(graph: Any, outputs: Sequence[Any] = (), *, plan: Any = None,
               body_plans: Mapping[tuple[str, str], Any] | None = None, backward: bool = True,
               collapse: bool | None = None, color_by: str = "offset", legend: bool = True,
               title: str = "", rankdir: str = "TB") -> Figure:
    """Draws a static graph whose ``while`` loops are boxes holding their bodies.

    Args:
        graph: a ``tapeflow.static.Graph`` or a ``graphs.ir.Graph``.
        outputs: tensors/ops (or node ids for an IR graph) to prune to; empty: everything.
        plan: the memory plan of the outer graph (``Session.plan``): the ops outside the
            boxes are coloured by arena offset. Its ``loops`` give the bodies' plans.
        body_plans: (loop node name, body name) -> the plan of that body, for bodies
            ``plan.loops`` lacks (a gradient loop's body is planned when it first runs).
        backward: include the backward part (the gradient loop) and the update.
        collapse: the summarised view: the outer graph summarised (constants left out, the
            optimizer as one box) and each body drawn as a few boxes (its carried values,
            what it captures, its step's ops). False: every op, the ops in a box coloured
            by their offset in the body's own arena. None: summarised above
            :data:`AUTO_FOLD_LOOP_NODES` nodes.
        color_by: ``"offset"`` or ``"buffer"``, as in :func:`static_graph`.
        legend: add a key of the node kinds (and of the outer arena's colours).
        title: the drawing's title.
        rankdir: Graphviz's direction.

    Returns:
        a :class:`~tapeflow.visualize.dot.Figure`; ``info["loops"]`` names each loop drawn.
    """
    nodes = select_nodes(graph, outputs, backward)
    by_id = {n.id: n for n in nodes}
    if collapse is None:
        collapse = len(nodes) + sum(len(n.attrs["body"].graph) for n in nodes
                                    if is_loop(n)) > AUTO_FOLD_LOOP_NODES
    loops = _loops(nodes, plan, body_plans, collapse)
    results = {n.id: n for n in nodes if n.op == "control_output" and n.inputs[0] in loops}
    # (no "loop cell x T" outside the boxes: repeated ops there are not an unrolled loop)
    summary = replace(summarise(nodes), cells={}) if collapse else body_summary(nodes)
    heading = _heading(title, plan, len(loops), collapse)
    builder = LoopBuilder("loop_graph", {"rankdir": rankdir, "label": heading, "labelloc": "t",
                                         "newrank": "true", "compound": "true",
                                         "ranksep": 0.35, "nodesep": 0.25},
                          {f"n{i}": lambda b, loop=loop: loop.draw(b, by_id, named, color_by)
                           for i, loop in loops.items()},
                          {f"n{summary.folded.group_of.get(i, i)}" for i in results})
    named = {r.id: loops[r.inputs[0]].result_label(r) for r in results.values()}
    for i, label in named.items():
        builder.restyle[f"n{i}"] = {"label": label}
        named[i] = label.split("\n")[0]
    colours = draw_static(builder, nodes, summary, plan, color_by)
    for loop in loops.values():
        if loop.summary is not None:  # (drawn unless the summary folded it away)
            loop.edges(builder, summary, [r for r in results.values()
                                          if r.inputs[0] == loop.node.id], by_id)
    kinds = sorted({node_kind(n) for n in nodes if n.id in summary.folded.group_of},
                   key=list(KIND_STYLES).index)
    if legend:
        legend_cluster(builder, kinds, colours)
    return builder.figure(heading, nodes=len(nodes), drawn=len(summary.folded),
                          loops=[loop.node.name for loop in loops.values()], kinds=kinds)


def _loops(nodes: Sequence[Node], plan: Any, body_plans: Mapping[tuple[str, str], Any] | None,
           grouped: bool) -> dict[int, _Loop]:
    """A :class:`_Loop` per while node, with its body's plan (from ``body_plans`` or the
    outer plan's ``loops``) and what it saves per iteration."""
    by_id = {n.id: n for n in nodes}
    plans = dict(body_plans or {})
    saved: dict[str, int] = {}
    for loop_plan in getattr(plan, "loops", None) or ():
        plans.setdefault((loop_plan.node, loop_plan.body), loop_plan.plan)
        saved[loop_plan.node] = saved.get(loop_plan.node, 0) + \
            loop_plan.saved_bytes_per_iteration
    return {n.id: _Loop(n, by_id, plans.get((n.name, "body")), saved.get(n.name), grouped)
            for n in nodes if is_loop(n)}


def _heading(title: str, plan: Any, loops: int, collapse: bool) -> str:
    heading = title or "static graph with loops"
    heading += (f"\n{loops} loop{'s' if loops != 1 else ''}, each drawn as a box holding "
                "its body; bold green edges carry a value to the next iteration")
    if collapse:
        heading += "; each body summarised in a few boxes (every op: collapse=False)"
    if plan is not None:
        heading += (f"\nmemory plan: outer arena {fmt_bytes(plan.arena_bytes)}, fill colour = "
                    "offset in it" + ("" if collapse else "; inside a box, colours are "
                                      "offsets in the body's own arena"))
    return heading
