"""The memory chart of a recomputing plan hatches the buffers of recomputed values."""

from __future__ import annotations

import pytest
import tapeflow.static as tf
from tapeflow.static.compiler import CompileOptions

pytest.importorskip("matplotlib")


def _plan(recompute: object) -> object:
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float64, (4, 3), name="x")
        w = tf.Variable([[0.1, 0.2, 0.3]] * 3, dtype=tf.float64, name="w")
        h = x
        for _ in range(9):
            h = tf.tanh(tf.matmul(h, w))
        loss = tf.reduce_sum(h)
        train = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
        init = tf.global_variables_initializer()
    options = CompileOptions(dot_merge=False, recompute=recompute)
    with tf.Session(graph=graph, options=options) as sess:
        sess.run(init)
        return sess.plan([loss, train], {x: [[1.0, 2.0, 3.0]] * 4})


def test_recomputed_buffers_are_hatched_and_the_title_says_so() -> None:
    from tapeflow.visualize.memory_chart import memory_plan_chart

    plain, again = _plan(None), _plan("sqrt")
    assert any(n.endswith("/recompute") for n in again.names.values())
    plain_svg, again_svg = memory_plan_chart(plain), memory_plan_chart(again)
    assert "<pattern" in again_svg and "<pattern" not in plain_svg
    assert "recomputed in the backward" in again_svg
    assert "recomputed in the backward" not in plain_svg
