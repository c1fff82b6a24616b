"""The HTML report ``tapeflow compare ... --out DIR`` writes: one self-contained file.

It opens with one screen on the two styles, told with this run's own numbers, and a
glossary of every metric with its unit. Then, per workload: the comparison table, the
loss curves, the cost model (build cost against per-step saving, the break-even step), the
measured facts behind "why static is faster here and where dynamic wins", the memory plan
as an offset-by-step chart beside the dynamic run's memory, the static graph (summarised,
coloured by arena offset) beside the dynamic graph of the same batch, for the RNN the
padded graph against three real lengths, and the two programs side by side; after the
workloads, recomputation and which GEMM library runs each matrix product. Every figure
has a "what to look at" note, sits inline in a zoomable frame, and is also written next
to the report. Nothing is fetched; the same run gives the same bytes (no dates, no ids
that change from run to run; the GEMM section's timings are the autotuner's, which it
remembers for the process).

Without Graphviz's ``dot`` the graphs are written as ``.dot`` files and the report says
how to install it; the plots and tables do not need it.

Example:
    >>> # paths = write(Path("out"), results, args)  # [..., out/report.html]
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..visualize.dot import INSTALL_HINT, DotNotFoundError, Figure
from ..visualize.html_page import esc, frame, look, page
from ..visualize.html_page import inline_svg as inline_svg  # re-exported for callers
from . import report_text


def html_table(result: Any) -> str:
    """The comparison table of one WorkloadResult, with the terminal table's rows."""
    from .report import ROWS

    summaries = [r.summary() for r in result.results]
    head = "".join(f"<th>{esc(s['mode'])}</th>" for s in summaries)
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
        rows.append(f"<tr><td>{esc(label)}</td>" + "".join(f"<td>{esc(c)}</td>" for c in cells)
                    + "</tr>")
    dynamic = next((s for s in summaries if s["style"] == "dynamic"), None)
    if dynamic and len(summaries) > 1 and dynamic.get("median_step_seconds"):
        ratios = [f"{s['median_step_seconds'] / dynamic['median_step_seconds']:.2f}x"
                  for s in summaries]
        rows.append("<tr><td>step time / dynamic</td>" + "".join(f"<td>{r}</td>" for r in ratios)
                    + "</tr>")
    caption = f"{esc(result.workload)} ({esc(result.dtype)}, {result.steps} steps)"
    return (f'<div class="tablewrap"><table class="cmp"><thead><tr><th>{caption}</th>{head}'
            f"</tr></thead><tbody>{''.join(rows)}</tbody></table></div>")


class _Section:
    """Collects one workload's HTML and the files written beside the report."""

    def __init__(self, out_dir: Path, prefix: str) -> None:
        self.out_dir, self.prefix = out_dir, prefix
        self.parts: list[str] = []
        self.files: list[Path] = []

    def write_svg(self, name: str, svg: str) -> Path:
        path = self.out_dir / f"{self.prefix}_{name}.svg"
        path.write_text(svg)
        self.files.append(path)
        return path

    def svg(self, name: str, heading: str, svg: str, caption: str = "",
            note: str = "") -> None:
        """A figure: heading, zoomable frame, caption with the file's link, what to look at."""
        path = self.write_svg(name, svg)
        self.parts.append(f'<div class="fig"><h3>{esc(heading)}</h3>{frame(svg, path.name)}'
                          f'<p class="caption">{esc(caption)} (<a href="{esc(path.name)}">'
                          f"{esc(path.name)}</a>)</p>" + (look(note) if note else "")
                          + "</div>")

    def expandable(self, name: str, summary: str, make: Callable[[], Figure]) -> None:
        """A second view of the figure above, shown on click (a ``<details>`` element)."""
        try:
            svg = make().svg()
        except Exception:  # noqa: BLE001 - the view above stands on its own
            return
        path = self.write_svg(name, svg)
        self.parts.append(f"<details><summary>{esc(summary)}</summary>"
                          f"{frame(svg, path.name)}</details>")

    def graph(self, name: str, heading: str, make: Callable[[], Figure], caption: str = "",
              note: str = "") -> Figure | None:
        """A graph figure: inline SVG, or its .dot file and the install hint without dot."""
        try:
            fig = make()
        except Exception as exc:  # noqa: BLE001 - one failed figure must not sink the report
            self.parts.append(f"<h3>{esc(heading)}</h3><p class=\"note\">could not draw this "
                              f"figure: {esc(type(exc).__name__)}: {esc(exc)}</p>")
            return None
        caption = caption or str(fig.info.get("caption", ""))
        try:
            self.svg(name, heading, fig.svg(), caption, note)
        except DotNotFoundError:
            path = fig.save(self.out_dir / f"{self.prefix}_{name}.dot")
            self.files.append(path)
            self.parts.append(f"<h3>{esc(heading)}</h3><p class=\"note\">Graphviz's "
                              f"<code>dot</code> is not installed, so this graph was written "
                              f"as <a href=\"{esc(path.name)}\">{esc(path.name)}</a>; "
                              f"{esc(INSTALL_HINT)}</p>" + (look(note) if note else ""))
        return fig


def _workload_section(out_dir: Path, result: Any, dtype: str, seed: int,
                      device: str) -> _Section:
    from ..visualize import plots

    sec = _Section(out_dir, result.workload)
    info = "".join(f"<li>{esc(k)}: {esc(v)}</li>" for k, v in result.info.items())
    sec.parts.append(f"<h2 id=\"{esc(result.workload)}\">{esc(result.workload)}</h2>"
                     f"<ul class=\"meta\">{info}</ul>{html_table(result)}"
                     + look(report_text.table_note(result)))
    from .agreement_report import html_section  # lockstep, horizon, bit identity, why

    sec.parts.append(html_section(result))
    reference = next((r.mode for r in result.results if r.mode not in result.agreement), None)
    sec.svg("losses", "Loss per training step, every mode overlaid",
            plots.loss_curves({r.mode: r.losses for r in result.results}, reference=reference,
                              title=f"{result.workload}: training loss",
                              styles={r.mode: r.style for r in result.results}),
            "dashed: static modes, solid: dynamic; lower panel: relative difference to "
            f"the reference mode ({reference})",
            "the curves lie on top of each other: both styles compute the same function "
            "from the same weights; the lower panel shows how far apart they are, at the "
            "level of rounding.")
    costs = {r.mode: (r.build_seconds, r.median_step) for r in result.results}
    sec.svg("cost", "Cost model: build once, then save on every step",
            plots.cumulative_time(costs, title=f"{result.workload}: total time against "
                                               f"steps run"),
            "each line: build + first step, then the median step per further step",
            report_text.cost_note(costs))
    try:
        _figures(sec, result, dtype, seed, device)
    except Exception as exc:  # noqa: BLE001 - a workload the visualiser cannot rebuild
        sec.parts.append(f"<p class=\"note\">no memory chart or graphs for this workload: "
                         f"{esc(type(exc).__name__)}: {esc(exc)}</p>")
    return sec


def _figures(sec: _Section, result: Any, dtype: str, seed: int, device: str) -> None:
    """The figures that rebuild the workload: facts, memory, graphs, code (same batch)."""
    from ..visualize.memory_chart import memory_plan_chart
    from .workload_graphs import (
        build_workload,
        describe_batch,
        dynamic_figure,
        figure_batch,
        static_figure,
        static_training_step,
        trace_dynamic,
    )

    workload = build_workload(result.workload, dtype, seed)
    batch = figure_batch(workload)
    named = describe_batch(workload, batch)
    trainer, fetches, feed = static_training_step(workload, batch)
    plan = trainer.sess.plan(fetches, feed)
    dyn, trace = trace_dynamic(workload, batch)
    facts = report_text.step_facts(workload, result, plan, trace, trainer, dyn, batch)
    sec.parts.append(f"<h3>Why static is faster here, and where dynamic wins</h3>"
                     f"{report_text.facts_html(facts, named)}")
    host_only = " On a GPU run tracemalloc sees host memory only." if device != "cpu" else ""
    sec.svg("memory", f"The memory plan of one training step ({named})",
            memory_plan_chart(plan, trace, title=f"{result.workload}: one training step, "
                                                 f"{named}"),
            "left: the static plan, one rectangle per arena buffer; middle: arena, lower "
            "bound and no-reuse total; right: the dynamic step on the same batch "
            "(the array bytes alive after each kernel, a steady-state step, measured when "
            "this report was written)."
            + host_only,
            report_text.memory_note(plan, trace))
    drawn = sec.graph("static_graph", f"Static training graph, coloured by arena offset "
                                      f"({named})",
                      lambda: static_figure(workload, backward=True, memory=True,
                                            collapse=True),
                      "forward, backward (gradients) and update parts; fill colour = arena "
                      "offset, the same colours as the memory chart",
                      report_text.static_graph_note(workload.name))
    if drawn is not None and drawn.info.get("cells"):
        sec.expandable("static_graph_cells", "Click to expand the loop cells: the ops of one "
                       "step, drawn once inside boxes marked x T",
                       lambda: static_figure(workload, backward=True, memory=False,
                                             collapse=True, expand_cells=True))
    pair = "two" if workload.name == "xor" else "rnn"
    sec.parts.append(f'<div class="{pair}">')
    sec.graph("static_forward", "Static forward graph: built once, batch ?",
              lambda: static_figure(workload, backward=False, memory=False),
              "placeholders have shape (?, ...): the graph serves any batch size",
              report_text.pair_note("static"))
    sec.graph("dynamic_forward", f"Dynamic forward graph: recorded for {named}",
              lambda: dynamic_figure(workload, backward=False, memory=False),
              "the ops the tape recorded, with this batch's concrete shapes",
              report_text.pair_note("dynamic"))
    sec.parts.append("</div>")
    sec.graph("dynamic_tape", f"Dynamic tape after backward ({named})",
              lambda: dynamic_figure(workload, backward=True, memory=True),
              "grad_fn nodes, each leaf's AccumulateGrad with its .grad, and (orange) the "
              "tensors each node saved for backward", report_text.tape_note())
    if workload.name == "rnn":
        from .rnn_figure import rnn_padding_figure

        sec.graph("padding", "Why static graphs pad", lambda: rnn_padding_figure(workload),
                  note=report_text.padding_note())
        _while_part(sec, result, workload)
    sec.parts.append(_code_listings(workload))


def _while_part(sec: _Section, result: Any, workload: Any) -> None:
    """The four RNN strategies side by side, then the static-while graph (loops as boxes)."""
    from .rnn_strategies import strategies_html, while_graph_note
    from .workload_graphs import while_figure

    sec.parts.append(strategies_html(result))
    drawn = sec.graph("static_while_graph", "One graph with a loop (static-while): each loop "
                      "a box holding its body",
                      lambda: while_figure(workload, backward=True, memory=True,
                                           collapse=True),
                      "forward loop and gradient loop, each body compiled once; outside the "
                      "boxes, fill colour = offset in the outer arena", while_graph_note())
    if drawn is not None:
        sec.expandable("static_while_ops", "Click to expand the loop bodies: every op, "
                       "coloured by its offset in the body's own arena",
                       lambda: while_figure(workload, backward=True, memory=True,
                                            collapse=False))


def _code_listings(workload: Any) -> str:
    """The programs of the two styles side by side: for XOR the two examples (the same
    model in ~30 lines each), otherwise the workload's own classes."""
    root = Path(__file__).resolve().parent.parent / "examples"
    examples = [root / f"{workload.name}_{style}.py" for style in ("static", "dynamic")]
    if all(p.exists() for p in examples):
        cells = [(p.name, p.read_text()) for p in examples]
    else:  # the first mode of each style
        modes = [next(m for m in workload.modes if m.style == s) for s in ("static", "dynamic")]
        cells = [(Path(inspect.getsourcefile(m.source) or "").name, workload.source_of(m))
                 for m in modes]
    body = "".join(f"<div><h4>{esc(name)}</h4><pre><code>{esc(text)}</code></pre></div>"
                   for name, text in cells)
    return (f"<h3>The code, side by side</h3><div class=\"code\">{body}</div>"
            + look(report_text.code_note(workload.name)))


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
    from .recompute_report import report_section  # memory against compute, from plans

    sections.append(report_section(out_dir, results, dtype, seed))
    extra = report_text.write_players(out_dir)
    nav = " | ".join(f"<a href=\"#{esc(r.workload)}\">{esc(r.workload)}</a>" for r in results)
    if sections[-1].parts:
        nav += ' | <a href="#recompute">recomputation</a>'
    if any(r.workload == "rnn" for r in results):
        from .blas_report import report_section as gemm_section  # GEMM library per product

        sections.append(gemm_section(out_dir))
        nav += ' | <a href="#gemm">GEMM libraries</a>'
    body = "".join("".join(s.parts) for s in sections)
    opening = report_text.opening(results, dtype, seed, device, [p.name for p in extra])
    html = page("tapeflow: one model, two graphs",
                f"<h1>tapeflow: one model, two graphs</h1>{opening}<p>{nav} | "
                f"<a href=\"#glossary\">glossary</a></p>{body}{report_text.glossary()}")
    report = out_dir / "report.html"
    report.write_text(html)
    return [p for s in sections for p in s.files] + extra + [report]
