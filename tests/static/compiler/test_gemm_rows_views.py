"""A step that writes over its row of a block writes that row, not the block's first.

``gemm_acc`` lets an RNN step's ``addmm`` write over its row of the block of input
projections, and the planner lets the step's ``tanh`` write over the addmm in turn: both
must land in that row (``gemm_rows.over_views``), where every hidden state is read later.
With ``blas="mkl"`` the rewrites are made whether or not MKL is installed (without it,
``runtime/blas.py`` runs numpy's product and an add), so these tests run everywhere.
"""

from __future__ import annotations

import numpy as np
import pytest
import tapeflow.static as tf
from tapeflow.static.compiler import CompileOptions


def _pooled_rnn_loss(options: CompileOptions, steps: int = 12) -> float:
    """An Elman RNN whose logits read the mean of every hidden state."""
    batch, features, hidden = 4, 3, 8
    rng = np.random.default_rng(0)
    u = lambda *shape: rng.uniform(-0.5, 0.5, shape)  # noqa: E731
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float64, (None, steps, features), name="x")
        labels = tf.placeholder(tf.int64, (None,), name="labels")
        w_ih, w_hh = tf.Variable(u(features, hidden)), tf.Variable(u(hidden, hidden))
        b_ih, b_hh, w_out = tf.Variable(u(hidden)), tf.Variable(u(hidden)), tf.Variable(
            u(hidden, 2))
        state = tf.zeros((batch, hidden), dtype=tf.float64)
        states = []
        for t in range(steps):
            state = tf.tanh(tf.matmul(x[:, t, :], w_ih) + b_ih + tf.matmul(state, w_hh) + b_hh)
            states.append(state)
        pooled = tf.add_n(states) / float(steps)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=labels, logits=tf.matmul(pooled, w_out)))
        init = tf.global_variables_initializer()
    feed = {x: rng.standard_normal((batch, steps, features)), labels: rng.integers(0, 2, batch)}
    with tf.Session(graph=graph, options=options) as sess:
        sess.run(init)
        return float(sess.run(loss, feed))


def test_every_hidden_state_is_its_own_row_when_steps_sum_into_the_block():
    reference = _pooled_rnn_loss(CompileOptions(exact=True))
    assert _pooled_rnn_loss(CompileOptions(blas="mkl")) == pytest.approx(reference, rel=1e-12)


def _two_rows(first: int, second: int, options: CompileOptions) -> tuple[float, set[str]]:
    """sum(h0) + sum(h1) of two steps reading rows ``first`` and ``second`` of one block,
    and the ops of the compiled graph."""
    graph = tf.Graph()
    with graph.as_default():
        xs = tf.placeholder(tf.float64, (8, 3), name="xs")
        a = tf.placeholder(tf.float64, (4, 5), name="a")
        w = tf.Variable(np.arange(15.0).reshape(3, 5) / 10)
        u = tf.Variable(np.arange(25.0).reshape(5, 5) / 7)
        b, c = tf.Variable(np.ones(5)), tf.Variable(np.full(5, 2.0))
        block = tf.reshape(tf.matmul(xs, w) + b, (2, 4, 5))
        h0 = tf.tanh(block[first] + tf.matmul(a, u) + c)
        h1 = tf.tanh(block[second] + tf.matmul(h0, u) + c)
        out = tf.reduce_sum(h1) + tf.reduce_sum(h0)
        init = tf.global_variables_initializer()
    feed = {xs: np.linspace(-1, 1, 24).reshape(8, 3), a: np.linspace(0, 1, 20).reshape(4, 5)}
    with tf.Session(graph=graph, options=options) as sess:
        sess.run(init)
        value = float(sess.run(out, feed))
        program = list(sess._cache.values())[-1].program
    return value, {n.op for n in program.graph.nodes}


@pytest.mark.parametrize(("first", "second"), [(0, 1), (1, -1), (0, -2)])
def test_a_row_named_from_the_end_is_the_same_row(first, second):
    expected, _ = _two_rows(first, second, CompileOptions(exact=True))
    got, ops = _two_rows(first, second, CompileOptions(blas="mkl"))
    assert "addmm" in ops  # (the rewrite this is about was made)
    assert got == pytest.approx(expected, rel=1e-12)


def test_the_gpu_gets_no_cpu_library_rewrites():
    assert CompileOptions(blas="auto", device="gpu").pass_settings("gemm_acc") == {
        "setting": "numpy"}
    assert CompileOptions(blas="auto").pass_settings("gemm_acc") == {"setting": "auto"}
