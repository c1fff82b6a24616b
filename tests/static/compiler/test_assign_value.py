"""An assign's result read by another op: TF1 gives the new value (``v.assign_add(1.) * 2``).

The compiled schedule once named the assign node itself (``NameError: name 'v5' is not
defined``); each case runs compiled with the memory plan and the passes on and off, and
interpreted.
"""

from __future__ import annotations

import numpy as np
import pytest
import tapeflow.static as tf
from tapeflow.static.compiler import CompileOptions

OPTIONS = {
    "planned": CompileOptions(),
    "unoptimized": CompileOptions(optimize=False),
    "unplanned": CompileOptions(plan_memory=False),
    "interpreted": CompileOptions(optimize=False, plan_memory=False),
}


@pytest.fixture(autouse=True)
def fresh_graph():
    tf.reset_default_graph()
    yield


@pytest.mark.parametrize("options", OPTIONS.values(), ids=OPTIONS.keys())
def test_an_op_on_assign_add_reads_the_new_value(options):
    v = tf.Variable(1.0)
    doubled = v.assign_add(1.0) * 2
    with tf.Session(options=options) as sess:
        sess.run(tf.global_variables_initializer())
        assert sess.run(doubled) == 4.0
        assert sess.run(doubled) == 6.0
        assert sess.run(v) == 3.0


@pytest.mark.parametrize("options", OPTIONS.values(), ids=OPTIONS.keys())
def test_an_op_on_assign_of_a_feed_reads_the_fed_value(options):
    v = tf.Variable(np.zeros((2, 3), np.float32))
    x = tf.placeholder(tf.float32, [2, 3])
    plus_one = tf.reduce_sum(v.assign(x) + 1, axis=0)
    with tf.Session(options=options) as sess:
        sess.run(tf.global_variables_initializer())
        fed = np.arange(6, dtype=np.float32).reshape(2, 3)
        np.testing.assert_array_equal(sess.run(plus_one, {x: fed}), fed.sum(0) + 2)
        np.testing.assert_array_equal(sess.run(v), fed)


@pytest.mark.parametrize("options", OPTIONS.values(), ids=OPTIONS.keys())
def test_a_training_step_reads_the_updated_weights(options):
    # the loss after the step, computed from the assign's value in the same run
    x = tf.constant(np.arange(12, dtype=np.float32).reshape(4, 3) / 10)
    w = tf.Variable(np.ones((3, 2), np.float32))
    loss = tf.reduce_sum(tf.matmul(x, w) ** 2)
    grad, = tf.gradients(loss, [w])
    new_w = w.assign_sub(0.01 * grad)
    loss_after = tf.reduce_sum(tf.matmul(x, new_w) ** 2)
    step = tf.train.get_or_create_global_step()
    count = step.assign_add(1) + 0
    with tf.Session(options=options) as sess:
        sess.run(tf.global_variables_initializer())
        before, after, counted = sess.run([loss, loss_after, count])
        xs = np.arange(12, dtype=np.float64).reshape(4, 3) / 10
        w1 = 1 - 0.01 * 2 * xs.T @ (xs @ np.ones((3, 2)))
        np.testing.assert_allclose(before, ((xs @ np.ones((3, 2))) ** 2).sum(), rtol=1e-5)
        np.testing.assert_allclose(after, ((xs @ w1) ** 2).sum(), rtol=1e-5)
        np.testing.assert_allclose(sess.run(w), w1, rtol=1e-5)
        assert counted == 1 and after < before
