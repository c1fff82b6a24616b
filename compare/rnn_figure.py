"""The classic figure on why static graphs pad, drawn from the workload's own graphs.

Each column is one graph of the RNN workload at cell level (one box per time step; each
box stands for the cell's ops, counted from the real graphs): the dynamic graphs that the
tape records for batches of three real lengths from the data (the shortest, the one the
report's other figures show, the longest), and the one static graph ``static-padded``
runs for every batch, unrolled to the longest sentence. For the report's batch its padded
steps are drawn grey and dashed: the mask keeps the state unchanged there, but every op
of every padded step still runs.

Example:
    >>> # rnn_padding_figure().save("why_static_pads.svg")
"""

from __future__ import annotations

from typing import Any

from ..visualize.dot import DotBuilder, Figure
from ..visualize.static_graph import select_nodes
from ..visualize.summary import summarise

_CELL = {"shape": "box", "style": "filled,rounded", "height": 0.22, "fontsize": 10,
         "margin": "0.08,0.02"}
_REAL = {**_CELL, "fillcolor": "#dbe8ff", "color": "#1f4e99"}
_PAD = {**_CELL, "style": "filled,rounded,dashed", "fillcolor": "#f2f2f2", "color": "#999999",
        "fontcolor": "#777777"}


def _column(b: DotBuilder, key: str, label: str, steps: int, real: int, colour: str) -> None:
    """One unrolled graph: ``steps`` cell boxes, the first ``real`` of them real words."""
    with b.cluster(label, style="rounded", color=colour, fontsize=11):
        previous = None
        for t in range(1, steps + 1):
            node = f"{key}_t{t}"
            if t <= real:
                b.node(node, label=f"cell t={t}", **_REAL)
            else:
                b.node(node, label=f"t={t} padding", **_PAD)
            if previous is not None:
                b.edge(previous, node, arrowsize=0.4)
            previous = node
        b.node(f"{key}_loss", label="logits, loss", shape="box", fontsize=10, height=0.22,
               fillcolor="#caff70", color="#4f7a28", style="filled")
        b.edge(previous or f"{key}_loss", f"{key}_loss", arrowsize=0.4)


def _batch_line(workload: Any, batch: Any) -> str:
    index = next(k for k, b in enumerate(workload.batches) if b is batch)
    size, length = batch.tokens.shape
    return f"batch {index}: {size} x {length} words"


def rnn_padding_figure(workload: Any = None, dtype: str = "float64", seed: int = 0) -> Figure:
    """Dynamic graphs of three real batch lengths beside the padded static graph, at cell
    level; ``workload`` defaults to ``compare.workloads.rnn(dtype, seed)``."""
    from .introspect import tape_size
    from .workload_graphs import (
        _mode,
        build_workload,
        dynamic_loss,
        figure_batch,
        static_training_step,
    )

    workload = workload or build_workload("rnn", dtype, seed)
    shown = figure_batch(workload)
    by_length = sorted(workload.batches, key=lambda batch: batch.max_length)
    picks = [by_length[0], shown, by_length[-1]]
    trainer, fetches, _ = static_training_step(workload, shown)
    nodes = select_nodes(trainer.graph, fetches[:1], backward=False)
    padded, cell = summarise(nodes).cells["forward"]
    static_ops = sum(1 for n in nodes if n.kind == "call")
    dyn = _mode(workload, "dynamic").make()
    b = DotBuilder("rnn_padding", {
        "rankdir": "TB", "labelloc": "t", "ranksep": 0.06, "nodesep": 0.3,
        "label": f"Why static graphs pad: one box = one RNN step (the static cell has "
                 f"{len(cell)} ops)"})
    counts = []
    for k, batch in enumerate(picks):
        ops = tape_size(dynamic_loss(workload, dyn, batch))
        counts.append(ops)
        what = "the report's batch" if batch is shown else ("shortest" if k == 0 else "longest")
        _column(b, f"d{k}", f"dynamic, {what}\n{_batch_line(workload, batch)}\n"
                f"{ops} recorded ops", batch.max_length, batch.max_length, "#b03a2e")
    waste = padded - shown.max_length
    _column(b, "s", f"static-padded, the report's batch\n{_batch_line(workload, shown)}\n"
            f"one graph of {padded} steps, {static_ops} ops;\n{waste} padded steps (grey)",
            padded, shown.max_length, "#1f4e99")
    note = ", ".join(f"{batch.max_length} words: {c} ops" for batch, c in zip(picks, counts,
                                                                             strict=True))
    return b.figure("why static graphs pad", dynamic_ops=counts, static_ops=static_ops,
                    padded=padded, cell_ops=len(cell),
                    caption=f"dynamic (forward ops on the tape): {note}; static-padded: "
                            f"{static_ops} forward ops for every batch")
