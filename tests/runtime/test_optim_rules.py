"""The update rules of runtime/optim_rules.py: PyTorch's (checked against torch when it is
installed) and TF1's (checked against their formulas), and where the two conventions part."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tapeflow.dynamic as tapeflow_torch
from tapeflow.runtime import optim_rules as rules

rng = np.random.default_rng(3)


def _run(make_ours, make_theirs, real, steps: int = 5) -> None:
    start = rng.standard_normal((3, 2))
    targets = [rng.standard_normal((3, 2)) for _ in range(steps)]
    ours = tapeflow_torch.nn.Parameter(tapeflow_torch.tensor(start.copy()))
    theirs = real.nn.Parameter(real.tensor(start.copy()))
    opt_ours, opt_theirs = make_ours([ours]), make_theirs([theirs])
    for target in targets:
        for p, opt, lib in ((ours, opt_ours, tapeflow_torch), (theirs, opt_theirs, real)):
            opt.zero_grad()
            ((p - lib.tensor(target)) ** 2).sum().backward()
            opt.step()
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-12)


def test_adamw_and_adagrad_agree_with_pytorch() -> None:
    real = pytest.importorskip("torch")
    optim, theirs = tapeflow_torch.optim, real.optim
    _run(lambda p: optim.AdamW(p, lr=0.05, weight_decay=0.1),
         lambda p: theirs.AdamW(p, lr=0.05, weight_decay=0.1), real)
    _run(lambda p: optim.Adagrad(p, lr=0.3, lr_decay=0.01, weight_decay=0.05,
                                 initial_accumulator_value=0.2),
         lambda p: theirs.Adagrad(p, lr=0.3, lr_decay=0.01, weight_decay=0.05,
                                  initial_accumulator_value=0.2), real)
    _run(lambda p: optim.Adagrad(p), lambda p: theirs.Adagrad(p), real)


def test_adamw_decays_the_parameter_not_the_gradient() -> None:
    w = tapeflow_torch.nn.Parameter(tapeflow_torch.ones(1, dtype=tapeflow_torch.float64))
    opt = tapeflow_torch.optim.AdamW([w], lr=0.1, weight_decay=0.5)
    (w * 2).sum().backward()
    opt.step()
    # first Adam step moves by lr (m_hat / sqrt(v_hat) = 1) after p *= 1 - lr * wd
    assert w.item() == pytest.approx(1 * (1 - 0.1 * 0.5) - 0.1, rel=1e-7)


def test_tf1_adam_puts_epsilon_after_the_bias_correction() -> None:
    g, lr, b1, b2, eps = np.array([1e-6]), 0.1, 0.9, 0.999, 1e-8
    m, v = rules.adam_moments(np.zeros(1), np.zeros(1), g, b1, b2)
    torch_step = rules.adam_step(m, v, rules.adam_step_size(1, lr, b1), rules.adam_bias2(1, b2),
                                 eps)
    # TF1 keeps lr and the powers b^t as float64 tensors here (Python numbers alone would be
    # evaluated in the default float32)
    lr_t = rules.tf1_adam_step_size(np.array(lr), np.array(b1), np.array(b2))
    tf1_step = rules.tf1_adam_step(m, v, lr_t, eps)
    hat = math.sqrt(1 - b2) / (1 - b1)
    assert tf1_step[0] == pytest.approx(lr * hat * m[0] / (math.sqrt(v[0]) + eps), rel=1e-12)
    assert torch_step[0] == pytest.approx(lr * 1e-6 / (1e-6 + eps), rel=1e-12)
    assert tf1_step[0] != pytest.approx(torch_step[0], rel=1e-4)  # the conventions part here


def test_tf1_rmsprop_and_adagrad_formulas() -> None:
    g, ms, mg = np.array([0.5]), np.array([2.0]), np.array([0.25])
    assert rules.tf1_rmsprop_step(g, ms, None, 0.1, 1e-10)[0] == pytest.approx(
        0.1 * 0.5 / math.sqrt(2.0 + 1e-10), rel=1e-15)
    assert rules.tf1_rmsprop_step(g, ms, mg, 0.1, 1e-10)[0] == pytest.approx(
        0.1 * 0.5 / math.sqrt(2.0 - 0.0625 + 1e-10), rel=1e-15)
    accum = rules.adagrad_sum(np.array([0.1]), g)
    assert accum[0] == pytest.approx(0.35) and rules.tf1_adagrad_step(g, accum, 0.1)[0] == \
        pytest.approx(0.1 * 0.5 / math.sqrt(0.35), rel=1e-15)
    assert rules.tf1_momentum(np.array([1.0]), g, 0.9)[0] == pytest.approx(1.4)


def test_with_gradients_skips_missing_gradients_and_folds_decay() -> None:
    params = {"a": np.array([2.0]), "b": np.array([3.0])}
    grads = {"a": np.array([1.0]), "b": None}
    got = list(rules.with_gradients(params, grads.get, 0.5, params.get))
    assert [(name, g.tolist()) for name, g in got] == [("a", [2.0])]
