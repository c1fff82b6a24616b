"""The report's side-by-side of the four ways the RNN handles sentences of different lengths.

Padded to the longest sentence with a mask, one compiled graph per length bucket, one
graph with a loop in it (static-while), and the dynamic graph recorded anew every step:
what each is, what it cost in this run (compilations, padding waste, graph size, build
time, time per epoch, memory) and when each wins. The words per strategy are the README's
table; every number is read from the run's results, so the same results give the same
text.

Example:
    >>> # html = strategies_html(result)  # result: the rnn WorkloadResult
"""

from __future__ import annotations

from typing import Any

from ..visualize.html_page import esc, look
from ..visualize.units import fmt_bytes, fmt_ms

# mode -> (graphs, padding, when it wins): the README's table, word for word
STRATEGIES: dict[str, tuple[str, str, str]] = {
    "static-padded": ("one graph unrolled to 40 steps, a mask keeps each sentence's final "
                      "state", "up to the longest possible sentence",
                      "lengths are nearly equal"),
    "static-bucketed": ("one compiled graph per bucket 10/20/30/40", "up to the bucket",
                        "many steps per bucket pay for each compile"),
    "static-while": ("one graph with a <code>while</code> loop (<code>tf.nn.dynamic_rnn"
                     "</code> with <code>sequence_length</code>)",
                     "none beyond the batch's longest sentence",
                     "one compile for every length; lengths vary widely or have no "
                     "useful maximum"),
    "dynamic": ("a new tape every step, at the batch's real length", "none",
                "lengths vary a lot; debugging; no build cost"),
}

# what each strategy does, for a reader who knows neither style
EXPLAINED: dict[str, str] = {
    "static-padded": "<b>Pad</b> (static-padded). Build one graph, unrolled to the longest "
    "possible sentence: the cell is copied once per word position. Shorter batches are "
    "filled up with padding words, and a mask keeps each sentence's state unchanged after "
    "its last real word, so the answer is right; but every batch pays for the full length.",
    "static-bucketed": "<b>Bucket</b> (static-bucketed). Build a few unrolled graphs, one "
    "per bucket length, and send each batch to the shortest bucket it fits. Less padding, "
    "but each bucket is one more graph to build, compile and keep.",
    "static-while": "<b>Loop in the graph</b> (static-while). Build one graph in which the "
    "time loop is a single <code>while</code> node: its body is one cell step, compiled "
    "once and run again at every iteration, as many times as the batch's longest sentence "
    "(TF1's <code>tf.nn.dynamic_rnn</code> with <code>sequence_length</code>; JAX's "
    "<code>lax.scan</code> is the same idea). One small graph for every length, no padding "
    "steps. Each iteration pays a fixed cost to start the body, so the compiler moves "
    "what does not wait for the previous word out of the loop: the input products of all "
    "words are one matrix product before it, and the weight gradients one product after "
    "the gradient loop. The gradient needs each iteration's state, saved on a stack that "
    "grows with the iterations run.",
    "dynamic": "<b>Record every step</b> (dynamic). Nothing is built ahead: the forward pass "
    "runs op by op and records a tape of what it ran, as long as this batch's sentences; "
    "backward walks it. No build cost and no padding, but Python handles every op of "
    "every step.",
}

ORDER = ("static-padded", "static-bucketed", "static-while", "dynamic")


def _rows(summaries: dict[str, dict[str, Any]], batches: Any) -> list[tuple[str, list[str]]]:
    """The table's rows: (label, one cell per mode); words from the README, numbers from
    the results."""
    def each(fmt: Any) -> list[str]:
        cells = []
        for s in summaries.values():
            try:
                cells.append(fmt(s))
            except (KeyError, TypeError, ValueError):
                cells.append("-")
        return cells

    def size(s: dict[str, Any]) -> str:
        if "forward_nodes" in s:
            return f"{s['forward_nodes']} / {s['backward_nodes']} / {s['update_nodes']} nodes"
        return f"{s['tape_nodes_per_step']:.0f} tape nodes per step (mean)"

    def compiled(s: dict[str, Any]) -> str:
        if s["style"] != "static":
            return "none (nothing is compiled)"
        n = int(s["compilations"])
        return f"{n}: the initializer's run and {n - 1} training program{'s' * (n != 2)}"

    epoch = f"time per epoch ({batches} batches)" if batches else "time per epoch"
    return [
        ("graphs", [STRATEGIES[m][0] for m in summaries]),
        ("padding", [STRATEGIES[m][1] for m in summaries]),
        ("compilations, this run", each(compiled)),
        ("padding waste: cell steps on padding", each(lambda s: f"{s['padding_waste']:.1%}")),
        ("graph: forward / backward / update", each(size)),
        ("build + first step", each(lambda s: fmt_ms(s["build_seconds"], 1))),
        ("median step", each(lambda s: fmt_ms(s["median_step_seconds"], 3))),
        (epoch, each(lambda s: fmt_ms(s["epoch_seconds"], 1))),
        ("peak bytes of a later step (measured)", each(lambda s: fmt_bytes(
            s["peak_step_bytes"]))),
        ("arena (planned, outside any loop)", each(lambda s: fmt_bytes(s["arena_bytes"]))),
        ("when it wins", [STRATEGIES[m][2] for m in summaries]),
    ]


def _table(summaries: dict[str, dict[str, Any]], batches: Any) -> str:
    head = "".join(f"<th>{esc(m)}</th>" for m in summaries)
    body = "".join(f"<tr><td>{esc(label)}</td>" + "".join(
        f"<td>{c if label in ('graphs', 'padding', 'when it wins') else esc(c)}</td>"
        for c in cells) + "</tr>" for label, cells in _rows(summaries, batches))
    return (f'<div class="tablewrap"><table class="cmp"><thead><tr><th>strategy</th>{head}'
            f"</tr></thead><tbody>{body}</tbody></table></div>")


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "-"


def _this_run(s: dict[str, dict[str, Any]]) -> str:
    """What this run measured, in sentences; only the modes present are compared."""
    said = []
    epochs = {m: v["epoch_seconds"] for m, v in s.items() if "epoch_seconds" in v}
    if epochs:
        ranked = sorted(epochs, key=epochs.get)  # type: ignore[arg-type]
        said.append("Per epoch, fastest first: " + ", ".join(
            f"{esc(m)} {fmt_ms(epochs[m], 1)}" for m in ranked) + ".")
    loop, bucket, pad = s.get("static-while"), s.get("static-bucketed"), s.get("static-padded")
    if loop and bucket and pad and "epoch_seconds" in loop:
        said.append(
            f"The loop's epoch took {_ratio(loop['epoch_seconds'], bucket['epoch_seconds'])} "
            f"the bucketed graphs' and {_ratio(loop['epoch_seconds'], pad['epoch_seconds'])} "
            f"the padded graph's: it runs no padding steps (padded wastes "
            f"{pad['padding_waste']:.1%} of its cell steps, bucketed "
            f"{bucket['padding_waste']:.1%}), " + (
                "but it starts its body once per word, where an unrolled graph runs one "
                "flat schedule." if loop["epoch_seconds"] > bucket["epoch_seconds"] else
                "and with the work that does not wait for the previous word moved out "
                "of the loop, that outweighs starting its body once per word."))
        said.append(
            f"It built and ran its first step in {fmt_ms(loop['build_seconds'], 1)} against "
            f"{fmt_ms(pad['build_seconds'], 1)} (padded) and "
            f"{fmt_ms(bucket['build_seconds'], 1)} (bucketed): its graph has "
            f"{loop['forward_nodes'] + loop['backward_nodes']} forward and backward nodes "
            f"whatever the length, the padded one {pad['forward_nodes'] + pad['backward_nodes']}"
            f", and the buckets {bucket['forward_nodes'] + bucket['backward_nodes']} together.")
        said.append(
            f"Memory: the loop's planned arena ({fmt_bytes(loop['arena_bytes'])}) holds only "
            f"the values outside the loop; its body has an arena of its own, reused by every "
            f"iteration, and the states saved for the gradient grow with the sentence, so "
            f"the measured peak of a later step ({fmt_bytes(loop['peak_step_bytes'])}, padded "
            f"{fmt_bytes(pad['peak_step_bytes'])}) is the figure to compare.")
    dynamic = s.get("dynamic")
    if dynamic and "epoch_seconds" in dynamic and loop:
        said.append(
            f"Dynamic mode builds nothing ({fmt_ms(dynamic['build_seconds'], 1)} to its first "
            f"step) and pads nothing, and its epoch took "
            f"{_ratio(dynamic['epoch_seconds'], loop['epoch_seconds'])} the loop's: it "
            f"dispatches every op from Python at every step.")
    return " ".join(said)


def strategies_html(result: Any) -> str:
    """The section on the four strategies, for the RNN's result (empty for other
    workloads, or when none of the four modes ran)."""
    if result.workload != "rnn":
        return ""
    by_mode = {r.mode: r.summary() for r in result.results}
    summaries = {m: by_mode[m] for m in ORDER if m in by_mode}
    if not summaries:
        return ""
    batches = result.info.get("batches_per_epoch")
    explained = "".join(f"<li>{EXPLAINED[m]}</li>" for m in summaries)
    try:
        this_run = _this_run(summaries)
    except (KeyError, TypeError, ZeroDivisionError):  # a result without a figure it reads
        this_run = ""
    return (
        "<h3>Four ways to handle sentences of different lengths</h3>"
        "<p>An RNN runs its cell once per word, so how much work a batch needs depends on "
        f"its sentences ({esc(result.info.get('lengths', ''))} words here; the sentences of "
        "one batch share a length). A <b>static</b> graph fixes its ops when it is built, "
        "before it has seen any data; a <b>dynamic</b> graph is recorded while the step "
        "runs, so it has as many cell steps as the batch has words. Static frameworks "
        "have three answers, the dynamic style one:</p>"
        f"<ol>{explained}</ol>{_table(summaries, batches)}"
        + look("read each row across: compilations and build time are what a static graph "
               "pays before it runs; padding waste is work done on filler words; time per "
               "epoch is what all of it adds up to over one pass through the data; the "
               "measured peak is the memory one later step needed.")
        + (f"<p><b>This run.</b> {this_run}</p>" if this_run else "") +
        "<p><b>When each wins.</b> Padding is the simplest and costs little when lengths "
        "are nearly equal. Buckets win a long run over a known set of lengths: each "
        "bucket's compile is paid once and then every step runs a flat, fully planned "
        "schedule with little padding. The loop in the graph wins when lengths vary widely "
        "or have no useful maximum (a 400-word sentence needs no new graph), when compile "
        "time or graph size matters, and wherever the graph must be exported once and "
        "serve every length; its price is the memory of the saved stacks and a fixed cost "
        "per iteration. The dynamic graph wins "
        "while the program itself changes (debugging, research code, control flow that "
        "differs per example) and when no step repeats often enough to pay back a build.</p>"
    )


def while_graph_note() -> str:
    """What to look at in the static-while graph."""
    return ("the whole time loop is one green box, in the forward part, and its gradient is "
            "a second loop in the backward part that runs the iterations in reverse. The "
            "box's label is the loop's condition; the carried values enter at its top, the "
            "bold green back edges take each one to the next iteration, and the dashed "
            "orange edges are the stacks the forward loop keeps for the gradient loop. The "
            "same graph serves every batch: compare its size with the unrolled graph above. "
            "The op-level view: <code>tapeflow graph rnn --mode static-while --backward "
            "--memory --full</code>.")
