"""tf.nn.dynamic_rnn as one while loop (TF1's sequence_length rules), tf.scan, tf.foldl and
tf.TensorArray; checked against the unrolled graph, numpy and finite differences."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import tapeflow.static as tf

rng = np.random.default_rng(3)
X = rng.normal(size=(3, 5, 2))
LENGTHS = np.array([5, 2, 3], np.int32)


@pytest.mark.parametrize("cell_type", ["rnn", "lstm"])
@pytest.mark.parametrize("time_major", [False, True])
def test_sequence_length_matches_each_sentence_unrolled_alone(cell_type, time_major):
    # seeded, and an absolute tolerance: a batch of 1 and a batch of 5 take different BLAS
    # paths that differ by an ulp, which an rtol-only check fails on an output near zero
    # (test_rnn_cell.py's intermittent failure)
    with tf.Graph().as_default():
        tf.set_random_seed(0)
        cell = (tf.nn.rnn_cell.BasicRNNCell(4) if cell_type == "rnn"
                else tf.nn.rnn_cell.BasicLSTMCell(4))
        x = tf.placeholder(tf.float64, [None, None, 2], name="x")
        lengths = tf.placeholder(tf.int32, [None], name="lengths")
        fed = tf.transpose(x, [1, 0, 2]) if time_major else x
        outputs, state = tf.nn.dynamic_rnn(cell, fed, sequence_length=lengths,
                                           dtype=tf.float64, time_major=time_major)
        if time_major:
            outputs = tf.transpose(outputs, [1, 0, 2])
        final_h = state.h if cell_type == "lstm" else state
        one = tf.placeholder(tf.float64, [1, None, 2], name="one")
        steps = [one[:, t] for t in range(5)]
        with tf.variable_scope("rnn", reuse=True):  # the same weights, unrolled per length
            alone = [tf.nn.static_rnn(cell, steps[:n], dtype=tf.float64) for n in range(1, 6)]
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            got, got_h = sess.run([outputs, final_h], {x: X, lengths: LENGTHS})
            for b, n in enumerate(LENGTHS):
                outs, last = sess.run(alone[n - 1], {one: X[b:b + 1]})
                h = last.h if cell_type == "lstm" else last
                np.testing.assert_allclose(got[b, :n], np.concatenate(outs), rtol=1e-12,
                                           atol=1e-15)
                np.testing.assert_array_equal(got[b, n:], 0.0)  # zero past the length
                np.testing.assert_allclose(got_h[b], h[0], rtol=1e-12, atol=1e-15)  # carried


def test_dynamic_rnn_gradient_matches_the_masked_unrolled_graph_and_finite_differences():
    with tf.Graph().as_default():
        cell = tf.nn.rnn_cell.BasicRNNCell(3)
        x = tf.placeholder(tf.float64, [3, 5, 2], name="x")
        lengths = tf.constant(LENGTHS)
        outputs, state = tf.nn.dynamic_rnn(cell, x, sequence_length=lengths, dtype=tf.float64)
        loss = tf.reduce_sum(outputs * outputs) + tf.reduce_sum(tf.sin(state))
        kernel, bias = tf.trainable_variables()
        with tf.variable_scope("rnn", reuse=True):  # TF1's masked update, unrolled by hand
            h = tf.zeros([3, 3], tf.float64)
            total = tf.constant(0.0, tf.float64)
            for t in range(5):
                new, _ = cell(x[:, t], h)
                alive = tf.cast(tf.less(t, lengths), tf.float64)[:, None]
                total += tf.reduce_sum((new * alive) ** 2)
                h = new * alive + h * (1.0 - alive)
            unrolled = total + tf.reduce_sum(tf.sin(h))
        grads = tf.gradients(loss, [kernel, bias, x])
        expected = tf.gradients(unrolled, [kernel, bias, x])
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            got, want = sess.run([grads, expected], {x: X})
            for a, b in zip(got, want, strict=True):
                np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
            w = sess.run(kernel)
            eps, direction = 1e-6, rng.normal(size=w.shape)
            values = []
            for sign in (1, -1):
                values.append(sess.run(loss, {x: X, kernel: w + sign * eps * direction}))
            numeric = (values[0] - values[1]) / (2 * eps)
            assert np.sum(got[0] * direction) == pytest.approx(numeric, rel=1e-9, abs=1e-9)


def test_long_sentences_compile_once_and_saved_memory_grows_with_the_iterations_run():
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [32, 400, 8], name="x")
        lengths = tf.placeholder(tf.int32, [32], name="lengths")
        outputs, state = tf.nn.dynamic_rnn(tf.nn.rnn_cell.BasicRNNCell(64), x,
                                           sequence_length=lengths, dtype=tf.float32)
        loss = tf.reduce_sum(state)
        train = tf.train.GradientDescentOptimizer(0.01).minimize(loss)
        data = np.ones((32, 400, 8), np.float32)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            peaks, before = [], sess.compile_count
            for longest in (100, 400):
                feed = {x: data, lengths: np.full(32, longest, np.int32)}
                sess.run(train, feed)  # compiled on the first length only
                tracemalloc.start()
                sess.run(train, feed)
                peaks.append(tracemalloc.get_traced_memory()[1])
                tracemalloc.stop()
            assert sess.compile_count == before + 1  # one program for both lengths
    # the saved hidden states alone: 32 x 64 float32 per iteration run (8 KiB)
    assert peaks[1] - peaks[0] >= 300 * 32 * 64 * 4


def test_scan_foldl_and_a_tensor_array_in_a_loop():
    with tf.Graph().as_default():
        xs = tf.placeholder(tf.float64, [None, 2], name="xs")
        running = tf.scan(lambda a, x: a * 0.5 + x, xs, initializer=tf.zeros([2], tf.float64))
        folded = tf.foldl(lambda a, x: a + tf.reduce_sum(x), xs,
                          initializer=tf.constant(0.0, tf.float64))
        ta = tf.TensorArray(tf.float64, size=3).unstack(xs[:3])
        read = ta.read(tf.constant(2))
        (dx,) = tf.gradients(tf.reduce_sum(running), [xs])
        data = np.arange(8.0).reshape(4, 2)
        got = tf.Session().run([running, folded, read, ta.size(), dx], {xs: data})
    expected, a = [], np.zeros(2)
    for row in data:
        a = a * 0.5 + row
        expected.append(a)
    np.testing.assert_allclose(got[0], expected)
    assert got[1] == data.sum() and got[3] == 3
    np.testing.assert_array_equal(got[2], data[2])
    # d sum_t a_t / d x_s = sum_{t >= s} 0.5^(t-s)
    np.testing.assert_allclose(got[4][:, 0], [1.875, 1.75, 1.5, 1.0])
