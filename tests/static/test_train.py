"""Static mode, ``tf.train``: optimizers against numpy references, and the TF1 XOR tutorial."""

from __future__ import annotations

import numpy as np
import pytest
import tapeflow.static as tf
from tapeflow.graphs import verify

rng = np.random.default_rng(3)


@pytest.fixture(autouse=True)
def fresh_graph():
    tf.reset_default_graph()
    yield


def _quadratic(optimizer, steps=4, **minimize):
    """Minimises sum((w * x - 1)^2) + sum(b^2) in float64; returns the weights after each step."""
    x_value = rng.standard_normal(3)
    w = tf.Variable(np.array([0.5, -1.0, 2.0]), name="w")
    b = tf.Variable(np.array(0.3), name="b")
    x = tf.placeholder(tf.float64, [3], name="x")
    loss = tf.reduce_sum(tf.square(w * x - 1.0)) + tf.square(b)
    train_op = optimizer.minimize(loss, **minimize)
    history = []
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(steps):
            assert sess.run(train_op, {x: x_value}) is None
            history.append(sess.run([w, b]))
        extra = sess.run(minimize["global_step"]) if "global_step" in minimize else None
    return x_value, history, extra


def _reference(x_value, steps, update):
    w, b = np.array([0.5, -1.0, 2.0]), np.array(0.3)
    state: dict = {}
    history = []
    for t in range(1, steps + 1):
        gw = 2.0 * (w * x_value - 1.0) * x_value
        gb = 2.0 * b
        w = update("w", w, gw, t, state)
        b = update("b", b, gb, t, state)
        history.append([w, b])
    return history


def _assert_close(history, reference):
    for got, want in zip(history, reference, strict=True):
        for g, wv in zip(got, want, strict=True):
            np.testing.assert_allclose(g, wv, rtol=0, atol=1e-12)


def test_gradient_descent_matches_numpy_and_bumps_global_step():
    step = tf.train.get_or_create_global_step()
    x_value, history, final_step = _quadratic(tf.train.GradientDescentOptimizer(0.1),
                                              global_step=step)
    _assert_close(history, _reference(x_value, 4, lambda k, p, g, t, s: p - 0.1 * g))
    assert final_step == 4 and step.dtype == tf.int64


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_matches_numpy(nesterov):
    x_value, history, _ = _quadratic(tf.train.MomentumOptimizer(0.05, 0.9,
                                                                use_nesterov=nesterov))

    def update(key, p, g, t, state):
        accum = state.get(key, 0.0) * 0.9 + g
        state[key] = accum
        return p - 0.05 * (g + 0.9 * accum if nesterov else accum)

    _assert_close(history, _reference(x_value, 4, update))


def test_adam_matches_numpy():
    x_value, history, _ = _quadratic(tf.train.AdamOptimizer(0.01))

    def update(key, p, g, t, state):
        m = 0.9 * state.get(key + "m", 0.0) + 0.1 * g
        v = 0.999 * state.get(key + "v", 0.0) + 0.001 * g * g
        state[key + "m"], state[key + "v"] = m, v
        lr_t = 0.01 * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
        return p - lr_t * m / (np.sqrt(v) + 1e-8)

    _assert_close(history, _reference(x_value, 4, update))


@pytest.mark.parametrize("centered,momentum", [(False, 0.0), (True, 0.5)])
def test_rmsprop_matches_numpy(centered, momentum):
    x_value, history, _ = _quadratic(tf.train.RMSPropOptimizer(
        0.01, decay=0.8, momentum=momentum, epsilon=1e-6, centered=centered))

    def update(key, p, g, t, state):
        ms = 0.8 * state.get(key + "ms", 1.0) + 0.2 * g * g  # (TF1 starts ms at ones)
        mg = 0.8 * state.get(key + "mg", 0.0) + 0.2 * g
        mom = momentum * state.get(key + "mom", 0.0) + 0.01 * g / np.sqrt(
            (ms - mg * mg if centered else ms) + 1e-6)
        state[key + "ms"], state[key + "mg"], state[key + "mom"] = ms, mg, mom
        return p - mom

    _assert_close(history, _reference(x_value, 4, update))


def test_adagrad_matches_numpy():
    x_value, history, _ = _quadratic(tf.train.AdagradOptimizer(0.1, 0.2))

    def update(key, p, g, t, state):
        state[key] = state.get(key, 0.2) + g * g
        return p - 0.1 * g / np.sqrt(state[key])

    _assert_close(history, _reference(x_value, 4, update))
    with pytest.raises(ValueError, match="initial_accumulator_value must be positive"):
        tf.train.AdagradOptimizer(0.1, 0.0)


def test_optimizer_slots_are_named_variables():
    w = tf.Variable(tf.zeros([2]), name="W")
    optimizer = tf.train.AdamOptimizer()
    optimizer.minimize(tf.reduce_sum(w * w))
    names = {v.op.name for v in tf.global_variables()}
    assert {"W", "W/Adam", "W/Adam_1", "beta1_power", "beta2_power"} <= names
    assert tf.trainable_variables() == [w]
    assert optimizer.get_slot(w, "m").op.name == "W/Adam"


def test_update_nodes_are_tagged_update_and_train_op_is_named():
    w = tf.Variable(1.0, name="W")
    train_op = tf.train.GradientDescentOptimizer(0.1).minimize(w * w)
    graph = tf.get_default_graph()
    assert train_op.name == "GradientDescent" and train_op.type == "NoOp"
    roles = {graph.node(t).role for t in train_op.targets}
    assert roles == {"update"}
    assert {n.role for n in graph.nodes.values()} == {"forward", "backward", "update"}
    verify(graph.as_ir([train_op]))


def test_compute_and_apply_gradients_separately():
    w = tf.Variable(2.0, name="w")
    unused = tf.Variable(5.0, name="unused")
    optimizer = tf.train.GradientDescentOptimizer(0.5)
    pairs = optimizer.compute_gradients(w * w, var_list=[w, unused])
    assert pairs[1] == (None, unused)
    clipped = [(tf.clip_by_value(g, -1.0, 1.0), v) for g, v in pairs if g is not None]
    train_op = optimizer.apply_gradients(clipped)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(train_op)
        assert sess.run(w) == 1.5


def test_no_gradients_for_any_variable_is_an_error():
    w = tf.Variable(2.0, name="w")
    loss = tf.reduce_sum(tf.constant([1.0, 2.0]))
    with pytest.raises(ValueError, match="No gradients provided for any variable"):
        tf.train.GradientDescentOptimizer(0.1).minimize(loss, var_list=[w])


def test_learning_rate_may_be_a_placeholder():
    w = tf.Variable(1.0, name="w")
    lr = tf.placeholder(tf.float32, [], name="lr")
    train_op = tf.train.GradientDescentOptimizer(lr).minimize(w * w)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(train_op, {lr: 0.25})
        assert sess.run(w) == 0.5


def test_tf1_style_xor_trains_to_the_right_predictions():
    tf.set_random_seed(1)
    x_data = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    y_data = np.array([[1, 0], [0, 1], [0, 1], [1, 0]], dtype=np.float32)
    x = tf.placeholder(tf.float32, [None, 2], name="x")
    y_ = tf.placeholder(tf.float32, [None, 2], name="y")
    w1 = tf.Variable(tf.random_uniform([2, 5], -1, 1), name="W1")
    b1 = tf.Variable(tf.zeros([5]), name="b1")
    w2 = tf.Variable(tf.random_uniform([5, 2], -1, 1), name="W2")
    b2 = tf.Variable(tf.zeros([2]), name="b2")
    hidden = tf.sigmoid(tf.matmul(x, w1) + b1)
    output = tf.sigmoid(tf.matmul(hidden, w2) + b2)
    loss = tf.reduce_mean(tf.losses.mean_squared_error(y_, output))
    train_step = tf.train.GradientDescentOptimizer(5.0).minimize(loss)
    prediction = tf.argmax(tf.nn.softmax(output), 1)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        first = sess.run(loss, {x: x_data, y_: y_data})
        for _ in range(1500):
            _, last = sess.run([train_step, loss], feed_dict={x: x_data, y_: y_data})
        predicted = sess.run(prediction, feed_dict={x: x_data})
        assert sess.compile_count == 4  # init, loss, train step + loss, prediction
    assert last < first / 10
    np.testing.assert_array_equal(predicted, [0, 1, 1, 0])


def test_tf1_softmax_regression_tutorial_habits():
    # the shape of the TF1 "MNIST for beginners" program, on a small synthetic task
    data_rng = np.random.default_rng(0)
    features = data_rng.standard_normal((120, 6)).astype(np.float32)
    onehot = np.eye(3, dtype=np.float32)[np.argmax(features @ data_rng.standard_normal((6, 3)), 1)]

    x = tf.placeholder("float", [None, 6])
    y_ = tf.placeholder("float", [None, 3])
    W = tf.Variable(tf.truncated_normal([6, 3], stddev=0.1, seed=1))
    b = tf.Variable(tf.constant(0.1, shape=[3]))
    y = tf.nn.softmax(tf.matmul(x, W) + b)
    cross_entropy = tf.reduce_mean(-tf.reduce_sum(y_ * tf.log(y), reduction_indices=[1]))
    train_step = tf.train.GradientDescentOptimizer(0.5).minimize(cross_entropy)
    correct_prediction = tf.equal(tf.argmax(y, 1), tf.argmax(y_, 1))
    accuracy = tf.reduce_mean(tf.cast(correct_prediction, "float"))

    sess = tf.InteractiveSession()
    try:
        tf.global_variables_initializer().run()
        before = accuracy.eval(feed_dict={x: features, y_: onehot})
        for i in range(200):
            batch = slice((i * 20) % 120, (i * 20) % 120 + 20)
            train_step.run(feed_dict={x: features[batch], y_: onehot[batch]})
        after = accuracy.eval(feed_dict={x: features, y_: onehot})
    finally:
        sess.close()
    assert tf.get_default_session() is None
    assert after > 0.9 and after > before
