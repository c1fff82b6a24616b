"""The key of a static graph drawing: node kinds, and the colours of arena offsets.

With a memory plan, a node's fill colour means one thing only: its offset in the arena
(:func:`offset_colours`, shared with the memory chart), so equal colours are the same
bytes reused; node kinds keep their shapes and borders.

Example:
    >>> offset_colours(type("P", (), {"offsets": {7: 0, 8: 64}})())
    {0: '#8dd3c7', 64: '#ffffb3'}
"""

from __future__ import annotations

from typing import Any

from .dot import DotBuilder
from .units import fmt_bytes

# ColorBrewer Set3 plus a few: light enough that black text stays readable. With a memory
# plan the fill colour means "arena offset" only; node kinds keep their shapes and borders.
BUFFER_PALETTE = ("#8dd3c7", "#ffffb3", "#bebada", "#fb8072", "#80b1d3", "#fdb462",
                  "#b3de69", "#fccde5", "#d9d9d9", "#bc80bd", "#ccebc5", "#ffed6f",
                  "#a6cee3", "#fdbf6f", "#cab2d6", "#b2df8a")


def offset_colours(plan: Any) -> dict[int, str]:
    """Arena offset -> fill colour, by the offsets' order: the graph drawing and the memory
    chart use the same mapping, so one colour is one place in the arena in both."""
    offsets = sorted(set(plan.offsets.values()))
    return {o: BUFFER_PALETTE[k % len(BUFFER_PALETTE)] for k, o in enumerate(offsets)}


def legend_cluster(builder: DotBuilder, kinds: list[str], colours: dict[int, str]) -> None:
    """A key: each node kind drawn in ``kinds``, then each arena offset's colour."""
    from .static_graph import KIND_STYLES, KIND_TITLES

    with builder.cluster("key", style="rounded", color="#cccccc", fontsize=10):
        previous = None
        for kind in kinds:
            attrs = dict(KIND_STYLES[kind])
            if colours:  # the fill means the offset now: kinds by shape and border only
                attrs["fillcolor"] = "white"
            builder.node(f"legend_{kind}", label=KIND_TITLES[kind], fontsize=10, height=0.3,
                         **attrs)
            if previous is not None:
                builder.edge(previous, f"legend_{kind}", style="invis")
            previous = f"legend_{kind}"
        shown = sorted(colours.items())[:len(BUFFER_PALETTE)]
        for key, colour in shown:
            builder.node(f"legend_offset_{key}", label=f"offset {fmt_bytes(key)}", fontsize=10,
                         height=0.25, shape="box", fillcolor=colour, color=colour)
            if previous is not None:
                builder.edge(previous, f"legend_offset_{key}", style="invis")
            previous = f"legend_offset_{key}"
        if colours:
            note = "fill colour = arena offset:\nsame colour, same bytes reused"
            if len(colours) > len(BUFFER_PALETTE):
                note += f"\n({len(colours)} offsets; colours repeat)"
            builder.node("legend_memory", label=note, shape="plaintext", fontsize=10, style="")
            if previous is not None:
                builder.edge(previous, "legend_memory", style="invis")
