"""The compile cache under changing feed shapes: one correct plan per shape, no stale buffers.

A Session compiles one program per (fetches, feed signature). Feeding a placeholder of
shape (None, 3) with batches of 1, 4, 2, 4, 7, ... rows must give each batch size its own
plan (validated, sized for that batch), reuse it when the size comes back, and never hand
out a buffer that a later run (of this or another size) overwrites.
"""

from __future__ import annotations

import numpy as np
import pytest
import tapeflow.static as tf
from hypothesis import given, settings
from hypothesis import strategies as st

W = np.array([[0.5, -1.0, 0.25], [1.5, 0.75, -0.5], [-0.25, 0.5, 1.0]])
B = np.array([0.1, -0.2, 0.3])


def reference(x: np.ndarray) -> tuple[np.ndarray, float]:
    h = np.tanh(x @ W + B)
    return h, float(np.sum(h * h))


def build() -> tuple[tf.Graph, tf.Tensor, tf.Tensor, tf.Tensor]:
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float64, [None, 3], name="x")
        h = tf.tanh(tf.matmul(x, tf.constant(W)) + tf.constant(B))
        loss = tf.reduce_sum(h * h)
    return g, x, h, loss


def batch(rows: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed + rows).uniform(-1, 1, size=(rows, 3))


def test_each_batch_size_gets_its_own_plan_and_reuses_it() -> None:
    g, x, h, loss = build()
    sizes = [1, 4, 2, 4, 7, 1, 7, 2]
    with tf.Session(graph=g) as sess:
        plans = {}
        for rows in sizes:
            hv, lv = sess.run([h, loss], {x: batch(rows)})
            ref_h, ref_loss = reference(batch(rows))
            np.testing.assert_allclose(hv, ref_h, rtol=1e-12)
            assert lv == pytest.approx(ref_loss, rel=1e-12)
            plan = sess.plan([h, loss], {x: batch(rows)})
            plan.validate()
            if rows in plans:
                assert plan is plans[rows]  # the cached program's plan, not a new compile
            plans[rows] = plan
        assert sess.compile_count == len(set(sizes))
    # the plans are specialised: an intermediate of 7 rows needs more arena than one of 1 row
    assert plans[7].naive_bytes > plans[1].naive_bytes


def test_fetched_results_are_never_overwritten_by_later_runs() -> None:
    g, x, h, loss = build()
    kept = []
    with tf.Session(graph=g) as sess:
        for rows in [3, 5, 3, 1, 5, 3]:
            hv, lv = sess.run([h, loss], {x: batch(rows, seed=len(kept))})
            kept.append((rows, len(kept), hv, lv))
        for rows, seed, hv, lv in kept:
            ref_h, ref_loss = reference(batch(rows, seed=seed))
            np.testing.assert_allclose(hv, ref_h, rtol=1e-12)
            assert lv == pytest.approx(ref_loss, rel=1e-12)


def test_a_fed_array_is_not_changed_by_the_run() -> None:
    g, x, h, _ = build()
    fed = batch(4)
    before = fed.copy()
    with tf.Session(graph=g) as sess:
        sess.run(h, {x: fed})
        sess.run(h, {x: fed[:2]})
    np.testing.assert_array_equal(fed, before)


def test_dtype_of_the_feed_is_part_of_the_signature_only_after_conversion() -> None:
    g, x, h, _ = build()
    with tf.Session(graph=g) as sess:
        a = sess.run(h, {x: batch(2)})
        b = sess.run(h, {x: batch(2).astype(np.float32)})  # converted to float64 first
        c = sess.run(h, {x: batch(2).tolist()})
        assert sess.compile_count == 1
    np.testing.assert_allclose(a, b, rtol=1e-6)
    np.testing.assert_array_equal(a, c)


def _train_graph() -> tuple[tf.Graph, tf.Operation, tf.Tensor, tf.Tensor, tf.Tensor, tf.Operation]:
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float64, [None, 3], name="x")
        y = tf.placeholder(tf.float64, [None, 1], name="y")
        w = tf.Variable(np.linspace(-0.5, 0.5, 3).reshape(3, 1), name="w")
        pred = tf.sigmoid(tf.matmul(x, w))
        loss = tf.reduce_mean(tf.square(pred - y))
        train = tf.train.GradientDescentOptimizer(0.5).minimize(loss)
        init = tf.global_variables_initializer()
    return g, init, x, y, loss, train


@settings(max_examples=25, deadline=None, derandomize=True, database=None)
@given(st.lists(st.integers(1, 6), min_size=2, max_size=10))
def test_training_with_changing_batch_sizes_matches_the_unplanned_interpreter(
    sizes: list[int],
) -> None:
    g, init, x, y, loss, train = _train_graph()
    planned = tf.Session(graph=g)
    plain = tf.Session(graph=g, options=tf.CompileOptions(optimize=False, plan_memory=False))
    planned.run(init)
    plain.run(init)
    rng = np.random.default_rng(len(sizes))
    for rows in sizes:
        feed = {x: rng.uniform(-1, 1, (rows, 3)), y: rng.uniform(0, 1, (rows, 1))}
        a, _ = planned.run([loss, train], feed)
        b, _ = plain.run([loss, train], feed)
        assert a == pytest.approx(b, rel=1e-12, abs=1e-15)
    for var in g.get_collection(tf.GraphKeys.GLOBAL_VARIABLES):
        np.testing.assert_allclose(planned.run(var), plain.run(var), rtol=1e-12)
    # init, [loss, train] per distinct size, and the variable fetch
    assert planned.compile_count == 2 + len(set(sizes))
    planned.close()
    plain.close()


def test_fetch_structures_have_separate_entries() -> None:
    g, x, h, loss = build()
    with tf.Session(graph=g) as sess:
        a = sess.run(loss, {x: batch(3)})
        b = sess.run([h, loss], {x: batch(3)})[1]
        c = sess.run({"l": loss}, {x: batch(3)})["l"]
        assert a == b == c
        assert sess.compile_count == 2  # [loss] and [h, loss]; a dict of [loss] reuses the first
