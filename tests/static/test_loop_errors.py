"""A loop body's failures name the body node, its op and the shapes, as a failing kernel
of the outer graph does: the rows the loop runner slices and sums itself (loop_errors.py),
a kernel of the compiled step, and a shape rule that refuses a body's shapes."""

from __future__ import annotations

import numpy as np
import pytest
import tapeflow.static as tf
from tapeflow.static.sources import call


def _message(fetch, feeds) -> str:
    with tf.Session() as sess:
        with pytest.raises(tf.errors.InvalidArgumentError) as info:
            sess.run(fetch, feeds)
    return str(info.value)


def _rows_loop(gradient: bool):
    """h = tanh(x[t] @ w + h) for t < n: (x, n, the fetch)."""
    x = tf.placeholder(tf.float64, [None, 2], name="x")
    n = tf.placeholder(tf.int32, [], name="n")
    w = tf.constant(np.full((2, 2), 0.5))

    def body(t, h):
        row = tf.reshape(tf.gather(x, t, name="row"), [1, 2])
        return t + 1, tf.tanh(tf.matmul(row, w) + h)

    _, h = tf.while_loop(lambda t, h: t < n, body,
                         [tf.constant(0), tf.zeros([1, 2], tf.float64)], name="steps")
    return x, n, tf.gradients(tf.reduce_sum(h), [x])[0] if gradient else h


@pytest.mark.parametrize("gradient", [False, True])
@pytest.mark.parametrize("rows", [3, 0])  # (the fourth iteration fails, or the first)
def test_a_row_the_runner_slices_out_of_range_names_the_gather(gradient, rows):
    with tf.Graph().as_default():
        x, n, fetch = _rows_loop(gradient)
        message = _message(fetch, {x: np.ones((rows, 2)), n: 5})
    assert f"take: index {rows} out of range for dimension 0 with size {rows}" in message
    assert f"of shape ({rows}, 2)" in message and "body/row" in message
    assert __file__ in message and "while(" in message  # (where it was built; the loop)


def _sum_loop():
    """acc + scatter_add(t * ones, t, like) for t < n: (like, n, acc)."""
    like = tf.placeholder(tf.float64, [None, 2], name="like")
    n = tf.placeholder(tf.int32, [], name="n")

    def body(t, acc):
        row = tf.ones([2], tf.float64) * tf.cast(t, tf.float64)
        return t + 1, acc + call("scatter_add", [row, t, like], {"axis": 0}, name="spread")

    _, acc = tf.while_loop(lambda t, a: t < n, body, [tf.constant(0), tf.zeros_like(like)],
                           name="sums")
    return like, n, acc


@pytest.mark.parametrize("rows", [3, 0])
def test_a_row_the_runner_sums_out_of_range_names_the_scatter(rows):
    with tf.Graph().as_default():
        like, n, acc = _sum_loop()
        with tf.Session() as sess:  # (in range: the rows summed in place, as the kernel)
            got = sess.run(acc, {like: np.zeros((3, 2)), n: 3})
        np.testing.assert_array_equal(got, [[0, 0], [1, 1], [2, 2]])
        message = _message(acc, {like: np.zeros((rows, 2)), n: 5})
    assert (f"scatter_add: index {rows} out of range for dimension 0 with size {rows}: a row "
            f"of shape (2,) added to a sum of shape ({rows}, 2)") in message
    assert "body/spread" in message and __file__ in message


def test_a_failing_kernel_of_the_step_names_its_node():
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float64, [None, 2], name="x")
        _, h = tf.while_loop(  # (an index the loop computes: the step's own take reads it)
            lambda t, h: t < 3,
            lambda t, h: (t + 1, h + tf.gather(x, t * 2, name="far")),
            [tf.constant(0), tf.zeros([2], tf.float64)], name="skips")
        message = _message(h, {x: np.ones((3, 2))})
    assert "take: index out of range for dimension 0 with size 3" in message
    assert "body/far" in message and __file__ in message


def test_a_body_shape_rule_that_fails_names_the_body_node_and_its_shapes():
    with tf.Graph().as_default():
        w = tf.placeholder(tf.float64, [None, None], name="w")
        _, h = tf.while_loop(lambda t, h: t < 3,
                             lambda t, h: (t + 1, tf.matmul(h, w, name="mix")),
                             [tf.constant(0), tf.ones([1, 2], tf.float64)], name="loop")
        message = _message(h, {w: np.ones((3, 2))})
    assert "matmul: inner dimensions differ: shapes (1, 2) and (3, 2)" in message
    assert "node 'body/mix' of body 'body' with input shapes (1, 2), (3, 2)" in message
    assert __file__ in message
