"""The report's section on recomputation: memory against compute, from compiled plans.

The RNN workload with the Elman cell (``--cell rnn``; the pass finds no cut in the LSTM
today, and the section says so from the LSTM's own plan) is compiled, for its longest
bucket, with ``CompileOptions(recompute=...)`` set to None, to byte budgets and to
``"sqrt"``; each plan gives its arena and what it recomputes. The compute axis is counted,
not timed: the work of the recomputation nodes (a matrix product ``2 m n k`` operations,
any other kernel one per output element, views none) over the work of the forward pass,
so the same code gives the same section, byte for byte. Beside it: the arena against the
sequence length, and the "sqrt" plan drawn buffer by buffer.

Recomputation is compiled with ``dot_merge`` off: merging joins the steps' matrix products
into larger ones whose operands are alive together, so it leaves recomputation less to
drop. The default options (merging on), without and with "sqrt", are points of their own.

Example:
    >>> # sec = report_section(Path("out"), results, "float64", 0)  # sec.parts, sec.files
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..graphs.liveness import is_view
from ..visualize.html_page import esc, look
from ..visualize.recompute_chart import TradePoint, tradeoff_chart
from ..visualize.units import fmt_bytes

BUDGET_FRACTIONS = (0.5,)  # byte budgets between the plain and the "sqrt" arenas
SCALING_LENGTHS = (10, 20)  # the arena against T: these lengths and the longest
CHEN = ("Chen et al. 2016, \u201cTraining Deep Nets with Sublinear Memory Cost\u201d: "
        "O(\u221an) memory for about one extra forward pass")


def compiled_step(trainer: Any, fetches: list[Any], feed: dict[Any, Any], recompute: Any,
                  **switches: Any) -> Any:
    """The CompiledProgram of one training step of a static ``trainer`` (its session's
    options, ``recompute`` and ``switches`` replaced): its ``graph`` has the recomputation
    nodes (role ``"recompute"``), ``inspect_plan()`` their memory plan."""
    from ..runtime import Spec
    from ..static.compiler import compile

    graph = trainer.graph
    specs = {t.node_id: Spec(np.shape(v), graph.nodes[t.node_id].dtype) for t, v in feed.items()}
    # verify (graphs.verify after every pass) checks the compiler, not the plan: off for speed
    options = replace(trainer.sess.options, recompute=recompute, verify=False, **switches)
    return compile(graph.as_ir(list(fetches)), specs, options)


def work(node: Any, graph: Any) -> int:
    """Operations of one kernel call: ``2 m n k`` for a matrix product, one per output
    element otherwise (per member of a fused chain), none for a view or a value that is
    not computed."""
    if node.kind != "call" or is_view(node) or node.shape is None:
        return 0
    size = 1
    for d in node.shape:
        size *= int(d or 0)
    if node.op == "fused":  # a chain of elementwise ops, each one per element
        return size * len(node.attrs.get("steps", ()))
    if node.op == "matmul":
        a = graph[node.inputs[0]].shape
        inner = a[-2] if node.attrs.get("transpose_a") else a[-1]
        return 2 * size * int(inner)
    return size


def work_by_role(graph: Any) -> Counter[str]:
    """Operations per node role (forward, backward, recompute, update) of a graph."""
    total: Counter[str] = Counter()
    for n in graph.nodes:
        total[n.role] += work(n, graph)
    return total


@dataclass(frozen=True)
class Measured:
    """One compiled plan: its chart point, lower bound and kernel calls, and the plan."""

    point: TradePoint
    lower_bound_bytes: int
    kernel_calls: int
    plan: Any = field(default=None, repr=False, compare=False)


def measure(program: Any, label: str, kind: str) -> Measured:
    """The point of one compiled program."""
    plan = program.inspect_plan()
    roles = work_by_role(program.graph)
    redone = sum(n.role == "recompute" for n in program.graph.nodes)
    extra = roles["recompute"] / roles["forward"] if roles["forward"] else 0.0
    return Measured(TradePoint(label, kind, plan.arena_bytes, extra, redone),
                    plan.lower_bound_bytes, len(plan.steps), plan)


def training_steps(workload: Any) -> dict[int, tuple[Any, tuple[Any, list[Any], Any]]]:
    """Sequence length -> (batch, (trainer, fetches, feed)): one training step of the RNN's
    bucketed static mode per bucket (its first batch of that bucket), so that every
    length compiles its own unrolled graph."""
    from . import data
    from .introspect import static_fetches_and_feed

    mode = next(m for m in workload.modes if m.name == "static-bucketed")
    trainer = mode.make()
    steps = {}
    for length in trainer.unrolled:
        batch = next((b for b in workload.batches
                      if data.bucket_length(b.max_length, tuple(trainer.unrolled)) == length),
                     None)
        if batch is not None:
            steps[length] = (batch, (trainer, *static_fetches_and_feed(trainer, batch)))
    return steps


def tradeoff(step: tuple[Any, list[Any], dict[Any, Any]], budgets: bool = True
             ) -> list[Measured]:
    """The plans of one training ``step`` (trainer, fetches, feed): keep everything, byte
    budgets between that arena and the "sqrt" one (``budgets``), and "sqrt" (last)."""

    def at(setting: Any) -> Any:
        return compiled_step(*step, setting, dot_merge=False)

    plain = measure(at(None), "keep all", "plain")
    sqrt = measure(at("sqrt"), '"sqrt"', "sqrt")
    rows = [plain]
    top, bottom = plain.point.arena_bytes, sqrt.point.arena_bytes
    for f in BUDGET_FRACTIONS if budgets and bottom < top else ():
        budget = int(bottom + (top - bottom) * f)
        row = measure(at(budget), f"budget {fmt_bytes(budget)}", "budget")
        if (row.point.arena_bytes, row.point.recomputed_ops) not in {
                (r.point.arena_bytes, r.point.recomputed_ops) for r in (*rows, sqrt)}:
            rows.append(row)  # a budget met by the plan of another point adds nothing
    return [*rows, sqrt]


def default_points(step: tuple[Any, list[Any], dict[Any, Any]], name: str
                   ) -> list[Measured]:
    """The training ``step`` as the report's static modes compile it (dot_merge on), without
    and with "sqrt"."""
    return [measure(compiled_step(*step, None), f"{name}, default options (dot_merge on)",
                    "other"),
            measure(compiled_step(*step, "sqrt"), f'{name}, default options + "sqrt"', "other")]


def scaling(steps: dict[int, tuple[Any, tuple[Any, list[Any], Any]]],
            known: dict[int, list[Measured]]) -> dict[str, list[tuple[int, int]]]:
    """Arena against sequence length, kept everything and "sqrt": {series: [(T, bytes)]};
    ``known`` gives lengths already measured (their first and last rows)."""
    plain, again = [], []
    longest = max(steps)
    for length, (_, step) in sorted(steps.items()):
        if length not in SCALING_LENGTHS and length != longest:
            continue
        rows = known.get(length) or tradeoff(step, budgets=False)
        plain.append((length, rows[0].point.arena_bytes))
        again.append((length, rows[-1].point.arena_bytes))
    return {"keep every value": plain, 'recompute="sqrt"': again}


def lstm_note(workload: Any) -> tuple[str, list[Measured]]:
    """A sentence on the report's own RNN (an LSTM unless ``--cell rnn``) under "sqrt",
    and its points when the pass found something to drop there."""
    from .workload_graphs import static_training_step

    trainer, fetches, feed = static_training_step(workload)
    again = measure(compiled_step(trainer, fetches, feed, "sqrt", dot_merge=False),
                    '"sqrt"', "sqrt")
    if not again.point.recomputed_ops:
        return (f"The report's own RNN (an LSTM) gains nothing yet: with "
                f"<code>recompute=\"sqrt\"</code> its arena stays "
                f"{fmt_bytes(again.point.arena_bytes)}. The pass cuts the forward chain only "
                f"at a value that alone carries everything later steps need "
                f"(<code>static/compiler/recompute.py</code>), and an LSTM step hands two "
                f"values, h and c, to the next.", [])
    plain = measure(compiled_step(trainer, fetches, feed, None, dot_merge=False),
                    "keep all", "plain")
    ratio = again.point.arena_bytes / max(plain.point.arena_bytes, 1)
    return (f"The report's own RNN (an LSTM): <code>recompute=\"sqrt\"</code> takes its arena "
            f"from {fmt_bytes(plain.point.arena_bytes)} to "
            f"{fmt_bytes(again.point.arena_bytes)} ({ratio:.2f}x) for "
            f"{again.point.extra_compute:.2f} extra forward passes.", [plain, again])


def _table(rows: list[Measured]) -> str:
    head = ("<tr><th>compiled with</th><th>arena</th><th>lower bound</th>"
            "<th>recomputed ops</th><th>extra compute (forward passes)</th>"
            "<th>kernel calls</th></tr>")
    body = "".join(
        f"<tr><td>{esc(r.point.label)}</td><td>{fmt_bytes(r.point.arena_bytes)}</td>"
        f"<td>{fmt_bytes(r.lower_bound_bytes)}</td><td>{r.point.recomputed_ops}</td>"
        f"<td>{r.point.extra_compute:.2f}</td><td>{r.kernel_calls}</td></tr>" for r in rows)
    return (f'<div class="tablewrap"><table class="cmp"><thead>{head}</thead>'
            f"<tbody>{body}</tbody></table></div>")


def _xor_note(dtype: str, seed: int) -> str:
    from .workload_graphs import static_training_step
    from .workloads import WORKLOADS

    plain, again = tradeoff(static_training_step(WORKLOADS["xor"](dtype, seed)), budgets=False)
    if again.point.recomputed_ops:
        return (f"XOR: \"sqrt\" takes its arena from {fmt_bytes(plain.point.arena_bytes)} to "
                f"{fmt_bytes(again.point.arena_bytes)}.")
    return (f"XOR has two layers: there is no chain of steps to cut, so the pass drops "
            f"nothing and its arena stays {fmt_bytes(plain.point.arena_bytes)}.")


INTRO = (
    "<p>A training step keeps every forward value its backward pass reads (each step's "
    "RNN state, each tanh output) from the moment the forward pass makes it until the "
    "backward pass reaches it: an RNN unrolled over n steps holds n of them when the "
    "forward pass turns into the backward pass. "
    "<code>CompileOptions(recompute=...)</code> keeps only some of them (the "
    "<em>checkpoints</em>) and gives the backward pass copies of the forward ops that made "
    "the others, run again from the nearest checkpoint, one segment at a time, just before "
    "they are needed ({chen}). <code>\"sqrt\"</code> keeps every \u221an-th; a byte budget "
    "asks for the fewest recomputations that fit. Results do not change: the recomputed "
    "ops run the same kernels on the same bits, so losses and gradients are identical "
    "bit for bit.</p>")


def _plan_figure(sec: Any, plain: Measured, sqrt: Measured, named: str) -> None:
    """The "sqrt" plan as the memory chart draws every plan: offset against step."""
    from ..visualize.memory_chart import memory_plan_chart

    sec.svg("plan", 'The "sqrt" plan, buffer by buffer',
            memory_plan_chart(sqrt.plan, title=f"Elman RNN, one training step ({named}), "
                                               f'recompute="sqrt"'),
            "left: every arena buffer of the recomputing plan as a rectangle (lifetime "
            "across, offset up), hatched where the value is recomputed; right: arena, "
            "lower bound and no-reuse total",
            f"the forward pass (left part) keeps only the checkpoints; each hatched triangle "
            f"in the backward part is one segment rebuilt from its checkpoint just before the "
            f"backward reaches it and freed as the backward passes it, so only one segment's "
            f"values are alive at a time: the arena is {fmt_bytes(sqrt.point.arena_bytes)}, "
            f"against {fmt_bytes(plain.point.arena_bytes)} when every value is kept.")


def _figure_note(rows: list[Measured], merged: list[Measured],
                 lengths: dict[str, list[tuple[int, int]]]) -> str:
    """What to look at, from the numbers themselves."""
    plain, sqrt = rows[0].point, rows[-1].point
    if not sqrt.recomputed_ops:
        return (f"here the pass found nothing to drop: every plan keeps every value "
                f"({fmt_bytes(plain.arena_bytes)}).")
    text = (f"keeping every value costs no extra compute and the most memory "
            f"({fmt_bytes(plain.arena_bytes)}); \"sqrt\" needs {fmt_bytes(sqrt.arena_bytes)} "
            f"({sqrt.arena_bytes / max(plain.arena_bytes, 1):.2f}x) for "
            f"{sqrt.extra_compute:.2f} extra forward passes (Chen et al.: about one). ")
    budgets = [r.point for r in rows if r.point.kind == "budget"]
    if budgets and min(b.extra_compute for b in budgets) > 0.75 * sqrt.extra_compute:
        text += ("The budgets in between cost about as much compute: the pass recomputes "
                 "every value between two checkpoints whatever their spacing, so the "
                 "spacing moves memory, not work. ")
    kept, again = lengths.values()  # (T, bytes) pairs, shortest T first
    if len(kept) > 1 and kept[0][1] and again[0][1]:
        text += (f"Right: from T={kept[0][0]} to T={kept[-1][0]} the arena keeping "
                 f"everything grows {kept[-1][1] / kept[0][1]:.1f}x, the recomputing one "
                 f"{again[-1][1] / again[0][1]:.1f}x. ")
    text += (f"The diamonds are the same step under the default options, whose dot_merge "
             f"joins the steps' matrix products into larger ones: "
             f"{fmt_bytes(merged[0].point.arena_bytes)} keeping every value")
    if merged[1].point.recomputed_ops:
        text += f", {fmt_bytes(merged[1].point.arena_bytes)} with \"sqrt\""
    return text + (": a merged product reads the values of all its steps at once, so they "
                   "are alive together, and recomputation has less to drop.")


def report_section(out_dir: Path, results: list[Any], dtype: str, seed: int) -> Any:
    """The report's section (an ``html_report._Section``: ``parts`` and ``files``); empty
    when the results hold no RNN workload."""
    from .html_report import _Section

    sec = _Section(Path(out_dir), "recompute")
    names = [r.workload for r in results]
    if "rnn" not in names:
        return sec
    try:
        _fill(sec, names, dtype, seed)
    except Exception as exc:  # noqa: BLE001 - one failed section must not sink the report
        sec.parts.append(f"<p class=\"note\">no recomputation figure: "
                         f"{esc(type(exc).__name__)}: {esc(exc)}</p>")
    return sec


def _fill(sec: Any, names: list[str], dtype: str, seed: int) -> None:
    from .workload_graphs import describe_batch
    from .workloads import WORKLOADS

    elman = WORKLOADS["rnn"](dtype, seed, cell="rnn")
    steps = training_steps(elman)
    longest = max(steps)
    batch, step = steps[longest]
    rows = tradeoff(step)
    merged = default_points(step, "Elman")
    lengths = scaling(steps, {longest: rows})
    lstm, lstm_rows = lstm_note(WORKLOADS["rnn"](dtype, seed))
    series = {"Elman RNN (rnn workload, --cell rnn)": [r.point for r in [*rows, *merged]]}
    if lstm_rows:
        series["LSTM (the report's RNN)"] = [r.point for r in lstm_rows]
    named = describe_batch(elman, batch)
    sec.parts.append("<h2 id=\"recompute\">Trading compute for memory: recomputation</h2>"
                     + INTRO.format(chen=esc(CHEN)))
    sec.svg("tradeoff", "Memory against compute, one training step of the Elman RNN",
            tradeoff_chart(series, title=f"Elman RNN (the rnn workload with --cell rnn, "
                                         f"{dtype}): one training step, {named}, "
                                         f"unrolled over {longest} steps",
                           note="counted from each plan's recomputation nodes (a matrix "
                                "product 2mnk operations, other kernels one per element); "
                                "not timed", lengths=lengths),
            "left: the planned arena against the recomputed work over the work of one "
            "forward pass, both read from the compiled plans (so the same code draws the "
            "same figure); right: the arena of the same model unrolled over each bucket's "
            "length; recomputation compiled with dot_merge off",
            _figure_note(rows, merged, lengths))
    notes = [lstm] + ([_xor_note(dtype, seed)] if "xor" in names else [])
    tight = all(r.point.arena_bytes <= 1.05 * r.lower_bound_bytes for r in [*rows, *merged])
    sec.parts.append(_table([*rows, *merged]) + look(
        "the arena falls as the recomputed ops (and kernel calls) rise. " + (
            "Each arena sits on its lower bound (the most bytes alive at one step, which no "
            "plan of that schedule can beat): the saving comes from keeping fewer values "
            "alive, not from packing them better. " if tight else "") + " ".join(notes)))
    if rows[-1].point.recomputed_ops:
        _plan_figure(sec, rows[0], rows[-1], named)
    sec.parts.append("<p>Step times are measured, not counted, by "
                     "<code>benchmarks/bench_recompute.py</code> (RNN-large, plain and "
                     "recomputing steps interleaved). <code>tapeflow graph rnn --mode static "
                     "--backward --memory --recompute sqrt --cell rnn -o g.svg</code> draws "
                     "the recomputing training graph: recomputed ops dashed, checkpoints "
                     "with a double border.</p>")


def recompute_figure(workload: Any, setting: Any, memory: bool = True,
                     collapse: bool | None = None) -> Any:
    """The static training graph of one step of ``workload`` (on the figure batch) as
    compiled with ``CompileOptions(recompute=setting)`` and dot_merge off: recomputed ops
    dashed in the backward part, checkpoints with a double border; ``memory``: coloured by
    the recomputing plan's arena offsets, its arena (and the plain one) in the title.

    Example:
        >>> # recompute_figure(build_workload("rnn", "float64", 0, "rnn"), "sqrt").save(p)
    """
    from ..visualize.static_graph import static_graph
    from .workload_graphs import describe_batch, figure_batch, static_training_step

    batch = figure_batch(workload)
    step = static_training_step(workload, batch)
    program = compiled_step(*step, setting, dot_merge=False)
    plan = program.inspect_plan()
    redone = sum(n.role == "recompute" for n in program.graph.nodes)
    what = (f"{redone} ops recomputed in the backward (dashed), from checkpoints (double "
            f"border)" if redone else "the pass found nothing to drop here")
    title = (f"{workload.name}: static training graph compiled with recompute={setting!r} "
             f"(dot_merge off), {describe_batch(workload, batch)}: {what}")
    if memory:
        plain = compiled_step(*step, None, dot_merge=False).inspect_plan()
        title += (f"\nrecomputing arena {fmt_bytes(plan.arena_bytes)}, "
                  f"{fmt_bytes(plain.arena_bytes)} without recomputation")
    return static_graph(program.graph, plan=plan if memory else None, backward=True,
                        collapse=collapse, title=title)
