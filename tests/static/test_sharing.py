"""``tf.variable_scope`` / ``tf.get_variable``: TF1's variable sharing, and the initializers.

Covers creation, reuse (True, AUTO_REUSE, reuse_variables()), the errors TF1 raises when
sharing is asked for wrongly, naming (variables follow variable scopes; ops get a name
scope), initializers' values and seeds, and a TF1-style program that builds a layer
function twice to share its weights.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import tapeflow.static as tf


def test_create_then_share_by_reuse_and_auto_reuse() -> None:
    with tf.Graph().as_default() as g:
        with tf.variable_scope("layer"):
            w = tf.get_variable("w", [2, 3])
            b = tf.get_variable("b", [3], initializer=tf.zeros_initializer())
            product = tf.matmul(tf.ones([1, 2]), w)
        with tf.variable_scope("layer", reuse=True):
            assert tf.get_variable("w") is w and tf.get_variable("w", [2, 3]) is w
        with tf.variable_scope("layer") as scope:
            scope.reuse_variables()
            assert tf.get_variable("b") is b
        with tf.variable_scope("other", reuse=tf.AUTO_REUSE):
            first = tf.get_variable("v", [4])
        with tf.variable_scope("other", reuse=tf.AUTO_REUSE):
            assert tf.get_variable("v", [4]) is first
        assert g.get_collection(tf.GraphKeys.TRAINABLE_VARIABLES) == [w, b, first]
    assert (w.name, b.name, first.name) == ("layer/w:0", "layer/b:0", "other/v:0")
    assert product.name.startswith("layer/")  # ops get the scope's name scope


def test_nested_and_default_named_scopes() -> None:
    with tf.Graph().as_default():
        with tf.variable_scope("outer"):
            with tf.variable_scope("inner"):
                v = tf.get_variable("v", [1])
            with tf.variable_scope(None, default_name="dense"):
                d0 = tf.get_variable("kernel", [1])
            with tf.variable_scope(None, default_name="dense"):
                d1 = tf.get_variable("kernel", [1])
            assert tf.get_variable_scope().name == "outer"
        assert tf.get_variable_scope().name == ""
    assert (v.name, d0.name, d1.name) == ("outer/inner/v:0", "outer/dense/kernel:0",
                                          "outer/dense_1/kernel:0")


def test_sharing_mistakes_raise_tf1s_errors() -> None:
    with tf.Graph().as_default():
        with tf.variable_scope("layer"):
            tf.get_variable("w", [2, 3])
            with pytest.raises(ValueError, match="Variable layer/w already exists, disallowed"):
                tf.get_variable("w", [2, 3])
        with tf.variable_scope("layer", reuse=True):
            with pytest.raises(ValueError, match="Variable layer/x does not exist"):
                tf.get_variable("x", [1])
            with pytest.raises(ValueError, match=r"specified shape \(3, 3\) and found shape "
                                                 r"\(2, 3\)"):
                tf.get_variable("w", [3, 3])
            with pytest.raises(ValueError, match="specified dtype float64 and found dtype "
                                                 "float32"):
                tf.get_variable("w", dtype=tf.float64)
        with pytest.raises(ValueError, match="must be fully defined"):
            tf.get_variable("free", [None, 2])


def test_initializers_give_their_values() -> None:
    with tf.Graph().as_default():
        tf.set_random_seed(3)
        made = {
            "zeros": tf.get_variable("zeros", [2, 2], initializer=tf.zeros_initializer()),
            "ones": tf.get_variable("ones", [3], initializer=tf.ones_initializer()),
            "const": tf.get_variable("const", [2], initializer=tf.constant_initializer(0.5)),
            "array": tf.get_variable("array", initializer=np.arange(4.0)),
            "glorot": tf.get_variable("glorot", [40, 60]),
            "normal": tf.get_variable("normal", [2000], initializer=tf.random_normal_initializer(
                1.0, 0.5, seed=1)),
            "truncated": tf.get_variable("truncated", [2000],
                                         initializer=tf.truncated_normal_initializer(stddev=2.0)),
            "uniform": tf.get_variable("uniform", [500],
                                       initializer=tf.random_uniform_initializer(-3, -2)),
            "int": tf.get_variable("int", [2], dtype=tf.int32),
        }
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            values = dict(zip(made, sess.run(list(made.values())), strict=True))
    assert values["zeros"].tolist() == [[0, 0], [0, 0]] and values["ones"].tolist() == [1] * 3
    assert values["const"].tolist() == [0.5, 0.5] and values["array"].tolist() == [0, 1, 2, 3]
    assert made["array"].dtype == tf.float64  # an array initializer keeps its dtype
    limit = math.sqrt(6 / (40 + 60))
    assert values["glorot"].dtype == np.float32 and np.abs(values["glorot"]).max() <= limit
    assert np.abs(values["glorot"]).max() > 0.9 * limit  # (draws fill the range)
    assert abs(values["normal"].mean() - 1.0) < 0.05 and abs(values["normal"].std() - 0.5) < 0.05
    assert np.abs(values["truncated"]).max() <= 4.0
    assert values["uniform"].min() >= -3 and values["uniform"].max() < -2
    assert values["int"].tolist() == [0, 0] and made["int"].dtype == tf.int32


def test_a_scope_initializer_is_the_default_inside_it() -> None:
    with tf.Graph().as_default():
        with tf.variable_scope("s", initializer=tf.constant_initializer(7.0)):
            v = tf.get_variable("v", [2])
            with tf.variable_scope("inner"):
                u = tf.get_variable("u", [1])
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            assert sess.run(v).tolist() == [7.0, 7.0] and sess.run(u).tolist() == [7.0]


def test_a_layer_function_called_twice_shares_its_weights_and_trains() -> None:
    # the TF1 idiom: build the same tower on two inputs, weights shared through the scope
    def tower(x: tf.Tensor) -> tf.Tensor:
        with tf.variable_scope("tower", reuse=tf.AUTO_REUSE):
            w = tf.get_variable("w", [2, 1], initializer=tf.random_normal_initializer(seed=0))
            b = tf.get_variable("b", [1], initializer=tf.zeros_initializer())
            return tf.matmul(x, w) + b

    rng = np.random.default_rng(0)
    a_in, b_in = rng.standard_normal((64, 2)), rng.standard_normal((64, 2))
    target = lambda v: v @ np.array([[1.5], [-2.0]]) + 0.25  # noqa: E731
    with tf.Graph().as_default():
        xa = tf.placeholder(tf.float32, [None, 2])
        xb = tf.placeholder(tf.float32, [None, 2])
        ya = tf.placeholder(tf.float32, [None, 1])
        yb = tf.placeholder(tf.float32, [None, 1])
        loss = tf.reduce_mean(tf.square(tower(xa) - ya)) + tf.reduce_mean(
            tf.square(tower(xb) - yb))
        assert len(tf.trainable_variables()) == 2
        train = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
        feed = {xa: a_in, xb: b_in, ya: target(a_in), yb: target(b_in)}
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            for _ in range(300):
                sess.run(train, feed)
            with tf.variable_scope("tower", reuse=True):
                w = sess.run(tf.get_variable("w"))
            final = sess.run(loss, feed)
    np.testing.assert_allclose(w.ravel(), [1.5, -2.0], atol=1e-3)
    assert final < 1e-5


def test_tf_layers_dense_makes_scoped_variables_and_shares_them() -> None:
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float64, [None, 3], name="x")
        h = tf.layers.dense(x, 4, activation=tf.nn.relu)
        out = tf.layers.dense(h, 2, use_bias=False, name="head")
        again = tf.layers.dense(h, 2, use_bias=False, name="head", reuse=True)
        seq = tf.placeholder(tf.float64, [2, 5, 3])
        per_step = tf.layers.dense(seq, 4, name="dense", reuse=True)  # (..., 3) inputs too
        names = [v.name for v in tf.trainable_variables()]
        with pytest.raises(ValueError, match="last dimension of the inputs to `Dense`"):
            tf.layers.dense(tf.placeholder(tf.float32, [2, None]), 3)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            kernel, bias = sess.run(tf.trainable_variables()[:2])
            xs = np.random.default_rng(0).standard_normal((6, 3))
            seqs = np.random.default_rng(1).standard_normal((2, 5, 3))
            got_h, got_out, got_again, got_seq = sess.run(
                [h, out, again, per_step], {x: xs, seq: seqs})
    assert names == ["dense/kernel:0", "dense/bias:0", "head/kernel:0"]
    assert h.shape.as_list() == [None, 4] and out.shape.as_list() == [None, 2]
    np.testing.assert_allclose(got_h, np.maximum(xs @ kernel + bias, 0), rtol=1e-12)
    np.testing.assert_array_equal(got_out, got_again)
    np.testing.assert_allclose(got_seq, seqs @ kernel + bias, rtol=1e-12)


def test_a_tf_layers_mlp_learns_xor() -> None:
    inputs = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
    targets = np.array([[0], [1], [1], [0]], np.float32)
    with tf.Graph().as_default():
        tf.set_random_seed(0)
        x = tf.placeholder(tf.float32, [None, 2])
        y = tf.placeholder(tf.float32, [None, 1])
        hidden = tf.layers.dense(x, 8, activation=tf.nn.tanh)
        logits = tf.layers.dense(hidden, 1)
        loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=logits))
        train = tf.train.AdamOptimizer(0.05).minimize(loss)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            for _ in range(300):
                sess.run(train, {x: inputs, y: targets})
            predicted = sess.run(logits, {x: inputs}) > 0
    assert predicted.ravel().tolist() == [False, True, True, False]
