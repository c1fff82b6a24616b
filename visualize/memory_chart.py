"""The memory plan as a picture: every arena buffer a rectangle of offset against step.

The classic chart of a memory planner (TFLite's arena planner draws it so): the x axis is
the schedule step, the y axis the byte offset in the arena; each buffer is a rectangle
from its first to its last step, at its offset, as tall as its size. Colour is the
offset, as in the graph drawing: two rectangles of one colour are the same bytes, reused
by buffers whose lifetimes do not overlap. Beside it, three bars give the arena size, the
liveness lower bound (no plan of this schedule can use less) and the no-reuse total, and,
when given, the dynamic run's live bytes over one step of the same batch.

Example:
    >>> # svg = memory_plan_chart(plan, trace, title="xor: one training step, batch of 4")
"""

from __future__ import annotations

import math
from typing import Any

from .graph_key import offset_colours
from .plots import _svg, plt
from .units import fmt_bytes


def _kib(n: float, _pos: Any = None) -> str:
    return fmt_bytes(n)


def _step(top: float) -> float:
    """A tick step of a power of two bytes, about five ticks up to ``top``."""
    return float(2 ** max(0, math.ceil(math.log2(max(top, 1) / 5))))


def memory_plan_chart(plan: Any, dynamic: Any = None, title: str = "",
                      dynamic_label: str = "dynamic run, same batch") -> str:
    """The offset-by-step chart of ``plan``, its three totals, and the dynamic run's live
    bytes (``dynamic``: a trace with ``live_bytes``, one sample per kernel call) beside it.

    Returns:
        the SVG text.
    """
    from matplotlib.patches import Rectangle
    from matplotlib.ticker import FuncFormatter, MultipleLocator

    widths = [3.0, 1.5] + ([2.2] if dynamic is not None else [])
    fig, axes = plt.subplots(1, len(widths), figsize=(10.5, 4.4),
                             gridspec_kw={"width_ratios": widths})
    chart, totals = axes[0], axes[1]
    colours = offset_colours(plan)
    steps = max(1, len(plan.steps))
    # values recomputed in the backward (static/compiler/recompute.py names them so): hatched
    redone = {b for b, name in plan.names.items() if name.endswith("/recompute")}
    for b, (first, last) in sorted(plan.lifetimes.items()):
        offset = plan.offsets[b]
        start, end = max(first, 0), min(last, steps - 1) + 1
        chart.add_patch(Rectangle((start, offset), max(end - start, 0.6), plan.sizes[b],
                                  facecolor=colours[offset], edgecolor="#333333", lw=0.4,
                                  hatch="////" if b in redone else None))
    arena = max(plan.arena_bytes, 1)
    chart.axhline(plan.lower_bound_bytes, color="#2e7d32", ls=":", lw=1.4)
    chart.set_xlim(0, steps)
    chart.set_ylim(0, arena * 1.05)
    chart.set_xlabel("schedule step (the compiled kernel calls, in order)")
    chart.set_ylabel("offset in the arena")
    chart.yaxis.set_major_formatter(FuncFormatter(_kib))
    chart.yaxis.set_major_locator(MultipleLocator(_step(arena)))
    chart.set_title("static plan: a buffer = a rectangle (lifetime across, offset up, size "
                    "as height);\nsame colour = same bytes reused"
                    + ("; hatched = recomputed in the backward" if redone else ""), fontsize=9)
    values = [plan.arena_bytes, plan.lower_bound_bytes, plan.naive_bytes]
    totals.bar(["arena", "lower\nbound", "no\nreuse"], values,
               color=["#1f4e99", "#2e7d32", "#999999"])
    totals.yaxis.set_major_formatter(FuncFormatter(_kib))
    totals.yaxis.set_major_locator(MultipleLocator(_step(max(values))))
    totals.set_title(f"arena {fmt_bytes(values[0])}\nlower bound {fmt_bytes(values[1])}\n"
                     f"no reuse {fmt_bytes(values[2])}", fontsize=9)
    totals.tick_params(labelsize=7)
    if dynamic is not None:
        live = list(getattr(dynamic, "live_bytes", []) or [0])
        dyn = axes[2]
        dyn.plot(range(len(live)), live, color="#b03a2e", lw=1.2)
        dyn.fill_between(range(len(live)), live, color="#b03a2e", alpha=0.15)
        peak = max(live)
        dyn.axhline(peak, color="#b03a2e", ls="--", lw=0.8)
        dyn.text(0, peak, f"peak {fmt_bytes(peak)}", va="bottom", fontsize=8, color="#b03a2e")
        dyn.set_ylim(0, max(peak, arena) * 1.1)
        dyn.set_xlabel("kernel call of the eager step")
        dyn.yaxis.set_major_formatter(FuncFormatter(_kib))
        dyn.yaxis.set_major_locator(MultipleLocator(_step(max(peak, arena))))
        dyn.set_title(dynamic_label + ":\nlive bytes after each kernel", fontsize=9)
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.suptitle(title or "memory plan of one training step", fontsize=11)
    fig.tight_layout()
    return _svg(fig, "memory_plan:" + (title or ""), None)
