"""The HTML report ``tapeflow compare ... --out DIR`` writes: one self-contained file.

Per workload: the comparison table, the loss curves of every mode overlaid, the memory
timeline of one training step (static plan and traced dynamic step), the static training
graph coloured by its memory plan, the dynamic tape, for the RNN the why-static-graphs-pad
figure, and the code of each style side by side. Every SVG is inline (and also written
next to the report); the page loads nothing from anywhere.

Without Graphviz's ``dot`` the graphs are written as ``.dot`` files and the report says
how to install it; the plots and tables do not need it.

Example:
    >>> # paths = write(Path("out"), results, args)  # [..., out/report.html]
"""

from __future__ import annotations

import datetime
import html
import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..visualize.dot import INSTALL_HINT, DotNotFoundError, Figure

_PROLOG = re.compile(r"^.*?(?=<svg)", re.S)

CSS = """
body { font-family: Helvetica, Arial, sans-serif; margin: 24px; color: #222; background: #fff; }
h1 { font-size: 24px; margin-bottom: 4px; } h2 { margin-top: 36px; border-bottom: 2px solid
#1f4e99; padding-bottom: 4px; } h3 { margin-top: 24px; font-size: 16px; }
.meta { color: #555; font-size: 13px; }
table.cmp { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
table.cmp th, table.cmp td { border: 1px solid #ccc; padding: 4px 10px; text-align: right; }
table.cmp th:first-child, table.cmp td:first-child { text-align: left; }
table.cmp thead th { background: #1f4e99; color: #fff; }
table.cmp tbody tr:nth-child(even) { background: #f3f6fb; }
.verdict { font-weight: bold; } .agree { color: #2e7d32; } .disagree { color: #b03a2e; }
.figure { border: 1px solid #ddd; border-radius: 6px; padding: 8px; margin: 10px 0;
  overflow: auto; max-height: 900px; background: #fff; }
.figure svg { max-width: 100%; height: auto; }
.caption { font-size: 12px; color: #555; margin: 4px 0 0 0; }
.code { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
.code pre { background: #f7f7f7; border: 1px solid #ddd; padding: 8px; font-size: 11px;
  overflow: auto; max-height: 700px; margin: 0; }
.note { background: #fff8e1; border: 1px solid #e0c060; padding: 8px; font-size: 13px; }
"""


def inline_svg(svg: str) -> str:
    """An SVG document as an element for inline HTML (no XML prolog or DOCTYPE)."""
    return _PROLOG.sub("", svg, count=1)


def _esc(value: Any) -> str:
    return html.escape(str(value))


def html_table(result: Any) -> str:
    """The comparison table of one WorkloadResult, with the terminal table's rows."""
    summaries = [r.summary() for r in result.results]
    try:
        from .report import ROWS
    except ImportError:  # the harness without its formatters: the raw figures
        ROWS = [(key, (lambda k: lambda s: s.get(k, "-"))(key)) for key in summaries[0]]
    head = "".join(f"<th>{_esc(s['mode'])}</th>" for s in summaries)
    rows = []
    for label, fmt in ROWS:
        cells = []
        for s in summaries:
            try:
                cells.append(str(fmt(s)))
            except (KeyError, TypeError, ValueError):
                cells.append("-")
        if all(c in ("-", "- .. -") for c in cells):
            continue
        rows.append(f"<tr><td>{_esc(label)}</td>" + "".join(f"<td>{_esc(c)}</td>" for c in cells)
                    + "</tr>")
    dynamic = next((s for s in summaries if s["style"] == "dynamic"), None)
    if dynamic and len(summaries) > 1 and dynamic.get("median_step_seconds"):
        ratios = [f"{s['median_step_seconds'] / dynamic['median_step_seconds']:.2f}x"
                  for s in summaries]
        rows.append("<tr><td>step time / dynamic</td>" + "".join(f"<td>{r}</td>" for r in ratios)
                    + "</tr>")
    caption = f"{_esc(result.workload)} ({_esc(result.dtype)}, {result.steps} steps)"
    return (f'<table class="cmp"><thead><tr><th>{caption}</th>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")


def _verdict(result: Any) -> str:
    worst = max(result.agreement.values(), default=0.0)
    ok = result.agrees
    word = "agree" if ok else "DISAGREE"
    return (f'<p class="verdict {"agree" if ok else "disagree"}">losses {word}: max relative '
            f"difference {worst:.2e} (tolerance {result.tolerance:g}) over {result.steps} "
            f"steps</p>")


class _Section:
    """Collects one workload's HTML and the files written beside the report."""

    def __init__(self, out_dir: Path, prefix: str) -> None:
        self.out_dir, self.prefix = out_dir, prefix
        self.parts: list[str] = []
        self.files: list[Path] = []

    def svg(self, name: str, heading: str, svg: str, caption: str = "") -> None:
        path = self.out_dir / f"{self.prefix}_{name}.svg"
        path.write_text(svg)
        self.files.append(path)
        self.parts.append(f"<h3>{_esc(heading)}</h3><div class=\"figure\">{inline_svg(svg)}"
                          f"</div><p class=\"caption\">{_esc(caption)} "
                          f"(<a href=\"{_esc(path.name)}\">{_esc(path.name)}</a>)</p>")

    def graph(self, name: str, heading: str, make: Callable[[], Figure],
              caption: str = "") -> None:
        """A graph figure: inline SVG, or its .dot file and the install hint without dot."""
        try:
            fig = make()
        except Exception as exc:  # noqa: BLE001 - one failed figure must not sink the report
            self.parts.append(f"<h3>{_esc(heading)}</h3><p class=\"note\">could not draw this "
                              f"figure: {_esc(type(exc).__name__)}: {_esc(exc)}</p>")
            return
        caption = caption or str(fig.info.get("caption", ""))
        try:
            self.svg(name, heading, fig.svg(), caption)
        except DotNotFoundError:
            path = fig.save(self.out_dir / f"{self.prefix}_{name}.dot")
            self.files.append(path)
            self.parts.append(f"<h3>{_esc(heading)}</h3><p class=\"note\">Graphviz's "
                              f"<code>dot</code> is not installed, so this graph was written "
                              f"as <a href=\"{_esc(path.name)}\">{_esc(path.name)}</a>; "
                              f"{_esc(INSTALL_HINT)}</p>")


def _workload_section(out_dir: Path, result: Any, dtype: str, seed: int,
                      device: str) -> _Section:
    from ..visualize import plots
    from ..visualize.memory_trace import trace_dynamic_step
    from ..visualize.static_graph import static_graph
    from .rnn_figure import rnn_padding_figure
    from .workload_graphs import build_workload, dynamic_figure, longest_batch, static_training_step

    sec = _Section(out_dir, result.workload)
    info = "".join(f"<li>{_esc(k)}: {_esc(v)}</li>" for k, v in result.info.items())
    sec.parts.append(f"<h2 id=\"{_esc(result.workload)}\">{_esc(result.workload)}</h2>"
                     f"<ul class=\"meta\">{info}</ul>{html_table(result)}{_verdict(result)}")
    reference = next((r.mode for r in result.results if r.mode not in result.agreement), None)
    sec.svg("losses", "Loss per training step, every mode overlaid",
            plots.loss_curves({r.mode: r.losses for r in result.results}, reference=reference,
                              title=f"{result.workload}: training loss",
                              styles={r.mode: r.style for r in result.results}),
            "dashed: static modes, solid: dynamic; lower panel: relative difference to "
            f"the reference mode ({reference})")
    try:
        workload = build_workload(result.workload, dtype, seed)
        trainer, fetches, feed = static_training_step(workload)
        plan = trainer.sess.plan(fetches, feed)
    except Exception as exc:  # noqa: BLE001 - a workload the visualiser cannot rebuild
        sec.parts.append(f"<p class=\"note\">no memory timeline or graphs for this workload: "
                         f"{_esc(type(exc).__name__)}: {_esc(exc)}</p>")
        return sec
    dyn = next(m for m in workload.modes if m.style == "dynamic").make()
    batch = longest_batch(workload)
    trace = trace_dynamic_step(lambda: dyn.step(*workload.step_args(batch)))
    host_only = " On a GPU run tracemalloc sees host memory only." if device != "cpu" else ""
    sec.svg("memory", "Memory over one training step",
            plots.memory_timeline(plan, trace, title=f"{result.workload}: one training step "
                                                     f"(longest batch)"),
            "static: the compiled memory plan per schedule step (bottom axis); dynamic: "
            "tracemalloc's live traced bytes after each kernel of one eager step (top axis), "
            "which include Python objects such as tape nodes; the two x axes differ."
            + host_only)
    sec.graph("static_graph", "Static training graph, coloured by arena buffer",
              lambda: static_graph(trainer.graph, outputs=fetches, plan=plan,
                                   title=f"{result.workload}: static training graph"),
              "forward, backward (gradients) and update clusters; each planned node shows "
              "its buffer, offset, size and lifetime (schedule steps)")
    sec.graph("dynamic_tape", "Dynamic tape after backward",
              lambda: dynamic_figure(workload, backward=True, memory=True),
              "grad_fn nodes, each leaf's AccumulateGrad with its .grad, and (orange) the "
              "tensors each node saved for backward")
    if result.workload == "rnn":
        sec.graph("padding", "Why static graphs pad", lambda: rnn_padding_figure(seed=seed))
    sec.parts.append(_code_listings(workload))
    return sec


def _code_listings(workload: Any) -> str:
    """Each distinct source file of the workload's modes; static left, dynamic right."""
    columns: dict[str, list[str]] = {"static": [], "dynamic": []}
    seen: set[str] = set()
    for mode in sorted(workload.modes, key=lambda m: m.style != "static"):
        source = workload.source_of(mode)
        if source in seen:
            continue
        seen.add(source)
        modes = ", ".join(m.name for m in workload.modes if workload.source_of(m) == source)
        try:
            filename = Path(inspect.getsourcefile(mode.source) or "").name
        except TypeError:
            filename = ""
        columns.setdefault(mode.style, []).append(
            f"<h4>{_esc(mode.style)} style: {_esc(filename)} ({_esc(modes)})</h4>"
            f"<pre><code>{_esc(source)}</code></pre>")
    cells = "".join(f"<div>{''.join(parts)}</div>" for parts in columns.values() if parts)
    return f"<h3>The code, side by side</h3><div class=\"code\">{cells}</div>"


def write(out_dir: Path, results: list[Any], args: Any) -> list[Path]:
    """Writes ``report.html`` (and each figure's SVG) into ``out_dir``; returns the paths.

    Args:
        out_dir: the folder (created if missing).
        results: ``compare.harness.WorkloadResult`` objects, one per workload.
        args: the command line's namespace (``dtype``, ``seed``, ``device`` are read;
            missing ones default to the results' dtype, seed 0 and cpu).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if not results:
        raise ValueError("report.write: no results to report")
    dtype = getattr(args, "dtype", None) or results[0].dtype
    seed = getattr(args, "seed", None)
    seed = 0 if seed is None else int(seed)
    device = getattr(args, "device", None) or "cpu"
    sections = [_workload_section(out_dir, r, dtype, seed, device) for r in results]
    nav = " | ".join(f"<a href=\"#{_esc(r.workload)}\">{_esc(r.workload)}</a>" for r in results)
    when = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    body = "".join("".join(s.parts) for s in sections)
    page = (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>tapeflow: one model, two graphs</title><style>{CSS}</style></head><body>"
            f"<h1>tapeflow: one model, two graphs</h1><p class=\"meta\">static (TF1-style "
            f"graph, compiled and memory-planned) against dynamic (PyTorch-style tape), same "
            f"weights, same data. dtype {_esc(dtype)}, seed {seed}, device {_esc(device)}, "
            f"written {when}. Timings are medians measured in one run; compare ratios, not "
            f"absolute times.</p><p>{nav}</p>{body}</body></html>\n")
    report = out_dir / "report.html"
    report.write_text(page)
    return [p for s in sections for p in s.files] + [report]
