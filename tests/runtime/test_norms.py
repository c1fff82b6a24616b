"""One L2 norm (``composites.l2_norm`` / ``global_norm``) behind ``Tensor.norm``,
``tf.global_norm``, ``tf.clip_by_norm`` and ``clip_grad_norm_``: its gradient at 0 is 0, as
PyTorch's is, where a plain ``sqrt(sum(x^2))`` gives NaN."""

from __future__ import annotations

import numpy as np
import pytest
import tapeflow.dynamic as torch
import tapeflow.static as tf
from tapeflow.runtime import composites


def test_tensor_norm_gradient_is_zero_at_zero() -> None:
    x = torch.zeros(3, requires_grad=True)
    norm = x.norm()
    norm.backward()
    assert norm.item() == 0.0
    assert x.grad.tolist() == [0.0, 0.0, 0.0]


def test_tensor_norm_value_and_gradient_away_from_zero() -> None:
    x = torch.tensor([[3.0, 4.0], [0.0, 0.0]], dtype=torch.float64, requires_grad=True)
    rows = x.norm(dim=1)
    rows.sum().backward()
    assert rows.tolist() == [5.0, 0.0]
    assert x.grad.numpy() == pytest.approx(np.array([[0.6, 0.8], [0.0, 0.0]]), rel=1e-15)


def test_static_global_norm_and_clip_by_norm_gradients_at_zero() -> None:
    with tf.Graph().as_default():
        v = tf.Variable(np.zeros(3, np.float64))
        (by_global,) = tf.gradients(tf.global_norm([v]), [v])
        (by_clip,) = tf.gradients(tf.reduce_sum(tf.clip_by_norm(v, 1.0)), [v])
        (by_norm,) = tf.gradients(tf.global_norm([v * 2.0, v]), [v])
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            got = sess.run([by_global, by_clip, by_norm])
    assert got[0].tolist() == [0.0, 0.0, 0.0]
    assert got[1].tolist() == [1.0, 1.0, 1.0]  # clip_norm / max(0, clip_norm): the identity
    assert got[2].tolist() == [0.0, 0.0, 0.0]


def test_global_norm_keeps_a_nan_visible() -> None:
    value = composites.global_norm([np.array([np.nan, 1.0]), np.array([2.0])])
    assert np.isnan(value)


def test_global_norm_without_tensors_names_itself() -> None:
    with pytest.raises(ValueError, match="global_norm"):
        composites.global_norm([])


def test_norms_agree_with_pytorch() -> None:
    real = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    for data in (np.zeros((2, 3)), rng.standard_normal((2, 3))):
        ours = torch.tensor(data, requires_grad=True)
        theirs = real.tensor(data, requires_grad=True)
        ours.norm().backward()
        theirs.norm().backward()
        assert ours.grad.numpy() == pytest.approx(theirs.grad.numpy(), rel=1e-12, abs=0)
        ours.grad = None
        theirs.grad = None
        ours.norm(dim=0).sum().backward()
        theirs.norm(dim=0).sum().backward()
        assert ours.grad.numpy() == pytest.approx(theirs.grad.numpy(), rel=1e-12, abs=0)
