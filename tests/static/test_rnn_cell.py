"""``tf.nn.rnn_cell`` (BasicRNNCell, BasicLSTMCell), ``tf.nn.static_rnn`` and
``tf.nn.dynamic_rnn`` (a ``tf.while_loop``): TF1's equations and variable names, one set of
weights for every step, batches of any size, and agreement with the dynamic mode's
``nn.LSTM``.
"""

from __future__ import annotations

import numpy as np
import pytest
import tapeflow.dynamic as torch
import tapeflow.static as tf

RNG = np.random.default_rng(0)
X = RNG.standard_normal((3, 4, 2))  # (batch, time, depth)
#: float64 results reached by different BLAS paths (a batch of 1 or 3) differ by an ulp or
#: two of 1 in absolute terms; relative to an output near zero that is far above 1e-12
ULPS = 1e-15


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def test_basic_rnn_cell_unrolls_with_one_set_of_weights() -> None:
    # Seeded: unseeded, the glorot draw changed every run, and about one draw in a thousand
    # put an output within 1e-4 of zero, where the batch-of-1 run (BLAS's matrix-vector path)
    # and the batch-of-3 run differ by one ulp (1.1e-16) -- a relative error above 1e-12, so
    # an rtol-only comparison failed now and then. Seed 2184 is such a draw (found by search;
    # it fails the old rtol-only check on this machine), so the tolerance below is exercised.
    with tf.Graph().as_default():
        tf.set_random_seed(2184)
        x = tf.placeholder(tf.float64, [None, 4, 2])
        outputs, state = tf.nn.dynamic_rnn(tf.nn.rnn_cell.BasicRNNCell(5), x, dtype=tf.float64)
        variables = tf.trainable_variables()
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            kernel, bias = sess.run(variables)
            got, final = sess.run([outputs, state], {x: X})
            small = sess.run(outputs, {x: X[:1]})  # another batch size, same graph
    assert [v.name for v in variables] == ["rnn/basic_rnn_cell/kernel:0",
                                           "rnn/basic_rnn_cell/bias:0"]
    h = np.zeros((3, 5))
    for t in range(4):
        h = np.tanh(np.concatenate([X[:, t], h], 1) @ kernel + bias)
        np.testing.assert_allclose(got[:, t], h, rtol=1e-12, atol=ULPS)
    np.testing.assert_allclose(final, h, rtol=1e-12, atol=ULPS)
    np.testing.assert_allclose(small, got[:1], rtol=1e-12, atol=ULPS)


def test_basic_lstm_cell_follows_tf1s_gates_and_forget_bias() -> None:
    with tf.Graph().as_default():
        cell = tf.nn.rnn_cell.BasicLSTMCell(3, forget_bias=0.5)
        steps = [tf.constant(X[:, t]) for t in range(4)]
        outputs, state = tf.nn.static_rnn(cell, steps, dtype=tf.float64, scope="lstm")
        assert isinstance(state, tf.nn.rnn_cell.LSTMStateTuple)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            kernel, bias = sess.run(tf.trainable_variables())
            got, (c_final, h_final) = sess.run([outputs, state])
    assert kernel.shape == (2 + 3, 12)
    c, h = np.zeros((3, 3)), np.zeros((3, 3))
    for t in range(4):
        i, j, f, o = np.split(np.concatenate([X[:, t], h], 1) @ kernel + bias, 4, axis=1)
        c = c * sigmoid(f + 0.5) + sigmoid(i) * np.tanh(j)
        h = np.tanh(c) * sigmoid(o)
        np.testing.assert_allclose(got[t], h, rtol=1e-12)
    np.testing.assert_allclose(c_final, c, rtol=1e-12)
    np.testing.assert_allclose(h_final, h, rtol=1e-12)


def test_the_static_lstm_equals_the_dynamic_nn_lstm_with_mapped_weights() -> None:
    # TF1 packs [x, h] -> (i, j, f, o) in one kernel; PyTorch packs (i, f, g, o) per input
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float64, [3, 4, 2])
        outputs, _ = tf.nn.dynamic_rnn(tf.nn.rnn_cell.BasicLSTMCell(3, forget_bias=0.0), x,
                                       dtype=tf.float64, time_major=False)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            kernel, bias = sess.run(tf.trainable_variables())
            static = sess.run(outputs, {x: X})
    order = np.concatenate([np.arange(0, 3), np.arange(6, 9), np.arange(3, 6), np.arange(9, 12)])
    lstm = torch.nn.LSTM(2, 3, batch_first=True).double()
    lstm.load_state_dict({"weight_ih_l0": torch.tensor(kernel[:2, order].T.copy()),
                          "weight_hh_l0": torch.tensor(kernel[2:, order].T.copy()),
                          "bias_ih_l0": torch.tensor(bias[order].copy()),
                          "bias_hh_l0": torch.zeros(12, dtype=torch.float64)})
    dynamic, _ = lstm(torch.tensor(X))
    np.testing.assert_allclose(static, dynamic.detach().numpy(), rtol=1e-12, atol=1e-15)


def test_refusals_are_clear() -> None:
    with tf.Graph().as_default():
        cell = tf.nn.rnn_cell.BasicRNNCell(2)
        # (dynamic_rnn takes sequence_length and unknown lengths: tests/static/test_dynamic_rnn.py)
        with pytest.raises(ValueError, match="you must give a dtype"):
            tf.nn.dynamic_rnn(cell, tf.zeros([2, 3, 1]))
        with pytest.raises(ValueError, match="dtype must be specified"):
            tf.nn.static_rnn(cell, [tf.zeros([2, 1])])
        with pytest.raises(NotImplementedError, match="cells implemented: BasicRNNCell"):
            _ = tf.nn.rnn_cell.ResidualWrapper


def test_a_tf1_lstm_learns_to_remember_the_first_input() -> None:
    rng = np.random.default_rng(0)
    inputs = rng.standard_normal((64, 8, 1)).astype(np.float32)
    labels = (inputs[:, 0, 0] > 0).astype(np.int64)
    with tf.Graph().as_default():
        tf.set_random_seed(0)
        x = tf.placeholder(tf.float32, [None, 8, 1])
        y = tf.placeholder(tf.int64, [None])
        _, state = tf.nn.dynamic_rnn(tf.nn.rnn_cell.BasicLSTMCell(16), x, dtype=tf.float32)
        logits = tf.layers.dense(state.h, 2)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y,
                                                                             logits=logits))
        train = tf.train.AdamOptimizer(0.03).minimize(loss)
        accuracy = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(logits, 1), y), tf.float32))
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            for _ in range(80):
                sess.run(train, {x: inputs, y: labels})
            assert sess.run(accuracy, {x: inputs, y: labels}) > 0.95
