"""tf.nn.rnn_cell.GRUCell / LSTMCell / MultiRNNCell / DropoutWrapper against TF1's
documented equations (numpy, from the cells' own variables) and variable names."""

from __future__ import annotations

import numpy as np
import pytest
import tapeflow.static as tf


def _sig(x):
    return 1 / (1 + np.exp(-x))


def _gru(x, h, v):
    gates = _sig(np.concatenate([x, h], 1) @ v["gates/kernel"] + v["gates/bias"])
    r, u = np.split(gates, 2, axis=1)
    c = np.tanh(np.concatenate([x, r * h], 1) @ v["candidate/kernel"] + v["candidate/bias"])
    return u * h + (1 - u) * c


def test_gru_cell_follows_tf1_equations() -> None:
    rng = np.random.default_rng(0)
    x, h = rng.standard_normal((2, 3)), rng.standard_normal((2, 4))
    with tf.Graph().as_default():
        cell = tf.nn.rnn_cell.GRUCell(4)
        out, state = cell(tf.constant(x), tf.constant(h))
        names = [v.name for v in tf.trainable_variables()]
        (grad,) = tf.gradients(tf.reduce_sum(out), [tf.trainable_variables()[0]])
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            got, values, g = sess.run([out, tf.trainable_variables(), grad])
    assert names == ["gru_cell/gates/kernel:0", "gru_cell/gates/bias:0",
                     "gru_cell/candidate/kernel:0", "gru_cell/candidate/bias:0"]
    v = dict(zip(["gates/kernel", "gates/bias", "candidate/kernel", "candidate/bias"], values,
                 strict=True))
    np.testing.assert_array_equal(v["gates/bias"], np.ones(8))  # TF1's gate bias init
    np.testing.assert_allclose(got, _gru(x, h, v), rtol=1e-12)
    assert out is state
    eps = 1e-6  # the gradient by a central difference on one kernel entry
    plus, minus = {**v}, {**v}
    plus["gates/kernel"] = v["gates/kernel"].copy()
    minus["gates/kernel"] = v["gates/kernel"].copy()
    plus["gates/kernel"][1, 2] += eps
    minus["gates/kernel"][1, 2] -= eps
    numeric = (_gru(x, h, plus).sum() - _gru(x, h, minus).sum()) / (2 * eps)
    assert g[1, 2] == pytest.approx(numeric, rel=1e-6)


def test_lstm_cell_is_basic_lstm_under_its_own_name() -> None:
    with tf.Graph().as_default():
        x = tf.constant(np.ones((1, 2), np.float32))
        a, sa = tf.nn.rnn_cell.LSTMCell(3)(x, tf.nn.rnn_cell.LSTMStateTuple(
            tf.zeros([1, 3]), tf.zeros([1, 3])))
        assert [v.name for v in tf.trainable_variables()] == ["lstm_cell/kernel:0",
                                                              "lstm_cell/bias:0"]
        assert isinstance(sa, tf.nn.rnn_cell.LSTMStateTuple)
    with pytest.raises(NotImplementedError, match="use_peepholes"):
        tf.nn.rnn_cell.LSTMCell(3, use_peepholes=True)


def test_multi_rnn_cell_and_dropout_wrapper_in_dynamic_rnn() -> None:
    with tf.Graph().as_default():
        tf.set_random_seed(0)
        keep = tf.placeholder_with_default(1.0, []) if hasattr(
            tf, "placeholder_with_default") else tf.placeholder(tf.float32, [])
        cells = [tf.nn.rnn_cell.DropoutWrapper(tf.nn.rnn_cell.LSTMCell(4),
                                               output_keep_prob=keep),
                 tf.nn.rnn_cell.GRUCell(3)]
        stack = tf.nn.rnn_cell.MultiRNNCell(cells)
        assert stack.state_size == (tf.nn.rnn_cell.LSTMStateTuple(4, 4), 3)
        x = tf.placeholder(tf.float32, [None, 6, 2])
        out, state = tf.nn.dynamic_rnn(stack, x, dtype=tf.float32)
        names = [v.name for v in tf.trainable_variables()]
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            feed = {x: np.ones((2, 6, 2), np.float32), keep: 1.0}
            a, s = sess.run([out, state], feed)
            b = sess.run(out, feed)
            dropped = sess.run(out, {**feed, keep: 0.5})
    assert names[:2] == ["rnn/multi_rnn_cell/cell_0/lstm_cell/kernel:0",
                         "rnn/multi_rnn_cell/cell_0/lstm_cell/bias:0"]
    assert names[2] == "rnn/multi_rnn_cell/cell_1/gru_cell/gates/kernel:0"
    assert a.shape == (2, 6, 3) and isinstance(s[0], tf.nn.rnn_cell.LSTMStateTuple)
    np.testing.assert_array_equal(a, b)  # keep 1: no dropout, the same every run
    np.testing.assert_allclose(a[:, -1], s[1])
    assert not np.allclose(dropped, a)
