"""``tf.nn`` activations and the new ``tf.losses`` against TF1's documented equations
(values, and gradients from ``tf.gradients``), and against the dynamic front end, which
runs the same runtime composites."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tapeflow.dynamic as torch
import tapeflow.static as tf

X = np.array([-30.0, -6.0, -1.5, -0.3, 0.0, 0.4, 2.0, 6.0, 7.5, 40.0])
SELU = (1.6732632423543772, 1.0507009873554805)


def _sig(x):
    return 1 / (1 + np.exp(-x))


# TF1's documented forward and its registered gradient kernels (EluGrad, SeluGrad,
# Relu6Grad, SoftsignGrad, SoftplusGrad, LeakyReluGrad)
EQUATIONS = {
    "softplus": (lambda x: np.logaddexp(0, x), _sig),
    "softsign": (lambda x: x / (1 + np.abs(x)), lambda x: 1 / (1 + np.abs(x)) ** 2),
    "elu": (lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
            lambda x: np.where(x > 0, 1.0, np.exp(np.minimum(x, 0)))),
    "selu": (lambda x: SELU[1] * np.where(x > 0, x, SELU[0] * np.expm1(np.minimum(x, 0))),
             lambda x: SELU[1] * np.where(x > 0, 1.0, SELU[0] * np.exp(np.minimum(x, 0)))),
    "leaky_relu": (lambda x: np.where(x > 0, x, 0.2 * x), lambda x: np.where(x > 0, 1.0, 0.2)),
    "relu6": (lambda x: np.clip(x, 0, 6), lambda x: ((x > 0) & (x < 6)).astype(float)),
    "log_sigmoid": (lambda x: -np.logaddexp(0, -x), lambda x: _sig(-x)),
}


@pytest.mark.parametrize("name", sorted(EQUATIONS))
def test_activation_follows_tf1_equations(name) -> None:
    forward, derivative = EQUATIONS[name]
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float64, [None])
        y = getattr(tf.nn, name)(x)
        (dx,) = tf.gradients(tf.reduce_sum(y), [x])
        with tf.Session() as sess:
            value, grad = sess.run([y, dx], {x: X})
    np.testing.assert_allclose(value, forward(X), rtol=1e-13, atol=1e-15)
    # (sigmoid is (1 + tanh(x/2)) / 2 in the runtime: exact in absolute, not relative, terms)
    np.testing.assert_allclose(grad, derivative(X), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize(("tf_name", "torch_name", "kwargs"), [
    ("softplus", "softplus", {"threshold": math.inf}), ("elu", "elu", {}),
    ("leaky_relu", "leaky_relu", {"negative_slope": 0.2}), ("relu6", "relu6", {}),
    ("softsign", "softsign", {}), ("selu", "selu", {}), ("log_sigmoid", "logsigmoid", {}),
])
def test_both_front_ends_agree(tf_name, torch_name, kwargs) -> None:
    with tf.Graph().as_default():
        y = getattr(tf.nn, tf_name)(tf.constant(X))
        static_value = tf.Session().run(y)
    dynamic_value = getattr(torch.nn.functional, torch_name)(torch.tensor(X), **kwargs)
    np.testing.assert_array_equal(static_value, dynamic_value.numpy())


def test_tf_math_and_top_level_names() -> None:
    assert tf.math.log_sigmoid is tf.nn.log_sigmoid is tf.log_sigmoid
    assert tf.math.softplus is tf.nn.softplus


def test_new_tf_losses_follow_tf1_equations() -> None:
    labels = np.array([[0.0, 1.0], [2.0, -1.0]])
    predictions = np.array([[0.5, 3.0], [2.0, 0.2]])
    error = np.abs(predictions - labels)
    quadratic = np.minimum(error, 1.5)
    huber = 0.5 * quadratic ** 2 + 1.5 * (error - quadratic)
    unit = predictions / np.linalg.norm(predictions, axis=1, keepdims=True)
    with tf.Graph().as_default():
        p = tf.constant(predictions)
        losses = [tf.losses.absolute_difference(labels, p),
                  tf.losses.huber_loss(labels, p, delta=1.5),
                  tf.losses.huber_loss(labels, p, weights=[[1.0], [0.0]]),
                  tf.losses.cosine_distance(unit, tf.constant(unit), axis=1)]
        (grad,) = tf.gradients(losses[1], [p])
        out = tf.Session().run([*losses, grad])
    assert out[0] == pytest.approx(error.mean())
    assert out[1] == pytest.approx(huber.mean())
    first_row = np.where(error[0] < 1, 0.5 * error[0] ** 2, error[0] - 0.5)
    assert out[2] == pytest.approx(first_row.sum() / 2)  # nonzero weights: 2 of 4
    assert out[3] == pytest.approx(0.0, abs=1e-12)
    expected_grad = np.clip(predictions - labels, -1.5, 1.5) / predictions.size
    np.testing.assert_allclose(out[4], expected_grad)
