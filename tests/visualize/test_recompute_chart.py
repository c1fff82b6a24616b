"""Recomputation drawn: the memory chart hatches recomputed buffers, the graph drawing
dashes recomputed ops and double-borders checkpoints, and the memory-against-compute
chart plots one point per compiled plan."""

from __future__ import annotations

import re

import pytest
import tapeflow.static as tf
from tapeflow.runtime import Spec
from tapeflow.static.compiler import CompileOptions, compile
from tapeflow.visualize.static_graph import static_graph

pytest.importorskip("matplotlib")


def _chain() -> tuple[tf.Graph, list, dict]:
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float64, (4, 3), name="x")
        w = tf.Variable([[0.1, 0.2, 0.3]] * 3, dtype=tf.float64, name="w")
        h = x
        for _ in range(9):
            h = tf.tanh(tf.matmul(h, w))
        loss = tf.reduce_sum(h)
        train = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
    return graph, [loss, train], {x: [[1.0, 2.0, 3.0]] * 4}


def _plan(recompute: object) -> object:
    graph, fetches, feed = _chain()
    with graph.as_default():
        init = tf.global_variables_initializer()
    options = CompileOptions(dot_merge=False, recompute=recompute)
    with tf.Session(graph=graph, options=options) as sess:
        sess.run(init)
        return sess.plan(fetches, feed)


def _program(recompute: object) -> object:
    graph, fetches, feed = _chain()
    specs = {t.node_id: Spec((4, 3), tf.float64) for t in feed}
    return compile(graph.as_ir(fetches), specs, CompileOptions(dot_merge=False,
                                                              recompute=recompute))


def test_recomputed_buffers_are_hatched_and_the_title_says_so() -> None:
    from tapeflow.visualize.memory_chart import memory_plan_chart

    plain, again = _plan(None), _plan("sqrt")
    assert any(n.endswith("/recompute") for n in again.names.values())
    plain_svg, again_svg = memory_plan_chart(plain), memory_plan_chart(again)
    assert "<pattern" in again_svg and "<pattern" not in plain_svg
    assert "recomputed in the backward" in again_svg
    assert "recomputed in the backward" not in plain_svg


def _node_lines(source: str, word: str) -> list[str]:
    return [line for line in source.splitlines() if "->" not in line and word in line]


def test_graph_drawing_dashes_recomputed_ops_and_doubles_checkpoints() -> None:
    program = _program("sqrt")
    redone = [n for n in program.graph.nodes if n.role == "recompute"]
    assert redone, "the chain should recompute something under sqrt"
    fig = static_graph(program.graph, plan=program.inspect_plan(), collapse=False)
    dashed = [line for line in fig.source.splitlines() if "tf-recompute" in line]
    assert len(dashed) == len(redone)
    assert all("dashed" in line for line in dashed)
    # every checkpoint (a forward value a recomputed op reads) is drawn with two borders
    forward = {n.id for n in program.graph.nodes if n.role == "forward" and n.kind == "call"}
    kept = {i for n in redone for i in n.inputs if i in forward}
    doubled = {int(m) for m in re.findall(r'^\s*"n(\d+)" \[[^\n]*peripheries="2"',
                                          fig.source, re.M)}
    assert kept and kept <= doubled
    # recomputed ops run in the backward pass: they are drawn in its cluster
    backward = fig.source.split("backward (gradients)")[1].split("update (optimizer)")[0]
    assert all(f'"n{n.id}" [' in backward for n in redone)
    key = fig.source.split('"key"')[1]
    assert "recomputed: a forward op" in key and "checkpoint: a forward value" in key


def test_graph_drawing_without_recomputation_has_no_marks() -> None:
    program = _program(None)
    source = static_graph(program.graph, plan=program.inspect_plan(), collapse=False).source
    assert "tf-recompute" not in source and "peripheries" not in source
    assert "recomputed: a forward op" not in source and "checkpoint:" not in source


def test_graph_drawing_summarised_keeps_the_marks() -> None:
    program = _program("sqrt")
    source = static_graph(program.graph, plan=program.inspect_plan(), collapse=True).source
    assert _node_lines(source, "tf-recompute") and _node_lines(source, "peripheries")


def _points() -> dict:
    from tapeflow.visualize.recompute_chart import TradePoint

    return {"Elman": [TradePoint("keep all", "plain", 600_000, 0.0, 0),
                      TradePoint("budget 500 KiB", "budget", 450_000, 0.9, 300),
                      TradePoint('"sqrt"', "sqrt", 340_000, 1.0, 430),
                      TradePoint("default options", "other", 800_000, 0.0, 0)]}


def test_tradeoff_chart_labels_points_and_is_deterministic() -> None:
    from tapeflow.visualize.recompute_chart import tradeoff_chart

    lengths = {"keep every value": [(10, 150_000), (40, 600_000)],
               'recompute="sqrt"': [(10, 120_000), (40, 340_000)]}
    svg = tradeoff_chart(_points(), title="demo", note="counted", lengths=lengths)
    assert svg == tradeoff_chart(_points(), title="demo", note="counted", lengths=lengths)
    for text in ('"sqrt": 332.0 KiB', "keep all: 585.9 KiB", "default options: 781.2 KiB",
                 "extra compute", "counted", "sequence length T", "x4.0 from T=10 to 40",
                 "x2.8 from T=10 to 40", "demo"):
        assert text.replace('"', "&quot;") in svg or text in svg, text
    one_panel = tradeoff_chart(_points(), title="demo")
    assert "sequence length T" not in one_panel
