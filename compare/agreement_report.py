"""How far the modes agree, told to a learner: the lockstep verdict, the free-running
trajectories' divergence horizon, a log-scale plot of their relative difference, and why
trajectories drift, with the run's own numbers.

Example:
    >>> # lines = summary_lines(result); svg = drift_svg(result); html = html_section(result)
"""

from __future__ import annotations

import html
import io
from typing import Any

import numpy as np

FLOOR = 1e-18  # where a difference of exactly 0 is drawn on the log scale


def _worst_grad(check: Any) -> tuple[str, float]:
    maxima = {name: max(values, default=0.0) for name, values in check.grads.items()}
    name = max(maxima, key=maxima.get) if maxima else "-"
    return name, maxima.get(name, 0.0)


def bit_identity(result: Any) -> str:
    """``"bit-identical: yes"`` or where each mode's free-running losses first part."""
    if not result.free:
        return "bit-identical: -"
    parted = {m: f.first_bit_difference for m, f in result.free.items() if not f.bit_identical}
    if not parted:
        return f"bit-identical: yes (every mode, all {result.steps} steps)"
    where = ", ".join(f"{m} at step {s}" for m, s in parted.items())
    return f"bit-identical: no (losses first differ: {where})"


def summary_lines(result: Any) -> list[str]:
    """The terminal lines under a workload's table: verdict, horizon, bit identity."""
    verdict = "agree" if result.agrees else "DISAGREE"
    worst = max(result.agreement.values(), default=0.0)
    lines = [
        f"lockstep {verdict}: at the reference's weights, every step, the loss and every "
        f"gradient differ by at most {worst:.2e} (tolerance {result.tolerance:g}, "
        f"{result.steps} steps)"
    ]
    for mode, check in result.lockstep.items():
        name, value = _worst_grad(check)
        lines.append(
            f"  {mode}: loss {max(check.loss, default=0.0):.1e}, worst gradient {name} "
            f"{value:.1e}"
        )
    horizons = ", ".join(
        f"{m} {'never' if f.horizon is None else f'step {f.horizon}'}"
        for m, f in result.free.items()
    )
    if horizons:
        lines.append(f"free-running (reported, not judged): leaves tolerance at: {horizons}")
    lines.append(bit_identity(result) + (" [--exact]" if result.exact else ""))
    return lines


def drift_svg(result: Any) -> str:
    """A log-scale plot of each mode's relative loss difference to the reference, per
    step: free-running (solid) and in lockstep (dotted), with the tolerance line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.6))
    steps = np.arange(1, result.steps + 1)
    for i, (mode, free) in enumerate(result.free.items()):
        color = f"C{i}"
        ax.plot(steps, np.maximum(free.relative, FLOOR), color=color, lw=1.2,
                label=f"{mode}, free-running")
        if mode in result.lockstep:
            ax.plot(steps, np.maximum(result.lockstep[mode].per_step, FLOOR), color=color,
                    lw=1.0, ls=":", label=f"{mode}, lockstep (loss and gradients)")
    ax.axhline(result.tolerance, color="#b03a2e", lw=1, ls="--",
               label=f"tolerance {result.tolerance:g}")
    ax.set_yscale("log")
    ax.set_ylim(FLOOR / 2, max(10.0, ax.get_ylim()[1]))
    ax.set_xlabel("training step")
    ax.set_ylabel(f"relative difference to {result.reference}\n(0 drawn at {FLOOR:g})")
    ax.set_title(f"{result.workload} ({result.dtype}): how far each mode is from the reference")
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    buffer = io.StringIO()
    # no date, fixed ids: the same result gives the same bytes (issue 19)
    with plt.rc_context({"svg.hashsalt": f"agreement:{result.workload}"}):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    plt.close(fig)
    return buffer.getvalue()


def _growth(result: Any) -> str:
    """The drift in numbers: where the first bit parts, and how large the difference
    is at a few later steps."""
    parts = []
    for mode, free in result.free.items():
        if free.bit_identical:
            parts.append(f"{mode}: every loss equal bit for bit")
            continue
        start = free.first_bit_difference
        marks = sorted({start, min(result.steps, 2 * start), min(result.steps, 4 * start),
                        result.steps})
        trail = ", ".join(f"{free.relative[s - 1]:.0e} at step {s}" for s in marks)
        horizon = "never" if free.horizon is None else f"at step {free.horizon}"
        parts.append(f"{mode}: {trail}; beyond tolerance {horizon}")
    return "; ".join(parts)


def explanation(result: Any) -> str:
    """Why free-running trajectories drift apart while lockstep agrees, in plain words."""
    worst = max(result.agreement.values(), default=0.0)
    return (
        "Why free-running trajectories drift: floating-point addition is not associative, "
        "(a + b) + c can differ from a + (b + c) in the last bit. The modes compute the "
        "same math, but not always in the same order: static mode merges the matmuls of "
        "all unrolled steps into one GEMM (dot merging) and sums the weight gradients of "
        "the time steps in one go, where dynamic mode adds them one step at a time; BLAS "
        "may block a transposed matrix differently. In lockstep, from the same weights, "
        f"this costs at most {worst:.1e} relative. Training feeds each step's weights into "
        "the next, so a last-bit difference is carried forward and amplified: "
        f"{_growth(result)}. With --exact, static mode does dynamic mode's arithmetic in "
        "its order, and the trajectories stay equal bit for bit wherever that holds."
    )


def _esc(value: Any) -> str:
    return html.escape(str(value))


def html_section(result: Any) -> str:
    """The agreement part of a workload's HTML report: verdict, table, plot, explanation."""
    if not result.lockstep and not result.free:
        return ""
    ok = result.agrees
    rows = []
    for mode, check in result.lockstep.items():
        name, value = _worst_grad(check)
        free = result.free.get(mode)
        horizon = "-" if free is None else ("never" if free.horizon is None else free.horizon)
        bits = "-" if free is None else ("yes" if free.bit_identical
                                         else f"no, from step {free.first_bit_difference}")
        cells = [mode, f"{max(check.loss, default=0.0):.1e}", f"{value:.1e} ({name})",
                 horizon, bits]
        rows.append("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in cells) + "</tr>")
    head = "".join(f"<th>{h}</th>" for h in (
        "mode", "lockstep: loss", "lockstep: worst gradient", "divergence horizon (step)",
        "bit-identical free run"))
    svg = drift_svg(result)
    svg = svg[svg.index("<svg"):] if "<svg" in svg else svg
    return (
        f"<h3>Agreement with {_esc(result.reference)}</h3>"
        f'<p class="verdict {"agree" if ok else "disagree"}">'
        f"{_esc(summary_lines(result)[0])}</p>"
        f'<table class="cmp"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}'
        "</tbody></table>"
        f"<p>{_esc(bit_identity(result))}{' (run with --exact)' if result.exact else ''}</p>"
        f'<div class="figure">{svg}</div>'
        '<p class="caption">Relative difference to the reference per step, log scale. '
        "Lockstep (dotted) is the verdict; free-running (solid) is reported, not judged.</p>"
        f'<p class="note">{_esc(explanation(result))}</p>'
    )
