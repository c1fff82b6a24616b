"""``log1p``/``expm1`` (registry ops in both modes) and ``torch.randperm``.

``log1p(x)`` and ``expm1(x)`` keep full precision where ``log(1 + x)`` and ``exp(x) - 1``
lose it (tiny x); their gradients are checked by finite differences in
``test_vjp_rules.py``, and their ONNX forms in ``test_interop_onnx.py``.
"""

from __future__ import annotations

import numpy as np
import tapeflow.dynamic as torch
import tapeflow.static as tf

TINY = np.array([1e-12, -3e-10, 0.0, 0.5, 20.0])


def test_both_modes_keep_precision_for_tiny_arguments() -> None:
    with tf.Graph().as_default():
        x = tf.constant(TINY)
        static = tf.Session().run([tf.log1p(x), tf.math.expm1(x), tf.math.log1p(x)])
    t = torch.tensor(TINY)
    dynamic = [torch.log1p(t).numpy(), t.expm1().numpy(), t.log1p().numpy()]
    for got in (static, dynamic):
        np.testing.assert_array_equal(got[0], np.log1p(TINY))
        np.testing.assert_array_equal(got[1], np.expm1(TINY))
        np.testing.assert_array_equal(got[2], np.log1p(TINY))
    assert np.log(1 + TINY[0]) != np.log1p(TINY[0])  # (why the ops exist)


def test_gradients_in_both_modes() -> None:
    with tf.Graph().as_default():
        x = tf.constant(TINY)
        grads = tf.gradients(tf.reduce_sum(tf.log1p(x) + tf.expm1(x)), [x])[0]
        static = tf.Session().run(grads)
    t = torch.tensor(TINY, requires_grad=True)
    (t.log1p() + t.expm1()).sum().backward()
    np.testing.assert_allclose(static, 1 / (1 + TINY) + np.exp(TINY), rtol=1e-15)
    np.testing.assert_array_equal(t.grad.numpy(), static)


def test_randperm_is_a_seeded_permutation() -> None:
    torch.manual_seed(5)
    first = torch.randperm(10)
    torch.manual_seed(5)
    again = torch.randperm(10)
    assert first.dtype == torch.int64 and sorted(first.tolist()) == list(range(10))
    assert first.tolist() == again.tolist()
    assert torch.randperm(3, dtype=torch.int32).dtype == torch.int32
    x = torch.arange(10.0)
    assert sorted(x[first].tolist()) == x.tolist()  # shuffling a batch by index
