"""``tf.nn.dropout``: a fresh mask every run, of whatever batch size is fed, keep_prob as a
placeholder (1.0 turns it off), TF1's scaling, and the gradient through the kept elements.
"""

from __future__ import annotations

import numpy as np
import pytest
import tapeflow.static as tf


def graph_with_dropout(**kwargs: object) -> tuple[tf.Graph, tf.Tensor, tf.Tensor, tf.Tensor,
                                                   tf.Tensor]:
    graph = tf.Graph()
    with graph.as_default():
        keep = tf.placeholder(tf.float64, [], name="keep")
        x = tf.placeholder(tf.float64, [None, 500], name="x")
        y = tf.nn.dropout(x, keep, seed=7, **kwargs)  # type: ignore[arg-type]
        (grad,) = tf.gradients(tf.reduce_sum(y), [x])
    return graph, keep, x, y, grad


def test_masks_scale_and_change_every_run_for_any_batch() -> None:
    graph, keep, x, y, grad = graph_with_dropout()
    with tf.Session(graph=graph) as sess:
        first, g = sess.run([y, grad], {x: np.ones((8, 500)), keep: 0.6})
        second = sess.run(y, {x: np.ones((8, 500)), keep: 0.6})
        small = sess.run(y, {x: np.ones((2, 500)), keep: 0.6})
        off = sess.run(y, {x: np.full((3, 500), 2.0), keep: 1.0})
    assert set(np.unique(first).tolist()) == {0.0, 1 / 0.6}
    assert abs((first > 0).mean() - 0.6) < 0.03 and abs(first.mean() - 1.0) < 0.05
    assert not np.array_equal(first, second) and small.shape == (2, 500)
    np.testing.assert_array_equal(off, np.full((3, 500), 2.0))
    np.testing.assert_array_equal(g, first)  # d(sum)/dx = mask / keep_prob, here = y


def test_rate_form_and_constant_keep_prob() -> None:
    with tf.Graph().as_default():
        x = tf.ones([1000], tf.float32)
        by_rate = tf.nn.dropout(x, rate=0.25, seed=1)
        by_keep = tf.nn.dropout(x, keep_prob=0.75, seed=1)
        a, b = tf.Session().run([by_rate, by_keep])
    for values in (a, b):
        assert values.dtype == np.float32 and abs((values > 0).mean() - 0.75) < 0.05
        np.testing.assert_allclose(np.unique(values), [0.0, 1 / 0.75], rtol=1e-6)


def test_bad_arguments_are_named() -> None:
    with tf.Graph().as_default():
        x = tf.ones([4])
        with pytest.raises(ValueError, match="exactly one of keep_prob and rate"):
            tf.nn.dropout(x, keep_prob=0.5, rate=0.5)
        with pytest.raises(ValueError, match=r"range \(0, 1\], got 1.5"):
            tf.nn.dropout(x, keep_prob=1.5)
        with pytest.raises(NotImplementedError, match="noise_shape"):
            tf.nn.dropout(x, keep_prob=0.5, noise_shape=[1])
        with pytest.raises(ValueError, match="floating point"):
            tf.nn.dropout(tf.ones([4], tf.int32), keep_prob=0.5)


def test_an_mlp_with_dropout_still_learns() -> None:
    rng = np.random.default_rng(0)
    points = rng.standard_normal((256, 2))
    labels = (points[:, :1] * points[:, 1:] > 0).astype(np.float64)  # quadrants: XOR-like
    with tf.Graph().as_default():
        tf.set_random_seed(0)
        x = tf.placeholder(tf.float64, [None, 2])
        y = tf.placeholder(tf.float64, [None, 1])
        keep = tf.placeholder(tf.float64, [])
        hidden = tf.nn.dropout(tf.layers.dense(x, 32, activation=tf.nn.relu), keep)
        logits = tf.layers.dense(hidden, 1)
        loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=logits))
        train = tf.train.AdamOptimizer(0.02).minimize(loss)
        accuracy = tf.reduce_mean(tf.cast(tf.equal(tf.cast(logits > 0, tf.float64), y),
                                          tf.float64))
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            for _ in range(300):
                sess.run(train, {x: points, y: labels, keep: 0.8})
            acc = sess.run(accuracy, {x: points, y: labels, keep: 1.0})
    assert acc > 0.9
