"""MKL's calls bound at compile time (compiler/blas_calls.py): the same calls as
``blas.gemm`` makes, so the same bits, without the per-call checks."""

from __future__ import annotations

import numpy as np
import pytest
import tapeflow.static as tf
from tapeflow.runtime import blas
from tapeflow.static.compiler import CompileOptions, blas_calls

pytestmark = pytest.mark.skipif(blas.MKL not in blas.available(),
                                reason="needs the mkl wheel (pip install tapeflow[mkl])")


def _train(runs: int = 4):
    rng = np.random.default_rng(5)
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, (8, 6, 3), name="x")
        w = tf.Variable(rng.normal(0, 0.5, (3, 16)).astype(np.float32), name="w")
        u = tf.Variable(rng.normal(0, 0.5, (16, 16)).astype(np.float32), name="u")
        h = tf.zeros((8, 16), dtype=tf.float32)
        for t in range(6):
            h = tf.tanh(tf.matmul(x[:, t, :], w) + tf.matmul(h, u))
        loss = tf.reduce_sum(h * h)
        train = tf.train.GradientDescentOptimizer(0.01).minimize(loss)
        init = tf.global_variables_initializer()
    sess = tf.Session(graph=graph, options=CompileOptions(blas="mkl"))
    sess.run(init)
    feed = {x: rng.standard_normal((8, 6, 3)).astype(np.float32)}
    losses = [float(sess.run([loss, train], feed)[0]) for _ in range(runs)]
    source = list(sess._cache.values())[-1].program.executor.source
    return losses, sess.run([w, u]), source


def test_bound_calls_give_the_bits_of_the_checked_ones(monkeypatch):
    losses, weights, source = _train()
    assert "gemm(" not in source  # every product bound (none checked per call)
    assert any(line.strip().endswith(")") and "(v" in line and line.strip().startswith("g")
               for line in source.splitlines())  # one reading a variable per run
    monkeypatch.setattr(blas_calls, "_bound", lambda *args: None)  # blas.gemm every call
    losses_checked, weights_checked, source_checked = _train()
    assert "gemm(" in source_checked
    assert losses == losses_checked
    for w, w_checked in zip(weights, weights_checked, strict=True):
        assert np.array_equal(w, w_checked)


@pytest.mark.parametrize("layout", ["C", "F"])
def test_a_per_run_operand_laid_out_otherwise_still_gives_the_product(layout):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4, 5)).astype(np.float32)
    out = np.empty((4, 3), np.float32)
    example = np.empty((5, 3), np.float32)
    fn, args = blas.mkl_call(a, example, out)
    call = blas_calls._PerRun(fn, args, 9, example, [False, False], [a, None], out)
    b = np.asarray(rng.standard_normal((5, 3)).astype(np.float32), order=layout)
    call(b)
    np.testing.assert_allclose(out, a @ b, rtol=1e-6)
