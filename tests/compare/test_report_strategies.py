"""The report's side-by-side of the four RNN strategies: the README's words, this run's
numbers (and only those: the same results give the same text), and when each wins."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

from tapeflow.compare.harness import ModeResult, WorkloadResult
from tapeflow.compare.rnn_strategies import ORDER, STRATEGIES, strategies_html

README = Path(__file__).resolve().parents[2] / "README.md"

STATS = {  # (style, build s, step s, epoch s, compilations, waste, nodes fwd/bwd, peak bytes)
    "dynamic": ("dynamic", 0.2, 0.0155, 1.8775, None, 0.0, None, 1504923),
    "static-padded": ("static", 1.9, 0.0040, 0.8372, 2, 0.4625, (1241, 2345), 151408),
    "static-bucketed": ("static", 2.1, 0.0029, 0.4101, 5, 0.1663, (3101, 5840), 128368),
    "static-while": ("static", 0.2, 0.0045, 0.7158, 2, 0.0, (58, 38), 684469),
}


def _result(modes: tuple[str, ...] = ORDER) -> WorkloadResult:
    results = []
    for mode in modes:
        style, build, step, epoch, compiled, waste, nodes, peak = STATS[mode]
        stats: dict = {"padding_waste": waste, "epoch_seconds": epoch}
        if nodes is None:
            stats["tape_nodes_per_step"] = 422.5
        else:
            stats.update(forward_nodes=nodes[0], backward_nodes=nodes[1], update_nodes=28,
                         compilations=compiled, arena_bytes=328384)
        results.append(ModeResult(mode, style, [0.7, 0.6], build, [step] * 3, 2_000_000,
                                  peak, 0.97, stats))
    return WorkloadResult("rnn", "float64", 456, results, {}, 1e-9,
                          {"lengths": "3..40", "batches_per_epoch": 152})


def test_the_words_per_strategy_are_the_readme_table() -> None:
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\s*\| `([\w-]+)` \|(.*)\|\s*$",
                                                         README.read_text(), re.M)}
    for mode, words in STRATEGIES.items():
        in_readme = rows[mode]
        for text in words:  # the report writes `code` as <code>
            assert re.sub(r"</?code>", "`", text) in in_readme, (mode, text)


def test_the_numbers_are_this_runs_and_the_text_is_the_same_for_the_same_results() -> None:
    html = strategies_html(_result())
    assert html == strategies_html(_result())
    html = unescape(html)
    assert "Four ways to handle sentences of different lengths" in html
    for mode in ORDER:
        assert f"<th>{mode}</th>" in html
    # fastest epoch first, from the results
    assert "Per epoch, fastest first: static-bucketed 410.1 ms, static-while 715.8 ms, " \
           "static-padded 837.2 ms, dynamic 1877.5 ms." in html
    assert "1.75x the bucketed graphs' and 0.85x the padded graph's" in html
    assert "46.2%" in html and "16.6%" in html
    assert "2: the initializer's run and 1 training program" in html
    assert "5: the initializer's run and 4 training programs" in html
    assert "96 forward and backward nodes whatever the length" in html
    assert "668.4 KiB" in html  # the loop's measured peak of a later step
    assert "time per epoch (152 batches)" in html and "When each wins." in html


def test_without_the_loop_or_for_another_workload() -> None:
    html = strategies_html(_result(("dynamic", "static-padded", "static-bucketed")))
    assert "static-while" not in html.split("<ol>")[1].split("</ol>")[0]
    assert "Per epoch, fastest first: static-bucketed" in html  # (no loop to compare)
    other = _result()
    other.workload = "xor"
    assert strategies_html(other) == ""
