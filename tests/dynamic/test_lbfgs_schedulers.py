"""optim.LBFGS (closure protocol) and the lr_scheduler classes against PyTorch 2.13."""

from __future__ import annotations

import numpy as np
import pytest
import tapeflow.dynamic as tt

real = pytest.importorskip("torch")

rng = np.random.default_rng(2)
X = rng.standard_normal((20, 3))
Y = X @ np.array([[1.5], [-2.0], [0.5]]) + 0.3 + 0.01 * rng.standard_normal((20, 1))


def _fit(lib, steps=3, **kwargs):
    w = lib.zeros(3, 1, dtype=lib.float64, requires_grad=True)
    b = lib.zeros(1, dtype=lib.float64, requires_grad=True)
    x, y = lib.tensor(X), lib.tensor(Y)
    opt = lib.optim.LBFGS([w, b], **kwargs)
    calls = []

    def closure():
        opt.zero_grad()
        loss = ((x @ w + b - y) ** 2).mean() + (w ** 4).sum() * 0.01  # not quadratic
        loss.backward()
        calls.append(loss.item())
        return loss

    returned = [opt.step(closure).item() for _ in range(steps)]
    return w.detach().numpy(), b.detach().numpy(), returned, calls


@pytest.mark.parametrize("kwargs", [{}, {"lr": 0.5, "max_iter": 5}, {"history_size": 2},
                                    {"max_iter": 7, "max_eval": 4}])
def test_lbfgs_matches_pytorch(kwargs) -> None:
    ours, theirs = _fit(tt, **kwargs), _fit(real, **kwargs)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours[2], theirs[2], rtol=1e-9)
    assert len(ours[3]) == len(theirs[3])  # the same number of closure evaluations


def test_lbfgs_refuses_what_it_lacks() -> None:
    w = tt.zeros(1, requires_grad=True)
    with pytest.raises(NotImplementedError, match="strong_wolfe"):
        tt.optim.LBFGS([w], line_search_fn="strong_wolfe")
    with pytest.raises(RuntimeError, match="requires a closure"):
        tt.optim.LBFGS([w]).step()


def _rates(lib, make, epochs=12, metric=None):
    opt = lib.optim.SGD([lib.zeros(1, requires_grad=True)], lr=0.8)
    sched = make(lib.optim.lr_scheduler, opt)
    rates = []
    for epoch in range(epochs):
        opt.step()
        if metric is None:
            sched.step()
        else:
            sched.step(metric(epoch))
        rates.append(opt.param_groups[0]["lr"])
    return rates, sched.get_last_lr()


@pytest.mark.parametrize("make", [
    lambda m, o: m.StepLR(o, step_size=3, gamma=0.5),
    lambda m, o: m.MultiStepLR(o, milestones=[2, 5, 5], gamma=0.3),
    lambda m, o: m.ExponentialLR(o, gamma=0.9),
    lambda m, o: m.LambdaLR(o, lambda e: 1 / (1 + e)),
    lambda m, o: m.CosineAnnealingLR(o, T_max=5, eta_min=0.01),
])
def test_schedulers_match_pytorch(make) -> None:
    assert _rates(tt, make) == _rates(real, make)


@pytest.mark.parametrize("kwargs", [{}, {"mode": "max", "patience": 1, "factor": 0.5},
                                    {"patience": 0, "cooldown": 2, "min_lr": 0.1},
                                    {"threshold_mode": "abs", "threshold": 0.5, "patience": 1}])
def test_reduce_on_plateau_matches_pytorch(kwargs) -> None:
    losses = [5, 4, 4, 4.1, 3.99, 4, 4, 4, 2, 2, 2, 2, 2, 2, 2, 2]

    def make(m, o):
        return m.ReduceLROnPlateau(o, **kwargs)

    ours = _rates(tt, make, 16, lambda e: losses[e])
    theirs = _rates(real, make, 16, lambda e: losses[e])
    assert ours == theirs


def test_lr_scheduler_imports_as_in_pytorch() -> None:
    from tapeflow.dynamic.optim.lr_scheduler import StepLR

    assert StepLR is tt.optim.lr_scheduler.StepLR
