"""The words of the HTML report, built from the run's own numbers.

The opening screen, the glossary, a "what to look at" note for every table and figure,
the cost model's break-even steps, and the measured facts behind "why static is faster
here, and where dynamic wins". Everything here returns HTML fragments; every number comes
from the results or from re-running one step of the report's batch.

Example:
    >>> "break-even" in cost_note({"static": (0.9, 0.001), "dynamic": (0.03, 0.002)})
    True
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..visualize.html_page import esc
from ..visualize.plots import break_even
from ..visualize.units import fmt_bytes, fmt_ms


def _by_style(results: list[Any], style: str) -> Any:
    return next((r for r in results if r.style == style), None)


def opening(results: list[Any], dtype: str, seed: int, device: str,
            players: list[str]) -> str:
    """About one screen: the two styles, told with the first workload's numbers."""
    first = results[0]
    static, dynamic = _by_style(first.results, "static"), _by_style(first.results, "dynamic")
    numbers = ""
    if static is not None and dynamic is not None:
        numbers = (f"<p>In this run ({esc(first.workload)}), building and compiling the "
                   f"static graph took <b>{fmt_ms(static.build_seconds, 1)}</b> against "
                   f"<b>{fmt_ms(dynamic.build_seconds, 1)}</b> for the first dynamic step; "
                   f"after that one static step took <b>{fmt_ms(static.median_step, 3)}</b> "
                   f"and one dynamic step <b>{fmt_ms(dynamic.median_step, 3)}</b>. "
                   f"{_verdict_words(static, dynamic, first.steps)}</p>")
    what = ("the tape player (dynamic)", "the schedule player (static)")
    links = " and ".join(f'{w}: <a href="{esc(p)}">{esc(p)}</a>'
                         for w, p in zip(what, players, strict=False))
    return (f'<div class="opening"><p><b>Two ways to run one model.</b> A <b>static</b> graph '
            f"(TensorFlow 1 style, define-and-run) is built once from placeholders and "
            f"variables; <code>Session.run</code> then compiles it (prunes it, rewrites it, "
            f"plans all its memory into one arena) and runs it as a flat list of kernels, "
            f"step after step. A <b>dynamic</b> graph (PyTorch style, define-by-run) is not "
            f"built ahead: every operation runs at once and records itself on a tape; "
            f"<code>loss.backward()</code> walks the tape in reverse, and the tape is thrown "
            f"away, to be recorded anew on the next step, so its shape can follow the data."
            f"</p>{numbers}<p>Both styles start from the same weights, see the same batches "
            f"and share one runtime (one kernel, shape rule and gradient rule per op), so "
            f"their losses agree; what differs is when the graph exists, what it costs to "
            f"build, and what the system can plan ahead. Units: bytes in KiB/MiB (1024), "
            f"times in ms, medians of one run on this machine (compare ratios). dtype "
            f"{esc(dtype)}, seed {seed}, device {esc(device)}.</p>"
            + (f"<p>Watch one XOR training step, op by op: {links}.</p>"
               if players else "") + "</div>")


def _verdict_words(static: Any, dynamic: Any, steps: int) -> str:
    even = break_even((static.build_seconds, static.median_step),
                      (dynamic.build_seconds, dynamic.median_step))
    if static.median_step < dynamic.median_step and even is not None:
        return (f"The static build pays for itself after <b>{even:.0f} steps</b> of "
                f"training; this run trained for {steps} steps.")
    if static.median_step < dynamic.median_step:
        return "Static is faster from the first step."
    return "Here the dynamic step is as fast or faster: the static build never pays back."


def glossary() -> str:
    """Every metric of the report with its unit."""
    from .report import GLOSSARY

    items = "".join(f"<dt>{esc(term)} <span class=\"meta\">[{esc(unit)}]</span></dt>"
                    f"<dd>{esc(text)}</dd>" for term, unit, text in GLOSSARY)
    return f'<h2 id="glossary">Glossary</h2><dl class="glossary">{items}</dl>'


def table_note(result: Any) -> str:
    return ("compare <i>build + first step</i> (static pays here: it builds and compiles "
            "the whole graph) with <i>median step</i> (static wins here: no Python per op, a "
            "planned arena); <i>arena</i> against <i>no-reuse bytes</i> is what memory "
            "planning saves; <i>tape nodes per step</i> is the graph dynamic mode rebuilds "
            "on every step" + (", and <i>padding waste</i> what static mode pays for fixed "
                               "shapes." if result.workload == "rnn" else "."))


def cost_note(costs: dict[str, tuple[float, float]]) -> str:
    """The break-even step of every mode that builds slower but steps faster than dynamic."""
    dynamic = next((c for m, c in costs.items() if "dynamic" in m), None)
    lines = []
    for mode, cost in costs.items():
        if dynamic is None or cost is dynamic:
            continue
        even = break_even(cost, dynamic)
        saving = dynamic[1] - cost[1]
        if even is not None:
            lines.append(f"{esc(mode)} builds {fmt_ms(cost[0] - dynamic[0], 1)} longer and "
                         f"saves {fmt_ms(saving, 3)} per step: break-even at step "
                         f"<b>{even:.0f}</b>")
        else:
            lines.append(f"{esc(mode)} never catches up with dynamic here (its step is not "
                         f"faster)")
    return ("where a dashed (static) line crosses the solid (dynamic) one, the build cost "
            "has been paid back. " + "; ".join(lines) + ".")


def step_facts(workload: Any, result: Any, plan: Any, trace: Any, trainer: Any, dyn: Any,
               batch: Any) -> dict[str, Any]:
    """What one step of each style does, measured on ``batch``."""
    from .introspect import tape_size
    from .workload_graphs import dynamic_loss

    live = list(getattr(trace, "live_bytes", []))
    phases = getattr(trace, "phases", {}) or {}
    fresh = sum(last - first + 1 for name, (first, last) in phases.items()
                if name in ("forward", "backward")) if phases else len(live)
    loss = dynamic_loss(workload, dyn, batch)
    static, dynamic = _by_style(result.results, "static"), _by_style(result.results, "dynamic")
    where = [getattr(s, "where", "") for s in plan.steps]
    return {
        "static_kernels": len(plan.steps), "dynamic_kernels": len(live),
        "static_allocations": sum(w in ("out", "dynamic") for w in where),
        "dynamic_allocations": fresh, "inplace": where.count("inplace"),
        "views": where.count("view"), "tape_nodes": tape_size(loss),
        "arena": plan.arena_bytes, "naive": plan.naive_bytes,
        "dynamic_peak": max(live, default=0),
        "static_build": static.build_seconds if static else None,
        "dynamic_build": dynamic.build_seconds if dynamic else None,
        "static_step": static.median_step if static else None,
        "dynamic_step": dynamic.median_step if dynamic else None,
        "padding": (static.stats or {}).get("padding_waste") if static else None,
        "dynamic_print": repr(loss), "static_print": repr(_static_loss(trainer)),
    }


def _static_loss(trainer: Any) -> Any:
    if hasattr(trainer, "unrolled"):
        return trainer.unrolled[max(trainer.unrolled)]["loss"]
    return trainer.loss


def facts_html(f: dict[str, Any], named: str) -> str:
    """The facts as two lists: why static is faster here; where dynamic wins."""
    faster = [
        f"<b>Kernels per step</b>: static runs {f['static_kernels']}, dynamic "
        f"{f['dynamic_kernels']} ({f['inplace']} static ops write in place and "
        f"{f['views']} are views: the compiler's rewrites).",
        f"<b>Dispatches per step</b>: static makes 1 Python call (<code>Session.run</code>) "
        f"for the whole step; dynamic goes through Python once per op: "
        f"{f['dynamic_kernels']} times, recording {f['tape_nodes']} tape nodes.",
        f"<b>Allocations per step</b>: static allocates {f['static_allocations']} new "
        f"arrays (the rest write into the planned arena); dynamic allocates about "
        f"{f['dynamic_allocations']} (a fresh array for every forward and backward result).",
        f"<b>Memory</b>: the static arena holds {fmt_bytes(f['arena'])} for every "
        f"intermediate (no reuse would need {fmt_bytes(f['naive'])}); the dynamic step's "
        f"arrays peaked at {fmt_bytes(f['dynamic_peak'])} above its start.",
    ]
    wins = [
        f"<b>Build cost</b>: static needed {fmt_ms(f['static_build'], 1)} before its first "
        f"step finished, dynamic {fmt_ms(f['dynamic_build'], 1)}.",
        f"<b>Debugging</b>: printed mid-model, a dynamic tensor shows its value: "
        f"<code>{esc(f['dynamic_print'])}</code>; a static one only a promise: "
        f"<code>{esc(f['static_print'])}</code>.",
    ]
    if f.get("padding") is not None:
        wins.append(f"<b>Padding</b>: static-padded runs every batch at the longest length; "
                    f"{f['padding'] * 100:.1f} % of its RNN steps are padding. Dynamic runs "
                    f"each batch for exactly its length.")
    return (f"<p class=\"meta\">Measured on one step of {esc(named)}.</p>"
            f"<div class=\"two\"><div><h4>Why static is faster here</h4><ul class=\"facts\">"
            + "".join(f"<li>{x}</li>" for x in faster) + "</ul></div><div><h4>Where dynamic "
            "wins</h4><ul class=\"facts\">" + "".join(f"<li>{x}</li>" for x in wins)
            + "</ul></div></div>" + _look("fewer dispatches and allocations make each static "
                                          "step cheaper; the build cost and the opaque "
                                          "tensors are what you pay for it."))


def _look(text: str) -> str:
    from ..visualize.html_page import look

    return look(text)


def memory_note(plan: Any, trace: Any) -> str:
    peak = max(getattr(trace, "live_bytes", []) or [0])
    return (f"rectangles of one colour at one height are the same bytes used by buffers "
            f"whose lifetimes do not overlap: that reuse is why the arena "
            f"({fmt_bytes(plan.arena_bytes)}) is far below the no-reuse total "
            f"({fmt_bytes(plan.naive_bytes)}) and close to the lower bound "
            f"({fmt_bytes(plan.lower_bound_bytes)}). The dynamic curve (peak "
            f"{fmt_bytes(peak)}) grows through the forward pass as the tape keeps tensors "
            f"for backward, and falls as backward frees them.")


def static_graph_note(workload: str) -> str:
    if workload == "rnn":
        return ("the 40-step loop is drawn once, as a cell box marked x40 in the forward "
                "part and again, for its gradient, in the backward part; the thick orange "
                "edges carry the state to the next step (forward) and its gradient to the "
                "previous one (backward). Fill colours are arena offsets, as in the memory "
                "chart. The op-level view: <code>tapeflow graph rnn --mode static "
                "--backward --full</code>.")
    return ("the backward part mirrors the forward part in reverse, one gradient op per "
            "forward op; the update part writes the variables. Nodes of one fill colour "
            "share bytes in the arena.")


def pair_note(style: str) -> str:
    if style == "static":
        return "the input placeholders have an unknown batch dimension (?): built once, " \
               "this graph serves every batch."
    return "every shape is concrete: this graph exists only for this batch, and the next " \
           "step records a new one."


def tape_note() -> str:
    return ("read it from the bottom: backward starts at the loss and visits every grad_fn "
            "in reverse recording order; an AccumulateGrad adds the gradient into a "
            "parameter's <code>.grad</code>. Orange boxes are what the forward pass had to "
            "keep alive for backward.")


def padding_note() -> str:
    return ("the dynamic columns are as long as their sentences; the static column is "
            "always as long as the longest, and for the report's batch its grey steps compute "
            "nothing that is kept (the mask holds the state), yet cost as much as real ones.")


def code_note(workload: str) -> str:
    if workload == "xor":
        return ("the same model and the same training loop: on the left the graph is built "
                "once and run many times; on the right the forward pass itself builds it, "
                "every step. Both programs draw their graph.")
    return "the same network: the static version unrolls the loop at a fixed length."


def write_players(out_dir: Path) -> list[Path]:
    """The tape player pages beside the report (see :mod:`tapeflow.visualize.player`)."""
    try:
        from .players import write_players as write
    except ImportError:
        return []
    return write(out_dir)
