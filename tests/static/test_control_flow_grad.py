"""Gradients through tf.while_loop and tf.cond: against the unrolled graph and finite
differences (float64, 1e-9)."""

from __future__ import annotations

import numpy as np
import pytest
import tapeflow.static as tf
from tapeflow.static.compiler import CompileOptions

rng = np.random.default_rng(7)
W0 = rng.normal(size=(3, 3)) * 0.5
H0 = rng.normal(size=(2, 3))
X0 = rng.normal(size=(4, 2, 3))


def rnn_step(h, x, w):
    return tf.tanh(tf.matmul(h, w) + x)


def loss_and_grads(looped, options=None):
    """(loss, d loss / d w, d loss / d h0, d loss / d xs) of a 4-step tanh recurrence."""
    with tf.Graph().as_default():
        w = tf.placeholder(tf.float64, [3, 3], name="w")
        h0 = tf.placeholder(tf.float64, [2, 3], name="h0")
        xs = tf.placeholder(tf.float64, [4, 2, 3], name="xs")
        if looped:
            _, h = tf.while_loop(lambda t, h: t < 4,
                                 lambda t, h: (t + 1, rnn_step(h, tf.gather(xs, t), w)),
                                 [tf.constant(0), h0])
        else:
            h = h0
            for t in range(4):
                h = rnn_step(h, xs[t], w)
        loss = tf.reduce_sum(h * h)
        grads = tf.gradients(loss, [w, h0, xs])
        with tf.Session(options=options or CompileOptions()) as sess:
            return sess.run([loss, *grads], {w: W0, h0: H0, xs: X0})


@pytest.mark.parametrize("options", [CompileOptions(),
                                     CompileOptions(optimize=False, plan_memory=False)])
def test_loop_gradient_matches_the_unrolled_graph(options):
    looped, unrolled = loss_and_grads(True, options), loss_and_grads(False)
    for a, b in zip(looped, unrolled, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def numeric_grad(f, x, eps=1e-6):
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[i] = eps
        grad[i] = (f(x + step) - f(x - step)) / (2 * eps)
    return grad


def build_nested_with_cond():
    """A loop in a loop, with a cond in the inner body; returns (feeds, loss)."""
    a = tf.placeholder(tf.float64, [2], name="a")
    b = tf.placeholder(tf.float64, [2], name="b")

    def inner(j, v):
        v = tf.cond(tf.reduce_sum(v) > 0.0, lambda: v * b + 0.1, lambda: tf.sin(v) - b)
        return j + 1, v

    def outer(i, v):
        _, v = tf.while_loop(lambda j, v: j < 2, inner, [tf.constant(0), v])
        return i + 1, v * a

    _, v = tf.while_loop(lambda i, v: i < 3, outer, [tf.constant(0), a])
    return a, b, tf.reduce_sum(v * v)


def test_nested_loops_and_cond_inside_against_finite_differences():
    av, bv = np.array([0.7, -0.4]), np.array([0.9, 0.5])
    with tf.Graph().as_default():
        a, b, loss = build_nested_with_cond()
        da, db = tf.gradients(loss, [a, b])
        with tf.Session() as sess:
            got_a, got_b = sess.run([da, db], {a: av, b: bv})

            def f_a(x):
                return sess.run(loss, {a: x, b: bv})

            def f_b(x):
                return sess.run(loss, {a: av, b: x})

            np.testing.assert_allclose(got_a, numeric_grad(f_a, av), rtol=1e-9, atol=1e-9)
            np.testing.assert_allclose(got_b, numeric_grad(f_b, bv), rtol=1e-9, atol=1e-9)


def test_cond_gradient_takes_the_branch_that_ran():
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float64, [3], name="x")
        y = tf.cond(tf.reduce_sum(x) > 0, lambda: x * x, lambda: 3.0 * x)
        (dx,) = tf.gradients(tf.reduce_sum(y), [x])
        with tf.Session() as sess:
            np.testing.assert_array_equal(sess.run(dx, {x: [1.0, 2.0, 3.0]}), [2.0, 4.0, 6.0])
            np.testing.assert_array_equal(sess.run(dx, {x: [-1.0, -2.0, 0.0]}), [3.0] * 3)


def test_back_prop_false_stops_the_gradient():
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float64, [], name="x")
        y = tf.while_loop(lambda v: v < 10.0, lambda v: v * 2.0, [x], back_prop=False)
        assert tf.gradients(y, [x]) == [None]


def test_a_forward_only_run_saves_nothing_and_a_gradient_run_stacks_each_iteration():
    from tapeflow.runtime import Spec
    from tapeflow.static.compiler import compile as build
    from tapeflow.static.compiler.loops import body_programs

    with tf.Graph().as_default() as g:
        x = tf.placeholder(tf.float64, [5], name="x")
        _, y = tf.while_loop(lambda i, v: i < 7, lambda i, v: (i + 1, tf.sin(v)),
                             [tf.constant(0), x])
        (dx,) = tf.gradients(tf.reduce_sum(y), [x])
    spec = {x.node_id: Spec((5,), tf.float64)}
    forward = build(g.as_ir([y]), spec)
    loop = next(n for n in forward.graph.nodes if n.op == "while")
    assert loop.attrs["save"] is None
    backward = build(g.as_ir([dx]), spec)
    loop = next(n for n in backward.graph.nodes if n.op == "while" and n.attrs["save"])
    assert loop.attrs["save"] == (1,)  # sin's gradient reads v; the counter is not kept
    values, _ = backward.run({x.node_id: np.linspace(0, 1, 5)}, {})
    np.testing.assert_allclose(values[0], np.prod([np.cos(v) for v in _iterates()], axis=0),
                               rtol=1e-12)
    # each body compiled once, for all 7 iterations
    assert [len(p.programs) for p in body_programs(backward.graph)] == [1, 1, 1, 1]


def _iterates():
    v = np.linspace(0, 1, 5)
    for _ in range(7):
        yield v
        v = np.sin(v)
