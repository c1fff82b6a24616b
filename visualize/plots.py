"""Plots as SVG text (matplotlib, headless): the memory timeline and the loss curves.

Both functions return the SVG as a string (text kept as text, so labels stay searchable)
and can also write it to a file.

Example:
    >>> svg = loss_curves({"static": [1.0, 0.5, 0.2], "dynamic": [1.0, 0.5, 0.2]})
    >>> svg.lstrip().startswith("<?xml")
    True
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: never open a window

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from .memory_trace import LABEL as DYNAMIC_LABEL  # noqa: E402
from .memory_trace import DynamicTrace  # noqa: E402

PHASE_COLOURS = {"forward": "#dbe8ff", "backward": "#ffdcd4", "update": "#e8dcff"}


def _human_bytes(n: float, _pos: Any = None) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def _svg(fig: Any, salt: str, path: str | Path | None) -> str:
    buffer = io.StringIO()
    # a salt per figure keeps element ids apart when several SVGs sit inline in one page
    with plt.rc_context({"svg.fonttype": "none", "svg.hashsalt": salt}):
        # no creation date in the metadata: the same figure gives the same bytes
        fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buffer.getvalue()
    if path is not None:
        Path(path).write_text(text)
    return text


def plan_series(plan: Any) -> dict[str, list[int]]:
    """Per schedule step, from a memory plan: live bytes, the arena's high-water mark of
    the buffers alive then, and the naive (no reuse) bytes allocated so far."""
    steps = len(plan.steps)
    live = list(plan.live_bytes_per_step())
    high = [0] * steps
    created = [0] * steps
    for b, (first, last) in plan.lifetimes.items():
        top = plan.offsets[b] + plan.sizes[b]
        for s in range(max(first, 0), min(last, steps - 1) + 1):
            high[s] = max(high[s], top)
        if 0 <= first < steps:
            created[first] += plan.sizes[b]
        elif first < 0 and steps:
            created[0] += plan.sizes[b]
    naive, total = [], 0
    for c in created:
        total += c
        naive.append(total)
    return {"live": live, "arena_high_water": high, "naive": naive}


def memory_timeline(plan: Any = None, dynamic: DynamicTrace | None = None, title: str = "",
                    path: str | Path | None = None) -> str:
    """Bytes over one training step: the static memory plan and the dynamic run's samples.

    Static (bottom axis: schedule step): live bytes per step (its maximum is the lower
    bound no plan can beat), the naive no-reuse total so far, the highest arena byte in
    use, and the final arena size. Dynamic (top axis: kernel call): live array bytes,
    with forward, backward and update shaded.
    """
    if plan is None and dynamic is None:
        raise ValueError("memory_timeline needs a plan, a dynamic trace, or both")
    fig, ax = plt.subplots(figsize=(9, 4.2))
    handles: list[Any] = []
    if plan is not None:
        series = plan_series(plan)
        x = range(len(series["live"]))
        handles += ax.step(x, series["naive"], where="post", color="#999999", lw=1.4,
                           label=f"static naive, no reuse ({_human_bytes(plan.naive_bytes)})")
        handles += ax.step(x, series["arena_high_water"], where="post", color="#1f4e99",
                           lw=1.4, label="static arena: highest byte in use")
        handles.append(ax.axhline(plan.arena_bytes, color="#1f4e99", ls="--", lw=1,
                                  label=f"static arena size ({_human_bytes(plan.arena_bytes)})"))
        handles.append(ax.fill_between(x, series["live"], step="post", color="#80b1d3",
                                       alpha=0.45, label="static live bytes per step"))
        handles.append(ax.axhline(plan.lower_bound_bytes, color="#2e7d32", ls=":", lw=1.4,
                                  label=f"lower bound ({_human_bytes(plan.lower_bound_bytes)})"))
        ax.set_xlabel("static schedule step")
    if dynamic is not None and dynamic.live_bytes:
        dx = ax.twiny() if plan is not None else ax
        for phase, (start, end) in dynamic.phases.items():
            dx.axvspan(start, end + 1, color=PHASE_COLOURS.get(phase, "#eeeeee"), alpha=0.35,
                       lw=0, zorder=0)
            dx.text((start + end + 1) / 2, 1.0, phase, transform=dx.get_xaxis_transform(),
                    ha="center", va="bottom" if plan is None else "top", fontsize=8,
                    color="#666666")
        handles += dx.plot(range(len(dynamic.live_bytes)), dynamic.live_bytes, color="#b03a2e",
                           lw=1.2, label=f"{DYNAMIC_LABEL} (peak "
                                         f"{_human_bytes(dynamic.peak_bytes)})")
        dx.set_xlabel("dynamic kernel call" + (" (top axis)" if plan is not None else ""))
        dx.set_xlim(0, max(1, len(dynamic.live_bytes)))
    if plan is not None:
        ax.set_xlim(0, max(1, len(plan.steps)))
    tops = [v for v in ((plan.lower_bound_bytes if plan is not None else 0),
                        (dynamic.peak_bytes if dynamic is not None else 0)) if v > 0]
    if len(tops) == 2 and max(tops) > 20 * min(tops):
        # the two runs differ by orders of magnitude: a log axis keeps both readable
        ax.set_yscale("log")
        ax.set_ylabel("bytes (log scale)")
    else:
        ax.set_ylim(bottom=0)
        ax.set_ylabel("bytes")
    ax.yaxis.set_major_formatter(FuncFormatter(_human_bytes))
    ax.grid(alpha=0.3)
    ax.legend(handles=handles, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16),
              ncol=2, framealpha=0.9)
    ax.set_title(title or "memory over one training step", fontsize=11,
                 pad=18 if plan is not None and dynamic is not None else 6)
    return _svg(fig, "memory:" + (title or ""), path)


def loss_curves(losses: Mapping[str, Sequence[float]], reference: str | None = None,
                title: str = "", path: str | Path | None = None,
                styles: Mapping[str, str] | None = None) -> str:
    """The loss of every mode per training step, overlaid; with a ``reference`` mode, a
    second panel shows each mode's relative difference to it (log scale).

    ``styles`` maps a mode to "static" or "dynamic" (dashed vs solid lines), so curves that
    agree stay visible on top of each other.
    """
    styles = styles or {}
    has_diff = reference is not None and reference in losses and len(losses) > 1
    fig, axes = plt.subplots(2 if has_diff else 1, 1, figsize=(9, 5.2 if has_diff else 3.6),
                             sharex=True, squeeze=False,
                             gridspec_kw={"height_ratios": [3, 1.3]} if has_diff else None)
    ax = axes[0][0]
    for k, (mode, values) in enumerate(losses.items()):
        style = styles.get(mode, "dynamic" if "dynamic" in mode else "static")
        ax.plot(range(len(values)), values, lw=1.6 if style == "dynamic" else 1.2,
                ls="-" if style == "dynamic" else (0, (4, 2 + k)), label=mode)
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title or "training loss per step", fontsize=11)
    if has_diff:
        import numpy as np

        dx = axes[1][0]
        ref = np.asarray(losses[reference], dtype=np.float64)  # type: ignore[index]
        for mode, values in losses.items():
            if mode == reference or len(values) != len(ref):
                continue
            diff = np.abs(np.asarray(values, dtype=np.float64) - ref) / np.maximum(
                np.abs(ref), 1e-12)
            worst = float(diff.max()) if diff.size else 0.0
            # exact agreement has no log: plot it at the floor and say so in the legend
            dx.plot(range(len(diff)), np.maximum(diff, 1e-18), lw=1,
                    label=f"{mode} (max {worst:.1e})" if worst else f"{mode} (identical)")
        dx.set_yscale("log")
        dx.set_ylabel(f"rel. diff. to\n{reference}", fontsize=8)
        dx.grid(alpha=0.3)
        dx.legend(fontsize=7)
        dx.set_xlabel("training step")
    else:
        ax.set_xlabel("training step")
    return _svg(fig, "loss:" + (title or ""), path)


def cumulative_time(costs: Mapping[str, tuple[float, float]], steps: int = 0, title: str = "",
                    path: str | Path | None = None) -> str:
    """Total time against the number of training steps, one line per mode.

    ``costs`` maps a mode to (build seconds including its first step, median step
    seconds); a mode's line is ``build + (n - 1) * step``. Where a mode's line crosses the
    dynamic mode's (the first mode whose name says ``dynamic``), its higher build cost has
    been paid back: that break-even step is marked. ``steps`` sets the x range (0: three
    times the latest break-even, at least 100 steps).
    """
    from .units import fmt_ms

    base = next((c for m, c in costs.items() if "dynamic" in m), None)
    evens = {m: break_even(c, base) for m, c in costs.items() if base is not None and c != base}
    latest = max((e for e in evens.values() if e is not None), default=0)
    n_max = steps or max(100, int(latest * 3))
    fig, ax = plt.subplots(figsize=(8, 3.4))
    for mode, (build, step) in costs.items():
        line = ax.plot([1, n_max], [build * 1e3, (build + (n_max - 1) * step) * 1e3],
                       ls="-" if "dynamic" in mode else "--", lw=1.6,
                       label=f"{mode}: {fmt_ms(build, 1)} + {fmt_ms(step, 3)} per step")
        even = evens.get(mode)
        if even is not None:  # the crossing with dynamic's line
            y = (build + (even - 1) * step) * 1e3
            ax.plot([even], [y], "o", color=line[0].get_color(), ms=5)
            ax.annotate(f"{mode}: break-even at step {even:.0f}", (even, y),
                        textcoords="offset points", xytext=(6, -12), fontsize=8,
                        color=line[0].get_color())
    if base is not None:  # a mode far slower than dynamic runs off the top
        ax.set_ylim(0, 1.6 * (base[0] + (n_max - 1) * base[1]) * 1e3)
    ax.set_xlabel("training steps run")
    ax.set_ylabel("total time (ms)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title(title or "build cost against per-step saving", fontsize=11)
    return _svg(fig, "cumulative:" + (title or ""), path)


def break_even(slow_build: tuple[float, float], fast_build: tuple[float, float]) -> float | None:
    """The step after which the first (build, step) pair has cost less in total than the
    second, or None when it never catches up (it builds faster, or steps slower)."""
    (build_a, step_a), (build_b, step_b) = slow_build, fast_build
    if build_a <= build_b or step_a >= step_b:
        return None
    return 1 + (build_a - build_b) / (step_b - step_a)
