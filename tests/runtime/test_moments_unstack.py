"""Mean and variance in both modes from one composite (``tf.nn.moments``,
``tf.math.reduce_variance``/``reduce_std``, ``torch.var``/``std`` and the Tensor methods,
with PyTorch's Bessel correction), and ``tf.unstack``.
"""

from __future__ import annotations

import numpy as np
import pytest
import tapeflow.dynamic as torch
import tapeflow.static as tf

X = np.random.default_rng(0).standard_normal((4, 5, 3))


def test_static_moments_and_reductions_match_numpy() -> None:
    with tf.Graph().as_default():
        x = tf.constant(X)
        mean, var = tf.nn.moments(x, axes=[0, 1])
        kept = tf.nn.moments(x, axes=[2], keep_dims=True)
        values = tf.Session().run([mean, var, *kept, tf.math.reduce_variance(x),
                                   tf.math.reduce_std(x, axis=1, keepdims=True)])
    np.testing.assert_allclose(values[0], X.mean((0, 1)), rtol=1e-13)
    np.testing.assert_allclose(values[1], X.var((0, 1)), rtol=1e-13)
    np.testing.assert_allclose(values[2], X.mean(2, keepdims=True), rtol=1e-13)
    np.testing.assert_allclose(values[3], X.var(2, keepdims=True), rtol=1e-13)
    np.testing.assert_allclose(values[4], X.var(), rtol=1e-13)
    np.testing.assert_allclose(values[5], X.std(1, keepdims=True), rtol=1e-13)


def test_dynamic_var_and_std_use_bessels_correction_and_differentiate() -> None:
    t = torch.tensor(X, requires_grad=True)
    np.testing.assert_allclose(t.var().item(), X.var(ddof=1), rtol=1e-13)
    np.testing.assert_allclose(torch.std(t, dim=(0, 2)).detach().numpy(), X.std((0, 2), ddof=1),
                               rtol=1e-13)
    np.testing.assert_allclose(t.var(1, unbiased=False, keepdim=True).detach().numpy(),
                               X.var(1, keepdims=True), rtol=1e-13)
    np.testing.assert_allclose(t.std(correction=2).item(), X.std(ddof=2), rtol=1e-13)
    t.var().backward()
    np.testing.assert_allclose(t.grad.numpy(), 2 * (X - X.mean()) / (X.size - 1), rtol=1e-12)
    with pytest.raises(RuntimeError, match="floating point"):
        torch.tensor([1, 2, 3]).var()


def test_matches_pytorch_when_installed() -> None:
    real = pytest.importorskip("torch")
    theirs = real.tensor(X)
    ours = torch.tensor(X)
    for kwargs in ({}, {"dim": 1}, {"dim": (0, 2), "keepdim": True}, {"unbiased": False}):
        np.testing.assert_allclose(ours.var(**kwargs).numpy(), theirs.var(**kwargs).numpy(),
                                   rtol=1e-13)
        np.testing.assert_allclose(ours.std(**kwargs).numpy(), theirs.std(**kwargs).numpy(),
                                   rtol=1e-13)


def test_unstack_gives_the_slices_along_an_axis() -> None:
    with tf.Graph().as_default():
        x = tf.constant(X)
        steps = tf.unstack(x, axis=1)
        last = tf.unstack(x, num=3, axis=-1)
        with pytest.raises(ValueError, match="Cannot infer num"):
            tf.unstack(tf.placeholder(tf.float32, [None, 2]))
        values = tf.Session().run(steps + last)
    assert len(steps) == 5 and steps[0].shape.as_list() == [4, 3]
    for i in range(5):
        np.testing.assert_array_equal(values[i], X[:, i])
    for i in range(3):
        np.testing.assert_array_equal(values[5 + i], X[..., i])
