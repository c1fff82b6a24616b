"""The composites both front ends run (runtime/composites.py): each front-end name gives the
composite's numbers, and PyTorch's where torch is installed."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tapeflow.dynamic as torch
import tapeflow.static as tf
from tapeflow.runtime import composites

rng = np.random.default_rng(7)


def test_static_names_run_the_composites() -> None:
    x, y = rng.standard_normal((2, 3)), rng.standard_normal(3)
    with tf.Graph().as_default():
        c = tf.constant(x)
        fetches = [tf.squared_difference(x, y), tf.nn.l2_loss(c),
                   tf.reduce_all(c > -5.0, axis=1), tf.reduce_any(c > 5.0)]
        got = tf.Session().run(fetches)
    assert np.array_equal(got[0], composites.squared_difference(x, y))
    assert got[1] == composites.l2_loss(x) == pytest.approx(np.sum(x * x) / 2, rel=1e-15)
    assert got[2].tolist() == [True, True] and not got[3]


def test_dynamic_all_any_follow_the_composites() -> None:
    x = torch.tensor([[1.0, 0.0], [2.0, 3.0]])
    assert x.all(dim=1).tolist() == composites.all_true(x.numpy(), axis=1).tolist() == [False, True]
    assert x.any().item() is True and composites.any_true(np.zeros(2)).item() is False


def test_glorot_limit_is_the_xavier_bound() -> None:
    assert composites.glorot_limit(3, 5) == math.sqrt(6.0 / 8)
    assert composites.glorot_limit(3, 5, gain=2.0) == 2.0 * math.sqrt(6.0 / 8)
    w = torch.empty(5, 3)
    torch.nn.init.xavier_uniform_(w)
    assert float(w.abs().max()) <= composites.glorot_limit(3, 5)


def test_nll_loss_and_elman_step_agree_with_pytorch() -> None:
    real = pytest.importorskip("torch")
    logits, target = rng.standard_normal((4, 3)), np.array([0, 2, 1, 2])
    ours = torch.tensor(logits, requires_grad=True)
    theirs = real.tensor(logits, requires_grad=True)
    loss = torch.nn.functional.nll_loss(ours.log_softmax(1), torch.tensor(target))
    want = real.nn.functional.nll_loss(theirs.log_softmax(1), real.tensor(target))
    loss.backward()
    want.backward()
    assert loss.item() == pytest.approx(want.item(), rel=1e-14)
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-13)

    cell, real_cell = torch.nn.RNNCell(3, 4).double(), real.nn.RNNCell(3, 4).double()
    with real.no_grad():
        for name, value in cell.named_parameters():
            getattr(real_cell, name).copy_(real.tensor(value.detach().numpy()))
    x, h = rng.standard_normal((2, 3)), rng.standard_normal((2, 4))
    np.testing.assert_allclose(
        cell(torch.tensor(x), torch.tensor(h)).detach().numpy(),
        real_cell(real.tensor(x), real.tensor(h)).detach().numpy(), rtol=1e-13)
