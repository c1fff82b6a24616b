"""Products with an all-zero operand (an RNN's zero initial state) and MKL's transposing
copy: fewer flops and a faster copy, the same bits."""

from __future__ import annotations

import numpy as np
import pytest
import tapeflow.static as tf
from tapeflow.runtime import blas
from tapeflow.static.compiler import CompileOptions
from tapeflow.static.compiler.blas_calls import library_line


def _rnn(options: CompileOptions, steps: int = 20):
    """An Elman RNN from a zero state, trained by SGD (enough steps for w_hh^T to be
    copied once: compiler/passes.materialize_transposes)."""
    rng = np.random.default_rng(3)
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, (4, steps, 3), name="x")
        y = tf.placeholder(tf.int64, (4,), name="y")
        w_ih = tf.Variable(rng.normal(0, 0.5, (3, 8)).astype(np.float32), name="w_ih")
        w_hh = tf.Variable(rng.normal(0, 0.5, (8, 8)).astype(np.float32), name="w_hh")
        w_out = tf.Variable(rng.normal(0, 0.5, (8, 2)).astype(np.float32), name="w_out")
        h = tf.zeros((4, 8), dtype=tf.float32)
        for t in range(steps):
            h = tf.tanh(tf.matmul(x[:, t, :], w_ih) + tf.matmul(h, w_hh))
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=y, logits=tf.matmul(h, w_out)))
        train = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
        init = tf.global_variables_initializer()
    sess = tf.Session(graph=graph, options=options)
    sess.run(init)
    feed = {x: rng.normal(size=(4, steps, 3)).astype(np.float32),
            y: rng.integers(0, 2, 4)}
    return sess, [loss, train], feed, [w_ih, w_hh, w_out]


def _train(options: CompileOptions, runs: int = 5):
    sess, fetches, feed, weights = _rnn(options)
    losses = [sess.run(fetches, feed)[0] for _ in range(runs)]
    return losses, sess.run(weights), sess.plan(fetches, feed)


def _products(plan) -> int:
    return sum(s.op == "matmul" for s in plan.steps)


@pytest.mark.parametrize("dot_merge", [True, False])
def test_the_zero_states_forward_product_is_dropped_and_the_bits_stay(dot_merge):
    folded = CompileOptions(dot_merge=dot_merge)
    kept = CompileOptions(dot_merge=dot_merge, simplify=False)
    losses, weights, plan = _train(folded)
    losses_kept, weights_kept, plan_kept = _train(kept)
    assert _products(plan) == _products(plan_kept) - 1  # h0 @ w_hh, and only it
    assert [float(v) for v in losses] == [float(v) for v in losses_kept]
    for w, w_kept in zip(weights, weights_kept, strict=True):
        assert np.array_equal(w, w_kept)


def test_the_backward_zero_product_is_kept_for_the_merged_blocks():
    # h0^T @ g_0 is one term of w_hh's gradient sum; dot_merge's blocks of step gradients
    # line up with w_ih's sum only while every step has its term (passes.simplify)
    _, _, plan = _train(CompileOptions(), runs=1)
    _, _, plan_kept = _train(CompileOptions(simplify=False), runs=1)
    stacks = [sorted(len(s.inputs) for s in p.steps if s.op == "stack") for p in (plan, plan_kept)]
    assert stacks[0] == stacks[1]  # the same blocks: no step gradient copied twice


def test_mkl_copies_the_transposed_weight_and_the_results_are_the_same_bits(monkeypatch):
    if blas.MKL not in blas.available():
        pytest.skip("needs the mkl wheel (pip install tapeflow[mkl])")
    w = np.arange(12.0, dtype=np.float32).reshape(3, 4)
    out = np.empty((4, 3), np.float32)
    assert blas.transpose_into(w.T, out) is out and np.array_equal(out, w.T)
    sess, fetches, feed, _ = _rnn(CompileOptions(blas="mkl"))
    sess.run(fetches, feed)
    source = list(sess._cache.values())[-1].program.executor.source
    assert "transpose_into(" in source  # w_hh^T, copied once per run by MKL
    losses, weights, _ = _train(CompileOptions(blas="mkl"))
    monkeypatch.setattr("tapeflow.static.compiler.blas_calls.transpose_into",
                        lambda a, out: np.copyto(out, a))  # numpy's copy, compiled anew
    losses_np, weights_np, _ = _train(CompileOptions(blas="mkl"))
    assert [float(v) for v in losses] == [float(v) for v in losses_np]
    for w, w_np in zip(weights, weights_np, strict=True):
        assert np.array_equal(w, w_np)


def test_numpy_plans_never_call_a_library():
    sess, fetches, feed, _ = _rnn(CompileOptions())
    sess.run(fetches, feed)
    executor = list(sess._cache.values())[-1].program.executor
    assert "transpose_into(" not in executor.source and "gemm(" not in executor.source
    copy = next(n for n in executor.steps if n.op == "copy")
    assert library_line({}, copy, executor.graph, ["v"], "c", {}) is None
