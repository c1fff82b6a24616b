"""GEMM autotuning (compiler/autotune.py): a provider per matmul node, timed once per
(shapes, layout, dtype), recorded in Session.plan and run by the executor."""

from __future__ import annotations

import numpy as np
import pytest
import tapeflow.static as tf
from tapeflow.runtime import blas
from tapeflow.static.compiler import CompileOptions


def _rnn(options: CompileOptions, steps: int = 4):
    """A small unrolled RNN's training step: forward and backward matmuls, some transposed."""
    rng = np.random.default_rng(0)
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, (4, steps, 5), name="x")
        w = tf.Variable(rng.uniform(-0.5, 0.5, (5, 6)).astype(np.float32), name="w")
        u = tf.Variable(rng.uniform(-0.5, 0.5, (6, 6)).astype(np.float32), name="u")
        h = tf.zeros((4, 6), dtype=tf.float32)
        for t in range(steps):
            h = tf.tanh(tf.matmul(x[:, t, :], w) + tf.matmul(h, u))
        loss = tf.reduce_sum(h * h)
        train = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
        init = tf.global_variables_initializer()
    sess = tf.Session(graph=graph, options=options)
    sess.run(init)
    feed = {x: rng.standard_normal((4, steps, 5)).astype(np.float32)}
    return sess, [loss, train], feed


def _losses(options: CompileOptions, runs: int = 3) -> list[float]:
    sess, fetches, feed = _rnn(options)
    return [float(sess.run(fetches, feed)[0]) for _ in range(runs)]


@pytest.fixture
def fake_timer(monkeypatch):
    """MKL 'times' faster on every product; each timing is recorded (no library needed)."""
    timed: list[tuple] = []
    monkeypatch.setattr(blas, "_CHOSEN", {})
    monkeypatch.setattr(blas, "available", lambda: ("numpy", "mkl"))

    def time_provider(name, a, b, out, repeats=5):
        timed.append((name, a.shape, b.shape, a.flags.f_contiguous, b.flags.f_contiguous))
        return 1.0 if name == "numpy" else 0.5

    monkeypatch.setattr(blas, "time_provider", time_provider)
    return timed


def test_default_runs_numpy_and_records_nothing(fake_timer):
    sess, fetches, feed = _rnn(CompileOptions())
    sess.run(fetches, feed)
    plan = sess.plan(fetches, feed)
    assert plan.providers == {} and "gemm providers" not in str(plan)
    assert fake_timer == []


def test_auto_records_a_provider_per_matmul_in_the_plan(fake_timer, monkeypatch):
    asked = []  # the executor hands every matmul to its provider (here: declines, so numpy)
    monkeypatch.setattr(blas, "mkl_call", lambda a, b, out: asked.append(out.shape))
    sess, fetches, feed = _rnn(CompileOptions(blas="auto"))
    sess.run(fetches, feed)
    plan = sess.plan(fetches, feed)
    asked.clear()  # (compiling asked too: blas_calls binds MKL's call where it can)
    sess.run(fetches, feed)
    matmuls = [s.node_id for s in plan.steps if s.op == "matmul"]
    assert matmuls and set(plan.providers) == set(matmuls)
    assert set(plan.providers.values()) == {"mkl"} and len(asked) == len(matmuls)
    text = str(plan)
    assert f"gemm providers: {len(matmuls)} mkl (matmul nodes)" in text
    assert "matmul:mkl" in text
    # the same (shapes, layout, dtype) is timed once, whatever the number of nodes
    keys = set(fake_timer)
    assert len(fake_timer) == len(keys) < 2 * len(matmuls)


def test_auto_results_equal_numpy_to_rounding(fake_timer):
    np.testing.assert_allclose(_losses(CompileOptions(blas="auto")), _losses(CompileOptions()),
                               rtol=1e-5)


def test_exact_uses_numpy_whatever_blas_says(fake_timer):
    sess, fetches, feed = _rnn(CompileOptions(blas="auto", exact=True))
    sess.run(fetches, feed)
    assert sess.plan(fetches, feed).providers == {} and fake_timer == []
    assert _losses(CompileOptions(blas="mkl", exact=True)) == _losses(CompileOptions(exact=True))


@pytest.mark.skipif("mkl" not in blas.available(), reason="MKL is not installed")
def test_mkl_on_every_node_agrees_with_numpy():
    sess, fetches, feed = _rnn(CompileOptions(blas="mkl"))
    sess.run(fetches, feed)
    plan = sess.plan(fetches, feed)
    assert set(plan.providers.values()) == {"mkl"}
    np.testing.assert_allclose(_losses(CompileOptions(blas="mkl")), _losses(CompileOptions()),
                               rtol=1e-5)


def test_unknown_provider_is_rejected_by_name():
    with pytest.raises(blas.UnknownProviderError, match="'openblas'"):
        CompileOptions(blas="openblas")


def test_docstring_examples_run():
    import doctest

    from tapeflow.static.compiler import autotune

    result = doctest.testmod(autotune)
    assert result.failed == 0 and result.attempted > 0
