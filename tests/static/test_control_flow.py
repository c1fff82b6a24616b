"""tf.while_loop and tf.cond: tracing, TF1's errors, and running through every Program kind."""

from __future__ import annotations

import sys
from collections import namedtuple

import numpy as np
import pytest
import tapeflow.static as tf
from tapeflow.graphs import IRError, verify
from tapeflow.static.compiler import CompileOptions

MODES = {
    "compiled": CompileOptions(),
    "interpreted": CompileOptions(optimize=False, plan_memory=False),
    "numerics": CompileOptions(check_numerics=True),
}


def run(fetches, feed=None, options=None):
    with tf.Session(options=options or CompileOptions()) as sess:
        return sess.run(fetches, feed)


@pytest.mark.parametrize("mode", list(MODES))
def test_counting_loop_with_a_captured_placeholder(mode):
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float64, [None], name="x")
        i, acc = tf.while_loop(lambda i, acc: i < 5, lambda i, acc: (i + 1, acc * 2.0 + x),
                               [tf.constant(0), tf.zeros_like(x)])
        got_i, got = run([i, acc], {x: np.array([1.0, -2.0])}, MODES[mode])
    assert got_i == 5
    np.testing.assert_allclose(got, np.array([31.0, -62.0]))  # sum of 2^k, k < 5


def test_nested_loop_vars_keep_their_structure():
    Pair = namedtuple("Pair", ["a", "b"])
    with tf.Graph().as_default():
        start = {"n": tf.constant(0), "p": Pair(tf.constant(1.0), tf.constant(2.0))}
        out = tf.while_loop(lambda s: s["n"] < 3,
                            lambda s: {"n": s["n"] + 1,
                                       "p": Pair(s["p"].b, s["p"].a + s["p"].b)}, [start])
        assert isinstance(out["p"], Pair)
        n, a, b = run([out["n"], out["p"].a, out["p"].b])
    assert (n, a, b) == (3, 5.0, 8.0)  # Fibonacci steps


def _depth() -> int:
    frame, depth = sys._getframe(), 0
    while frame is not None:
        frame, depth = frame.f_back, depth + 1
    return depth


def test_ten_thousand_iterations_without_recursion():
    # forward and reverse loops, compiled and run under a recursion limit of 200 frames
    # above this test's own: far fewer than the iterations, so no frame per iteration
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float64, [], name="x")
        i, y = tf.while_loop(lambda i, y: i < 10_000, lambda i, y: (i + 1, y * 1.0001),
                             [tf.constant(0), x])
        (dx,) = tf.gradients(y, [x])
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(_depth() + 200)
        try:
            got_i, got_y, got_dx = run([i, y, dx], {x: 2.0})
        finally:
            sys.setrecursionlimit(limit)
    assert got_i == 10_000
    assert got_dx == pytest.approx(1.0001 ** 10_000, rel=1e-9)
    assert got_y == pytest.approx(2.0 * 1.0001 ** 10_000, rel=1e-9)


def test_maximum_iterations_and_zero_iterations():
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [2], name="x")
        capped = tf.while_loop(lambda v: tf.constant(True), lambda v: v + 1.0, [x],
                               maximum_iterations=4)
        never = tf.while_loop(lambda v: tf.constant(False), lambda v: v + 1.0, [x])
        doubled = never * 2.0  # a result handed back untouched must not alias the feed
        feed = np.array([1.0, 2.0], np.float32)
        got = run([capped, never, doubled], {x: feed})
    np.testing.assert_array_equal(got[0], [5.0, 6.0])
    np.testing.assert_array_equal(got[1], [1.0, 2.0])
    np.testing.assert_array_equal(feed, [1.0, 2.0])


def test_a_loop_inside_a_loop_captures_level_by_level():
    with tf.Graph().as_default():
        step = tf.placeholder(tf.float64, [], name="step")

        def outer_body(i, total):
            inner = tf.while_loop(lambda j, t: j < i, lambda j, t: (j + 1, t + step),
                                  [tf.constant(0), total])
            return i + 1, inner[1]

        _, total = tf.while_loop(lambda i, t: i < 4, outer_body,
                                 [tf.constant(0), tf.constant(0.0, tf.float64)])
        assert run(total, {step: 0.5}) == pytest.approx(0.5 * (0 + 1 + 2 + 3))


def test_a_growing_loop_variable_with_a_relaxed_shape_invariant():
    with tf.Graph().as_default():
        i, xs = tf.while_loop(lambda i, xs: i < 3,
                              lambda i, xs: (i + 1, tf.concat([xs, tf.cast([i], tf.float32)], 0)),
                              [tf.constant(0), tf.zeros([1])],
                              shape_invariants=[tf.TensorShape([]), tf.TensorShape([None])])
        assert xs.shape.as_list() == [None]
        np.testing.assert_array_equal(run(xs), [0.0, 0.0, 1.0, 2.0])


def test_tf1_errors_for_loop_variables_that_change():
    with tf.Graph().as_default():
        with pytest.raises(ValueError, match="enters the loop with shape \\(1,\\), but has "
                                             "shape \\(2,\\) after one iteration"):
            tf.while_loop(lambda x: tf.constant(True), lambda x: tf.concat([x, x], 0),
                          [tf.zeros([1])])
        with pytest.raises(TypeError, match="enters the loop with type <dtype: 'int32'>, but "
                                            "has type <dtype: 'float32'>"):
            tf.while_loop(lambda i: i < 3, lambda i: tf.cast(i, tf.float32), [tf.constant(0)])
        with pytest.raises(TypeError, match="cond must return one boolean scalar"):
            tf.while_loop(lambda i: i, lambda i: i, [tf.constant(0)])


@pytest.mark.parametrize("mode", list(MODES))
def test_cond_runs_the_branch_the_predicate_picks(mode):
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float64, [3], name="x")
        y = tf.cond(tf.reduce_sum(x) > 0, lambda: (x * 2.0, x[0]), lambda: (-x, x[1]))
        pos = run(list(y), {x: np.array([1.0, 2.0, 3.0])}, MODES[mode])
        neg = run(list(y), {x: np.array([-1.0, -2.0, 0.0])}, MODES[mode])
    np.testing.assert_array_equal(pos[0], [2.0, 4.0, 6.0])
    assert pos[1] == 1.0
    np.testing.assert_array_equal(neg[0], [1.0, 2.0, -0.0])
    assert neg[1] == -2.0


def test_cond_inside_a_loop():
    with tf.Graph().as_default():
        def body(i, acc):  # add one for three steps, then double for three
            return i + 1, tf.cond(i < 3, lambda: acc + 1.0, lambda: acc * 2.0)

        _, acc = tf.while_loop(lambda i, acc: i < 6, body, [tf.constant(0), tf.constant(0.0)])
        assert run(acc) == 24.0


def test_cond_errors_name_the_mismatch():
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [], name="x")
        with pytest.raises(ValueError, match="same number, type, and overall structure"):
            tf.cond(x > 0, lambda: (x, x), lambda: x)
        with pytest.raises(ValueError, match="must have the same type: float32, int32"):
            tf.cond(x > 0, lambda: x, lambda: tf.constant(1))
        with pytest.raises(TypeError, match="pred must not be a Python bool"):
            tf.cond(True, lambda: x, lambda: x)


def test_variables_read_in_a_body_are_captured_and_bodies_verify():
    with tf.Graph().as_default() as g:
        w = tf.Variable(np.float64(3.0), name="w")
        out = tf.while_loop(lambda v: v < 100.0, lambda v: v * w, [tf.constant(1.0, tf.float64)])
        verify(g.as_ir([out]))
        node = g.node(out.op.inputs[0].node_id)
        assert node.op == "while" and node.inputs[-1] == w.node_id
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            assert sess.run(out) == 243.0
        with pytest.raises(ValueError, match="create variables before the loop"):
            tf.while_loop(lambda v: v < 1.0, lambda v: v + tf.Variable(1.0), [tf.constant(0.0)])


def test_verify_checks_body_signatures():
    with tf.Graph().as_default() as g:
        out = tf.while_loop(lambda v: v < 10.0, lambda v: v + 1.0, [tf.constant(0.0)])
    graph = g.as_ir([out])
    loop = next(n for n in graph.nodes if n.op == "while")
    body = loop.attrs["body"]
    wrong = type(body)(body.graph, body.params + body.params, "body")
    broken = [n.with_(attrs={**n.attrs, "body": wrong}) if n.id == loop.id else n
              for n in graph.nodes]
    with pytest.raises(IRError, match="body 'body' takes 2 inputs, the node gives 1"):
        verify(type(graph)(tuple(broken), graph.outputs))
