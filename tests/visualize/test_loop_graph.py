"""Static graphs with loops: each ``while`` node drawn as a box (a Graphviz cluster) holding
its body, with the loop-carried values entering it, a back edge per loop variable, the
results leaving it, the gradient loop in the backward part, and the bodies' own arenas;
``tapeflow graph rnn --mode static-while``."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import tapeflow.static as tf
from tapeflow.compare.cli import main
from tapeflow.compare.workload_graphs import loop_body_plans
from tapeflow.visualize import dot_available
from tapeflow.visualize.graph_key import offset_colours
from tapeflow.visualize.loop_graph import loop_graph
from tapeflow.visualize.loop_parts import carried_names, condition_text

needs_dot = pytest.mark.skipif(not dot_available(), reason="Graphviz's dot is not installed")


def _loop(gradient: bool = False):
    """A loop ``i < n`` on ``v`` with a captured ``w``; its gradient if asked."""
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float64, [3], name="x")
        n = tf.placeholder(tf.int32, [], name="n")
        w = tf.Variable(np.array([0.5, 1.0, 2.0]), name="w")
        _, y = tf.while_loop(lambda i, v: i < n,
                             lambda i, v: (i + 1, tf.tanh(tf.sin(v) * w) * tf.cos(v)),
                             [tf.constant(0), x], name="loop")
        loss = tf.reduce_sum(y)
        fetches = [loss, *tf.gradients(loss, [x, w])] if gradient else [loss]
        init = tf.global_variables_initializer()
    sess = tf.Session(graph=g)
    sess.run(init)
    return g, x, n, fetches, sess


def _edges(source: str, **attrs: str) -> list[tuple[str, str]]:
    """(src, dst) of every edge whose attributes include ``attrs``."""
    found = []
    for src, dst, rest in re.findall(r'^\s*"([^"]+)" -> "([^"]+)" \[(.*)\];$', source, re.M):
        if all(f'{k}="{v}"' in rest for k, v in attrs.items()):
            found.append((src, dst))
    return found


def _cluster_labels(source: str) -> list[str]:
    return re.findall(r'subgraph cluster_\d+ \{\n\s*graph \[label="([^"]*)"', source)


def test_a_loop_is_a_box_with_its_condition_carried_values_and_back_edges() -> None:
    g, _, _, fetches, _ = _loop()
    fig = loop_graph(g, outputs=fetches, collapse=False)
    boxes = [label for label in _cluster_labels(fig.source) if label.startswith("while ")]
    assert len(boxes) == 1 and boxes[0].startswith("while t < n:")  # the counter is t
    assert "body compiled once, run once per iteration" in boxes[0]
    ir = g.as_ir(fetches)
    loop = next(node for node in ir.nodes if node.op == "while")
    body = loop.attrs["body"]
    back = set(_edges(fig.source, label="next iteration"))
    # one back edge per loop variable: from the body's output to its carried parameter
    for k in range(loop.attrs["n_vars"]):
        source = body.graph[body.graph.outputs[k]].id
        assert (f"L{loop.id}_n{source}", f"L{loop.id}_n{body.params[k]}") in back
    assert len(back) == loop.attrs["n_vars"] == 2
    # the first values enter the box: x feeds the carried v (the counter's 0 is a constant)
    x = next(node.id for node in ir.nodes if node.name == "x")
    assert (f"n{x}", f"L{loop.id}_n{body.params[1]}") in _edges(fig.source, label="first value")
    assert 'label="t (carried)' in fig.source and "w (captured)" in fig.source
    # the final value leaves it, labelled as the loop variable it is (named after its first value)
    assert "after the last iteration" in fig.source and "x, final" in fig.source
    assert 'label="t < n ?"' in fig.source  # the condition's own node, read from t and n


def test_the_gradient_is_a_reverse_loop_reading_the_saved_stack() -> None:
    g, _, _, fetches, _ = _loop(gradient=True)
    fig = loop_graph(g, outputs=fetches, collapse=True)
    boxes = [label for label in _cluster_labels(fig.source) if label.startswith("while ")]
    assert len(boxes) == 2 and fig.info["loops"][0].startswith("loop")
    assert "the gradient loop: the iterations in reverse" in boxes[1]
    assert "backward (gradients)" in _cluster_labels(fig.source)
    # the forward loop's stack of v leaves the box, and the gradient loop captures it
    stack = _edges(fig.source, label="each iteration's value")
    assert len(stack) == 1 and "stack of x" in fig.source
    assert re.search(r"captured, the same every iteration:\\n[^\"]*stack of x", fig.source)
    # the summarised body: the step's forward ops, recomputed, then their gradient
    assert "the step's forward ops, replayed: compiled, they read the values the forward " \
        "loop saved" in fig.source
    assert "the step's gradient: " in fig.source
    assert "d w (carried)" in fig.source  # a gradient summed over the iterations, from zero


def _fill(source: str, dot_id: str) -> str | None:
    m = re.search(rf'^\s*"{dot_id}" \[.*fillcolor="([^"]+)"', source, re.M)
    return None if m is None else m.group(1)


def test_memory_colours_the_outer_arena_outside_and_each_body_arena_inside() -> None:
    g, x, n, fetches, sess = _loop(gradient=True)
    feed = {x: np.array([0.1, 0.2, 0.3]), n: np.int32(4)}
    # a gradient loop's body is planned when it first runs: loop_body_plans runs the step
    plan, bodies = loop_body_plans(SimpleNamespace(graph=g, sess=sess), fetches, feed)
    loops = [node for node in g.as_ir(fetches).nodes if node.op == "while"]
    assert {(loop.name, "body") for loop in loops} <= set(bodies)
    fig = loop_graph(g, outputs=fetches, plan=plan, body_plans=bodies, collapse=False)
    coloured = 0
    for loop in loops:
        body_plan = bodies[(loop.name, "body")]
        colours = offset_colours(body_plan)
        body_ids = {node.id for node in loop.attrs["body"].graph.nodes}
        placed = {i: b for i, b in body_plan.buffer_of.items()
                  if b in body_plan.offsets and i in body_ids}
        drawn = {i: _fill(fig.source, f"L{loop.id}_n{i}") for i in placed}
        drawn = {i: c for i, c in drawn.items() if c is not None}  # (constants: not drawn)
        # the forward step hands each of its values to the reverse loop (residuals.py), so
        # none lives in its arena; the reverse step's do
        assert bool(drawn) == loop.name.endswith("while_grad"), loop.name
        for i, colour in drawn.items():
            assert colour == colours[body_plan.offsets[placed[i]]], (loop.name, i)
        coloured += len(drawn)
    assert coloured >= 3
    x_id = next(node.id for node in g.as_ir(fetches).nodes if node.name == "x")
    assert _fill(fig.source, f"n{x_id}") == "white"  # a feed: not in the arena
    assert fig.source.count("its own arena of ") == 2 and "outer arena" in fig.source
    # v, and sin(v), tanh(sin(v) w) and cos(v), which the gradient reads: 4 x 3 float64
    assert "saves 96 B per iteration for the gradient" in fig.source


def test_the_condition_reads_through_outer_values() -> None:
    with tf.Graph().as_default() as g:
        lengths = tf.placeholder(tf.int32, [None], name="lengths")
        limit = tf.minimum(40, tf.reduce_max(lengths))
        _, h = tf.while_loop(lambda t, h: t < limit, lambda t, h: (t + 1, h * 2.0),
                             [tf.constant(0), tf.constant(1.0)])
    loop = next(node for node in g.as_ir([h]).nodes if node.op == "while")
    outer = {node.id: node for node in g.as_ir([h]).nodes}
    names = carried_names(loop, outer)
    assert names == ["t", "var 1"]
    text = condition_text(loop, outer, names)
    assert text.startswith("t < minimum(") and "lengths" in text, text


@needs_dot
def test_cli_draws_the_static_while_rnn(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "g.svg"
    assert main(["graph", "rnn", "--mode", "static-while", "--backward", "--memory",
                 "-o", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    svg = out.read_text()
    assert svg.count("while t &lt; minimum(40, max(lengths))") == 1  # the forward loop
    assert "while t &gt;= 0:" in svg and "next iteration" in svg
    assert "memory plan: outer arena" in svg
    assert "loop cell" not in svg  # ops repeated outside the boxes are no unrolled loop
    full = tmp_path / "full.dot"
    assert main(["graph", "rnn", "--mode", "static-while", "--backward", "--memory", "--full",
                 "-o", str(full)]) == 0
    source = full.read_text()
    # op by op, each body's ops are coloured by their offset in the body's own arena
    assert len(re.findall(r'^\s+"L\d+_n\d+" \[.*class="tf-\w+ tf-buffer"', source, re.M)) > 20


def test_cli_refuses_static_while_for_a_workload_without_a_loop(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["graph", "xor", "--mode", "static-while", "-o", str(tmp_path / "x.svg")]) == 2
    assert "workload xor has no loop" in capsys.readouterr().err


def test_the_same_graph_is_drawn_the_same_every_time() -> None:
    """The report's bytes depend on it (its plans included: bodies planned in a run)."""
    from tapeflow.compare.workload_graphs import build_workload, while_figure

    drawn = [while_figure(build_workload("rnn", "float64", 0), backward=True, memory=True,
                          collapse=collapse).source
             for _ in range(2) for collapse in (True, False)]
    assert drawn[0] == drawn[2] and drawn[1] == drawn[3]
