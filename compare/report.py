"""Text tables for the terminal, and the files ``tapeflow compare --out DIR`` writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..visualize.units import fmt_bytes as _bytes
from ..visualize.units import fmt_ms
from .harness import WorkloadResult


def _ms(seconds: Any) -> str:
    return fmt_ms(seconds, 3)


ROWS: list[tuple[str, Any]] = [
    ("build + first step", lambda s: fmt_ms(s["build_seconds"], 1)),
    ("median step", lambda s: _ms(s["median_step_seconds"])),
    (
        "step p25..p75",
        lambda s: (
            f"{_ms(s['step_seconds_p25'])} .. {_ms(s['step_seconds_p75'])}"
            if s["step_seconds_p25"] is not None
            else "-"
        ),
    ),
    ("steps/s", lambda s: "-" if s["steps_per_second"] is None else f"{s['steps_per_second']:.0f}"),
    ("peak bytes, first step", lambda s: _bytes(s["peak_first_step_bytes"])),
    ("peak bytes, later step", lambda s: _bytes(s["peak_step_bytes"])),
    ("arena (planned)", lambda s: _bytes(s.get("arena_bytes"))),
    ("arena lower bound", lambda s: _bytes(s.get("lower_bound_bytes"))),
    ("no-reuse bytes", lambda s: _bytes(s.get("naive_bytes"))),
    (
        "graph nodes fwd/bwd/upd",
        lambda s: (
            "/".join(str(s[k]) for k in ("forward_nodes", "backward_nodes", "update_nodes"))
            if "forward_nodes" in s
            else "-"
        ),
    ),
    ("compilations", lambda s: str(s.get("compilations", "-"))),
    ("tape nodes per step", lambda s: str(s.get("tape_nodes_per_step", "-"))),
    (
        "padding waste",
        lambda s: f"{s['padding_waste'] * 100:.1f} %" if "padding_waste" in s else "-",
    ),
    (
        "time per epoch",
        lambda s: fmt_ms(s["epoch_seconds"], 1) if "epoch_seconds" in s else "-",
    ),
    ("final loss", lambda s: f"{s['final_loss']:.6g}"),
    ("accuracy", lambda s: f"{s['accuracy'] * 100:.1f} %"),
]

# Every metric the report shows, with its unit and what it means: the report's glossary.
GLOSSARY: list[tuple[str, str, str]] = [
    ("build + first step", "ms", "time from nothing to one finished training step: for "
     "static modes building the graph, compiling (pruning, passes, memory planning) and "
     "running it once; for dynamic, the first eager step"),
    ("median step", "ms", "the median time of one training step after the first"),
    ("step p25..p75", "ms", "the middle half of the step times (25th to 75th percentile)"),
    ("steps/s", "1/s", "training steps per second, from the median step"),
    ("peak bytes, first step", "KiB/MiB", "the most memory traced (tracemalloc) during the "
     "first step, building included"),
    ("peak bytes, later step", "KiB/MiB", "the most memory traced during one later step"),
    ("arena (planned)", "KiB/MiB", "the one block the static memory plan reserves for every "
     "intermediate value of a step; buffers whose lifetimes do not overlap share bytes"),
    ("arena lower bound", "KiB/MiB", "the largest sum of sizes of values alive at the same "
     "schedule step: no plan of this schedule can use less"),
    ("no-reuse bytes", "KiB/MiB", "what the intermediates would take if none shared bytes"),
    ("graph nodes fwd/bwd/upd", "nodes", "nodes of the static graph in its forward, "
     "backward (gradient) and update (optimizer) parts"),
    ("compilations", "count", "how often a static mode compiled a graph (once per fetch "
     "and feed signature; once per length bucket; once per trace)"),
    ("tape nodes per step", "nodes", "operations the dynamic tape records in one step, "
     "averaged over the batches: the graph that is rebuilt every step"),
    ("padding waste", "%", "the share of computed RNN steps that are padding, not words"),
    ("time per epoch", "ms", "one pass over every batch of the data"),
    ("final loss", "-", "the training loss after the last step"),
    ("accuracy", "%", "correct predictions on the training data after training"),
    ("step time / dynamic", "ratio", "a mode's median step divided by the dynamic one's: "
     "below 1x is faster than dynamic"),
    ("break-even step", "steps", "after this many steps a static mode's higher build cost "
     "is paid back by its faster steps"),
    ("kernels per step", "count", "array kernels (matmul, add, ...) one step runs"),
    ("allocations per step", "count", "new arrays one step allocates for results"),
    ("dispatches per step", "count", "Python-level calls that launch work in one step: one "
     "per op for dynamic, one Session.run for static"),
]


def table(result: WorkloadResult) -> str:
    """A side-by-side table: one column per mode, one row per measurement."""
    summaries = [r.summary() for r in result.results]
    header = [f"{result.workload} ({result.dtype}, {result.steps} steps)"] + [
        s["mode"] for s in summaries
    ]
    rows = [header]
    for label, fmt in ROWS:
        cells = [fmt(s) for s in summaries]
        if all(c in ("-", "- .. -") for c in cells):
            continue
        rows.append([label] + cells)
    ratio_base = next((s for s in summaries if s["style"] == "dynamic"), None)
    if ratio_base and len(summaries) > 1:
        rows.append(
            ["step time / dynamic"]
            + [
                f"{s['median_step_seconds'] / ratio_base['median_step_seconds']:.2f}x"
                for s in summaries
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for n, row in enumerate(rows):
        lines.append(
            "  ".join(
                cell.ljust(w) if i == 0 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    from .agreement_report import summary_lines  # lockstep verdict, horizon, bit identity

    lines.extend(summary_lines(result))
    return "\n".join(lines)


def write_outputs(out: Path, results: list[WorkloadResult], args: Any) -> list[Path]:
    """The SVGs and the HTML report beside results.json."""
    from . import html_report

    return html_report.write(out, results, args)


def render_workload_graph(
    workload: str, mode: str, backward: bool, memory: bool, output: Path, dtype: str, seed: int
) -> Path:
    from . import workload_graphs

    return workload_graphs.render(workload, mode, backward, memory, output, dtype, seed)
