"""Binary cross-entropy in both modes: one shared composite, PyTorch's and TF1's names.

``tf.nn.sigmoid_cross_entropy_with_logits``, ``tf.losses.sigmoid_cross_entropy``,
``torch.nn.functional.binary_cross_entropy(_with_logits)`` and the ``BCELoss`` modules
compute ``max(x, 0) - x z + log(1 + e^-|x|)`` (or PyTorch's clamped-log form for
probabilities): finite for any logit, with gradient sigmoid(x) - z, and equal across modes.
"""

from __future__ import annotations

import numpy as np
import pytest
import tapeflow.dynamic as torch
import tapeflow.static as tf
from tapeflow.runtime import composites

LOGITS = np.array([[-800.0, -3.0, -0.5, 0.0], [0.5, 2.0, 40.0, 900.0]])
LABELS = np.array([[1.0, 0.0, 0.3, 1.0], [0.0, 1.0, 0.5, 0.0]])


def reference(x: np.ndarray, z: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0) - x * z + np.log1p(np.exp(-np.abs(x)))


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1 + np.tanh(0.5 * x))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_composite_is_finite_and_right_for_any_logit(dtype: type) -> None:
    got = composites.sigmoid_cross_entropy(LOGITS.astype(dtype), LABELS.astype(dtype))
    assert got.dtype == dtype and np.isfinite(got).all()
    np.testing.assert_allclose(got, reference(LOGITS, LABELS),
                               rtol=1e-6 if dtype == np.float32 else 1e-13)


def test_dynamic_gradient_is_sigmoid_minus_label_even_at_zero() -> None:
    x = torch.tensor(LOGITS, requires_grad=True)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(x, torch.tensor(LABELS),
                                                                reduction="sum")
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), sigmoid(LOGITS) - LABELS, atol=1e-15)
    assert x.grad.numpy()[0, 3] == 0.5 - 1.0  # the x = 0 branch


def test_static_equals_dynamic_values_and_gradients() -> None:
    graph = tf.Graph()
    with graph.as_default():
        logits = tf.placeholder(tf.float64, (2, 4), name="logits")
        labels = tf.placeholder(tf.float64, (2, 4), name="labels")
        per = tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)
        (grad,) = tf.gradients(tf.reduce_sum(per), [logits])
    with tf.Session(graph=graph) as sess:
        static_per, static_grad = sess.run([per, grad], {logits: LOGITS, labels: LABELS})
    x = torch.tensor(LOGITS, requires_grad=True)
    dynamic_per = torch.nn.functional.binary_cross_entropy_with_logits(
        x, torch.tensor(LABELS), reduction="none")
    dynamic_per.sum().backward()
    np.testing.assert_array_equal(static_per, dynamic_per.detach().numpy())
    np.testing.assert_array_equal(static_grad, x.grad.numpy())


def test_tf_losses_smooths_weights_and_reduces() -> None:
    with tf.Graph().as_default():
        loss = tf.losses.sigmoid_cross_entropy(LABELS, tf.constant(LOGITS), weights=2.0,
                                               label_smoothing=0.2)
        none = tf.losses.sigmoid_cross_entropy(LABELS, tf.constant(LOGITS),
                                               reduction=tf.losses.Reduction.NONE)
        value, per = tf.Session().run([loss, none])
    smoothed = LABELS * 0.8 + 0.1
    np.testing.assert_allclose(value, (2.0 * reference(LOGITS, smoothed)).sum() / LOGITS.size,
                               rtol=1e-12)
    np.testing.assert_allclose(per, reference(LOGITS, LABELS), rtol=1e-12)


def test_bad_inputs_name_the_problem() -> None:
    with tf.Graph().as_default():
        with pytest.raises(ValueError, match=r"same shape \(\(2, 4\) vs \(4,\)\)"):
            tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.zeros([4], tf.float64),
                                                    logits=tf.constant(LOGITS))
        with pytest.raises(ValueError, match="named arguments"):
            tf.nn.sigmoid_cross_entropy_with_logits(LABELS)
    f = torch.nn.functional
    with pytest.raises(RuntimeError, match=r"\[2, 4\].*\[4\]"):
        f.binary_cross_entropy_with_logits(torch.tensor(LOGITS), torch.zeros(4))
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        f.binary_cross_entropy(torch.tensor([0.5, 1.5]), torch.tensor([0.0, 1.0]))
    with pytest.raises(NotImplementedError, match="pos_weight"):
        torch.nn.BCEWithLogitsLoss(pos_weight=torch.ones(4))(torch.tensor(LOGITS[0]),
                                                             torch.tensor(LABELS[0]))


def test_probability_form_clamps_its_logs_like_pytorch() -> None:
    p = torch.tensor([0.0, 0.25, 1.0], requires_grad=True)
    z = torch.tensor([1.0, 0.0, 1.0])
    loss = torch.nn.BCELoss(reduction="none")(p, z)
    np.testing.assert_allclose(loss.detach().numpy(), [100.0, -np.log(0.75), 0.0])
    weighted = torch.nn.BCELoss(weight=torch.tensor([0.0, 2.0, 1.0]))(p, z)
    assert weighted.item() == pytest.approx(2 * -np.log(0.75) / 3)


def test_matches_pytorch_when_installed() -> None:
    real = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x, z = rng.standard_normal((5, 3)) * 3, rng.uniform(0, 1, (5, 3))
    w = rng.uniform(0.5, 2, (5, 3))
    for reduction in ("mean", "sum", "none"):
        ours_x = torch.tensor(x, requires_grad=True)
        theirs_x = real.tensor(x, requires_grad=True)
        ours = torch.nn.functional.binary_cross_entropy_with_logits(
            ours_x, torch.tensor(z), weight=torch.tensor(w), reduction=reduction)
        theirs = real.nn.functional.binary_cross_entropy_with_logits(
            theirs_x, real.tensor(z), weight=real.tensor(w), reduction=reduction)
        np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-12)
        ours.sum().backward()
        theirs.sum().backward()
        np.testing.assert_allclose(ours_x.grad.numpy(), theirs_x.grad.numpy(), rtol=1e-12)
        p = sigmoid(x)
        ours_p = torch.nn.functional.binary_cross_entropy(torch.tensor(p), torch.tensor(z),
                                                          reduction=reduction)
        theirs_p = real.nn.functional.binary_cross_entropy(real.tensor(p), real.tensor(z),
                                                           reduction=reduction)
        np.testing.assert_allclose(ours_p.numpy(), theirs_p.numpy(), rtol=1e-12)


def test_tf1_logistic_regression_learns() -> None:
    rng = np.random.default_rng(1)
    points = rng.standard_normal((200, 2))
    labels = (points @ np.array([2.0, -1.0]) + 0.5 > 0).astype(np.float32)[:, None]
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 2])
        y = tf.placeholder(tf.float32, [None, 1])
        w = tf.Variable(tf.zeros([2, 1]))
        b = tf.Variable(tf.zeros([1]))
        logits = tf.matmul(x, w) + b
        cost = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=logits))
        train = tf.train.GradientDescentOptimizer(0.5).minimize(cost)
        correct = tf.equal(tf.cast(logits > 0, tf.float32), y)
        accuracy = tf.reduce_mean(tf.cast(correct, tf.float32))
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            first = sess.run(cost, {x: points, y: labels})
            for _ in range(200):
                sess.run(train, {x: points, y: labels})
            last, acc = sess.run([cost, accuracy], {x: points, y: labels})
    assert first == pytest.approx(np.log(2), rel=1e-6) and last < 0.2 and acc > 0.95
