"""Exact mode keeps a forward product with an all-zero operand (``h0 @ w_hh``): numpy makes
NaN of ``0 * inf``, and dynamic mode computes the product, so dropping it (as the default
options do, passes.simplify) would part the two modes for a weight holding an inf."""

from __future__ import annotations

import numpy as np
import pytest
import tapeflow.static as tf
from tapeflow.static.compiler import CompileOptions


def _step(options: CompileOptions, w_hh: np.ndarray):
    """One Elman step from a zero state: tanh(x @ w_ih + h0 @ w_hh), and its plan."""
    rng = np.random.default_rng(2)
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, (4, 3), name="x")
        w_ih = tf.Variable(rng.normal(0, 0.5, (3, 8)).astype(np.float32), name="w_ih")
        w = tf.Variable(w_hh, name="w_hh")
        h0 = tf.zeros((4, 8), dtype=tf.float32)
        h1 = tf.tanh(tf.matmul(x, w_ih) + tf.matmul(h0, w))
        init = tf.global_variables_initializer()
    sess = tf.Session(graph=graph, options=options)
    sess.run(init)
    feed = {x: rng.normal(size=(4, 3)).astype(np.float32)}
    value = sess.run(h1, feed)
    reference = np.tanh(feed[x] @ sess.run(w_ih) + np.zeros((4, 8), np.float32) @ w_hh)
    products = sum(s.op == "matmul" for s in sess.plan(h1, feed).steps)
    return value, reference, products


@pytest.mark.filterwarnings("ignore:invalid value encountered in matmul")
def test_exact_mode_keeps_the_zero_product_and_numpys_nan():
    w_hh = np.random.default_rng(0).normal(0, 0.5, (8, 8)).astype(np.float32)
    w_hh[2, 5] = np.inf
    value, reference, products = _step(CompileOptions(exact=True), w_hh)
    assert products == 2
    assert np.isnan(reference[:, 5]).all()  # 0 * inf in every row's column 5
    np.testing.assert_array_equal(value, reference)  # (NaN where numpy has NaN)


@pytest.mark.filterwarnings("ignore:invalid value encountered in matmul")
def test_default_options_drop_it_and_finite_weights_keep_their_bits():
    w_hh = np.random.default_rng(0).normal(0, 0.5, (8, 8)).astype(np.float32)
    value, reference, products = _step(CompileOptions(), w_hh)
    exact_value, _, exact_products = _step(CompileOptions(exact=True), w_hh)
    assert (products, exact_products) == (1, 2)
    assert np.array_equal(value, exact_value) and np.array_equal(value, reference)
    w_hh[2, 5] = np.inf
    value, _, _ = _step(CompileOptions(), w_hh)
    assert not np.isnan(value).any()  # the dropped product: no 0 * inf
