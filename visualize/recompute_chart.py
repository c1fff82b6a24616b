"""Memory against compute: what recomputation buys, as one chart.

A training step keeps every forward value its backward pass reads until the backward
reaches it. Recomputation (``CompileOptions(recompute=...)``) keeps only some of them and
runs the forward ops that made the others a second time, in the backward pass (Chen et
al. 2016). Each compiled plan is one point: its arena (up) against the extra compute it
pays (across), counted from the plan itself, never timed, so the same plans give the same
picture. A series joins the plans of one model: keep everything (no extra compute), byte
budgets, and ``"sqrt"``; a lone point can stand for the same model compiled another way.

Example:
    >>> pts = [TradePoint("keep all", "plain", 4096, 0.0, 0),
    ...        TradePoint('"sqrt"', "sqrt", 2048, 0.8, 30)]
    >>> svg = tradeoff_chart({"Elman RNN": pts}, title="one training step")
    >>> "sqrt" in svg
    True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .memory_chart import _kib, _step
from .plots import _svg, plt
from .units import fmt_bytes

#: marker and text of each kind of point; "other" is a lone point of another compilation
MARKERS = {"plain": ("s", "keep every value (no recomputation)"),
           "budget": ("o", "a byte budget (fewest recomputations that fit)"),
           "sqrt": ("*", 'recompute="sqrt" (Chen et al.: keep every sqrt(n)-th)'),
           "other": ("D", "")}
SERIES_COLOURS = ("#1f4e99", "#b03a2e", "#2e7d32", "#5b3b99")
LENGTH_COLOURS = ("#777777", "#1f4e99")


@dataclass(frozen=True)
class TradePoint:
    """One compiled plan of a training step.

    Attributes:
        label: what was asked, e.g. ``"budget 300 KiB"``.
        kind: ``"plain"``, ``"budget"``, ``"sqrt"`` or ``"other"`` (see :data:`MARKERS`).
        arena_bytes: the plan's arena.
        extra_compute: the recomputed ops' work over the work of one forward pass
            (1.0: one extra forward pass).
        recomputed_ops: how many recomputation nodes the plan runs.
    """

    label: str
    kind: str
    arena_bytes: int
    extra_compute: float
    recomputed_ops: int


def tradeoff_chart(series: Mapping[str, Sequence[TradePoint]], title: str = "",
                   note: str = "", lengths: Mapping[str, Sequence[tuple[int, int]]] | None = None
                   ) -> str:
    """Arena bytes against extra compute, one line per series (its points joined in order
    of compute), the plain and ``"sqrt"`` points labelled with their arenas; with
    ``lengths``, a second panel: the arena against the sequence length.

    Args:
        series: name -> points (any order; kinds as in :data:`MARKERS`).
        title: the chart's title.
        note: a line under the x axis (where the compute figure comes from).
        lengths: name -> (sequence length, arena bytes) pairs, one line each.

    Returns:
        the SVG text.
    """
    widths = [2.2, 1.0] if lengths else [1.0]
    fig, axes = plt.subplots(1, len(widths), figsize=(12.5 if lengths else 9.0, 4.8),
                             gridspec_kw={"width_ratios": widths}, squeeze=False)
    _tradeoff_axes(axes[0][0], series, note)
    if lengths:
        _lengths_axes(axes[0][1], lengths)
    fig.suptitle(title or "memory against compute", fontsize=11)
    fig.tight_layout()
    return _svg(fig, "recompute_tradeoff:" + (title or ""), None)


def _bytes_axis(ax: Any, top: float) -> None:
    from matplotlib.ticker import FuncFormatter, MultipleLocator

    ax.set_ylim(0, top * 1.12)
    ax.yaxis.set_major_formatter(FuncFormatter(_kib))
    ax.yaxis.set_major_locator(MultipleLocator(_step(top)))
    ax.grid(alpha=0.3)


def _tradeoff_axes(ax: Any, series: Mapping[str, Sequence[TradePoint]], note: str) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter

    right = max((p.extra_compute for pts in series.values() for p in pts), default=0.0)
    for k, (name, points) in enumerate(series.items()):
        colour = SERIES_COLOURS[k % len(SERIES_COLOURS)]
        joined = sorted((p for p in points if p.kind != "other"),
                        key=lambda p: (p.extra_compute, -p.arena_bytes))
        if joined:
            ax.plot([p.extra_compute for p in joined], [p.arena_bytes for p in joined],
                    color=colour, lw=1.4, alpha=0.8, label=name)
        for p in points:
            ax.scatter([p.extra_compute], [p.arena_bytes], zorder=3, color=colour,
                       marker=MARKERS.get(p.kind, MARKERS["other"])[0],
                       s=160 if p.kind == "sqrt" else 46, edgecolors="black", linewidths=0.6)
            if p.kind in ("plain", "sqrt", "other"):
                ax.annotate(f"{p.label}: {fmt_bytes(p.arena_bytes)}",
                            (p.extra_compute, p.arena_bytes), fontsize=8, color=colour,
                            xytext=(8, 5 if p.kind != "other" else -12),
                            textcoords="offset points")
    ax.set_xlim(-0.03, max(right, 0.5) * 1.35 + 0.05)
    _bytes_axis(ax, max((p.arena_bytes for pts in series.values() for p in pts), default=1))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: f"{x:.1f}"))
    ax.set_xlabel("extra compute: the recomputed work, in forward passes "
                  "(0 = none, 1.0 = one more forward pass)" + (f"\n{note}" if note else ""),
                  fontsize=9)
    ax.set_ylabel("arena of one training step (planned)")
    keys = [Line2D([], [], color="#555555", marker=MARKERS[kind][0], ls="",
                   markersize=11 if kind == "sqrt" else 7, label=MARKERS[kind][1])
            for kind in ("plain", "budget", "sqrt")]
    ax.add_artist(ax.legend(loc="upper right", fontsize=8))
    ax.legend(handles=keys, loc="lower left", fontsize=8, framealpha=0.9)
    ax.set_title("each point: one compiled plan of the step", fontsize=9)


def _lengths_axes(ax: Any, lengths: Mapping[str, Sequence[tuple[int, int]]]) -> None:
    top = 1
    for k, (name, pairs) in enumerate(lengths.items()):
        steps, arenas = [t for t, _ in pairs], [b for _, b in pairs]
        ax.plot(steps, arenas, marker="*" if "sqrt" in name else "s", lw=1.4,
                color=LENGTH_COLOURS[k % len(LENGTH_COLOURS)], label=name)
        if len(pairs) > 1 and arenas[0]:
            ax.annotate(f"x{arenas[-1] / arenas[0]:.1f} from T={steps[0]} to {steps[-1]}",
                        (steps[-1], arenas[-1]), fontsize=8, xytext=(-4, 6),
                        textcoords="offset points", ha="right",
                        color=LENGTH_COLOURS[k % len(LENGTH_COLOURS)])
        top = max([top, *arenas])
    _bytes_axis(ax, top)
    ax.set_xlabel("sequence length T (steps unrolled)", fontsize=9)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title("the arena as the sequence grows:\nlinear when every value is kept",
                 fontsize=9)
