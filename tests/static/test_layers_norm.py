"""tf.layers.batch_normalization against TF1's documented behaviour: batch statistics and
UPDATE_OPS in training (moving = moving * momentum + batch * (1 - momentum)), moving
statistics otherwise, training as a bool or a fed boolean tensor."""

from __future__ import annotations

import numpy as np
import tapeflow.static as tf


def test_batch_normalization_trains_and_infers_as_tf1() -> None:
    rng = np.random.default_rng(0)
    batches = [rng.standard_normal((16, 3)) * 3 + 2 for _ in range(3)]
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float64, [None, 3])
        training = tf.placeholder(tf.bool, [])
        y = tf.layers.batch_normalization(x, momentum=0.9, training=training)
        loss = tf.reduce_sum(y * y)
        update_ops = tf.get_collection(tf.GraphKeys.UPDATE_OPS)
        with tf.control_dependencies(update_ops):
            step = tf.train.GradientDescentOptimizer(0.0).minimize(loss)
        names = [v.name for v in tf.global_variables()]
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            outs = [sess.run([y, step], {x: b, training: True})[0] for b in batches]
            moving = sess.run(tf.global_variables()[2:])
            inferred = sess.run(y, {x: batches[0], training: False})
    assert names == ["batch_normalization/gamma:0", "batch_normalization/beta:0",
                     "batch_normalization/moving_mean:0",
                     "batch_normalization/moving_variance:0"]
    mean, var = np.zeros(3), np.ones(3)
    for b, out in zip(batches, outs, strict=True):
        expected = (b - b.mean(0)) / np.sqrt(b.var(0) + 1e-3)
        np.testing.assert_allclose(out, expected, rtol=1e-10)
        mean = mean * 0.9 + b.mean(0) * 0.1
        var = var * 0.9 + b.var(0) * 0.1
    np.testing.assert_allclose(moving[0], mean, rtol=1e-10)
    np.testing.assert_allclose(moving[1], var, rtol=1e-10)
    np.testing.assert_allclose(inferred, (batches[0] - mean) / np.sqrt(var + 1e-3),
                               rtol=1e-10)


def test_python_bool_training_and_layer_names() -> None:
    with tf.Graph().as_default():
        x = tf.constant(np.arange(6.0).reshape(3, 2))
        a = tf.layers.batch_normalization(x, training=True)
        b = tf.layers.batch_normalization(x)  # inference: moving stats 0 and 1
        assert len(tf.get_collection(tf.GraphKeys.UPDATE_OPS)) == 2
        assert [v.name for v in tf.trainable_variables()][2] == "batch_normalization_1/gamma:0"
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            got_a, got_b = sess.run([a, b])
    np.testing.assert_allclose(got_a.mean(0), 0.0, atol=1e-12)
    np.testing.assert_allclose(got_b, np.arange(6.0).reshape(3, 2) / np.sqrt(1 + 1e-3))
