"""Gradient clipping in both modes: ``tf.clip_by_global_norm`` / ``tf.clip_by_norm`` /
``tf.global_norm`` and ``torch.nn.utils.clip_grad_norm_`` / ``clip_grad_value_``.

Both norms are the runtime's shared ``global_norm``; each front end keeps its own scaling
rule (TF1: ``clip_norm * min(1/norm, 1/clip_norm)``; PyTorch: ``max_norm / (norm + 1e-6)``
capped at 1), checked against numpy and, when installed, PyTorch.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import tapeflow.dynamic as torch
import tapeflow.static as tf

A = np.array([[3.0, 0.0], [0.0, 4.0]])
B = np.array([12.0])  # together: norm sqrt(9 + 16 + 144) = 13


def test_tf_clip_by_global_norm_scales_the_list_together() -> None:
    with tf.Graph().as_default():
        a, b = tf.constant(A), tf.constant(B)
        (ca, none, cb), norm = tf.clip_by_global_norm([a, None, b], 6.5)
        (ua, ub), _ = tf.clip_by_global_norm([a, b], 100.0)
        alone = tf.global_norm([a, None, b])
        by_norm = tf.clip_by_norm(tf.constant([[3.0, 4.0], [0.0, 0.0]], tf.float64), 2.5,
                                  axes=[1])
        values = tf.Session().run([ca, cb, norm, ua, ub, alone, by_norm])
    assert none is None
    np.testing.assert_allclose(values[0], A * 0.5, rtol=1e-15)
    np.testing.assert_allclose(values[1], B * 0.5, rtol=1e-15)
    assert values[2] == 13.0 and values[5] == 13.0
    np.testing.assert_array_equal(values[3], A)  # under the limit: unchanged
    np.testing.assert_array_equal(values[4], B)
    np.testing.assert_allclose(values[6], [[1.5, 2.0], [0.0, 0.0]])  # a zero row stays zero


def test_tf_clipping_in_a_training_step_with_apply_gradients() -> None:
    with tf.Graph().as_default():
        w = tf.Variable([1.0, 1.0], dtype=tf.float64)
        loss = tf.reduce_sum(tf.square(w * 100.0))  # gradient 20000 w: far over the limit
        variables = tf.trainable_variables()
        grads, norm = tf.clip_by_global_norm(tf.gradients(loss, variables), 1.0)
        train = tf.train.GradientDescentOptimizer(0.5).apply_gradients(
            zip(grads, variables, strict=True))
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            _, before = sess.run([train, norm])
            after = sess.run(w)
    assert before == pytest.approx(20000 * math.sqrt(2))
    np.testing.assert_allclose(after, 1.0 - 0.5 / math.sqrt(2))  # a step of length 0.5


def test_torch_clip_grad_norm_and_value() -> None:
    a = torch.tensor(A, requires_grad=True)
    b = torch.tensor(B, requires_grad=True)
    ((a * torch.tensor(A)).sum() + (b * torch.tensor(B)).sum()).backward()  # grads = A, B
    total = torch.nn.utils.clip_grad_norm_([a, b], 6.5)
    assert total.item() == 13.0
    np.testing.assert_allclose(a.grad.numpy(), A * 6.5 / (13 + 1e-6), rtol=1e-15)
    np.testing.assert_allclose(b.grad.numpy(), B * 6.5 / (13 + 1e-6), rtol=1e-15)
    infinity = torch.nn.utils.clip_grad_norm_([a, b], 100.0, norm_type=math.inf)
    assert infinity.item() == pytest.approx(6.5 * 12 / (13 + 1e-6))
    torch.nn.utils.clip_grad_value_([a, b], 1.0)
    assert a.grad.numpy().max() <= 1.0 and b.grad.numpy().tolist() == [1.0]
    nan = torch.tensor([1.0], requires_grad=True)
    (nan * float("nan")).sum().backward()
    with pytest.raises(RuntimeError, match="non-finite"):
        torch.nn.utils.clip_grad_norm_(nan, 1.0, error_if_nonfinite=True)
    assert torch.nn.utils.clip_grad_norm_([torch.ones(2, requires_grad=True)], 1.0).item() == 0


def test_matches_pytorch_when_installed() -> None:
    real = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal((4, 3)), rng.standard_normal(5)]
    ours = [torch.tensor(np.zeros_like(g), requires_grad=True) for g in grads]
    theirs = [real.tensor(np.zeros_like(g), requires_grad=True) for g in grads]
    for p, g in zip(ours, grads, strict=True):
        p.grad = torch.tensor(g)
    for p, g in zip(theirs, grads, strict=True):
        p.grad = real.tensor(g)
    assert torch.nn.utils.clip_grad_norm_(ours, 0.5).item() == pytest.approx(
        real.nn.utils.clip_grad_norm_(theirs, 0.5).item(), rel=1e-14)
    for p, q in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-14)
