"""Text tables for the terminal, and the files ``tapeflow compare --out DIR`` writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .harness import WorkloadResult


def _bytes(n: Any) -> str:
    if n is None:
        return "-"
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _ms(seconds: Any) -> str:
    return "-" if seconds is None else f"{seconds * 1e3:.3f} ms"


ROWS: list[tuple[str, Any]] = [
    ("build + first step", lambda s: f"{s['build_seconds'] * 1e3:.1f} ms"),
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
        lambda s: f"{s['epoch_seconds'] * 1e3:.1f} ms" if "epoch_seconds" in s else "-",
    ),
    ("final loss", lambda s: f"{s['final_loss']:.6g}"),
    ("accuracy", lambda s: f"{s['accuracy'] * 100:.1f} %"),
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
