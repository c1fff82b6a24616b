"""The bridge trains: a traced step (forward, backward, optimizer step) is one static graph
whose updates match eager training step for step."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import tapeflow.dynamic as torch
import tapeflow.static as tf


def _model(seed: int = 0, dtype: Any = torch.float64) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Sigmoid(),
                               torch.nn.Linear(5, 2)).to(dtype)


def _step(model: Any, opt: Any) -> Callable[..., Any]:
    def step(x, target):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), target)
        loss.backward()
        opt.step()
        return loss

    return step


def _data(steps: int, dtype: Any = np.float64) -> list[tuple[Any, Any]]:
    rng = np.random.default_rng(1)
    return [(torch.from_numpy(rng.normal(size=(6, 3)).astype(dtype)),
             torch.from_numpy(rng.integers(0, 2, size=6))) for _ in range(steps)]


OPTIMIZERS = [
    (torch.optim.SGD, {"lr": 0.5}, 1),
    (torch.optim.SGD, {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.01}, 2),
    (torch.optim.SGD, {"lr": 0.1, "momentum": 0.8, "dampening": 0.25}, 2),
    (torch.optim.SGD, {"lr": 0.1, "momentum": 0.9, "nesterov": True}, 2),
    (torch.optim.Adam, {"lr": 0.01}, 1),
    (torch.optim.Adam, {"lr": 0.02, "betas": (0.8, 0.99), "weight_decay": 0.1}, 1),
    (torch.optim.RMSprop, {"lr": 0.01}, 1),
    (torch.optim.RMSprop, {"lr": 0.01, "momentum": 0.9, "centered": True,
                           "weight_decay": 0.01}, 1),
]


@pytest.mark.parametrize("cls, hyper, traces", OPTIMIZERS)
def test_traced_training_matches_eager_step_for_step(cls, hyper, traces) -> None:
    eager_model, traced_model = _model(), _model()
    eager = _step(eager_model, cls(eager_model.parameters(), **hyper))
    traced = tf.function(_step(traced_model, cls(traced_model.parameters(), **hyper)))
    for x, target in _data(25):
        a, b = eager(x, target).item(), traced(x, target).item()
        assert abs(a - b) <= 1e-9 * abs(a)
        for p, q in zip(eager_model.parameters(), traced_model.parameters(), strict=True):
            np.testing.assert_allclose(q.detach().numpy(), p.detach().numpy(), rtol=1e-9)
            np.testing.assert_allclose(q.grad.numpy(), p.grad.numpy(), rtol=1e-9)
    # momentum: the first step makes the buffer (one trace), later steps update it (another)
    assert traced.trace_count == traces


def test_float32_training_agrees() -> None:
    eager_model, traced_model = _model(dtype=torch.float32), _model(dtype=torch.float32)
    eager = _step(eager_model, torch.optim.SGD(eager_model.parameters(), lr=0.5))
    traced = tf.function(_step(traced_model, torch.optim.SGD(traced_model.parameters(), lr=0.5)))
    for x, target in _data(20, np.float32):
        a, b = eager(x, target).item(), traced(x, target).item()
        assert abs(a - b) <= 1e-5 * abs(a)


def test_eager_and_traced_steps_take_turns_on_one_model() -> None:
    reference, shared = _model(), _model()
    ref_step = _step(reference, torch.optim.Adam(reference.parameters(), lr=0.05))
    opt = torch.optim.Adam(shared.parameters(), lr=0.05)
    eager, traced = _step(shared, opt), tf.function(_step(shared, opt))
    for i, (x, target) in enumerate(_data(12)):
        expected = ref_step(x, target).item()
        got = (traced if i % 3 else eager)(x, target).item()
        assert abs(expected - got) <= 1e-9 * abs(expected)
    assert opt.state[next(shared.parameters())]["step"] == 12


def test_changing_the_learning_rate_traces_again() -> None:
    eager_model, traced_model = _model(), _model()
    eager_opt = torch.optim.SGD(eager_model.parameters(), lr=0.5)
    traced_opt = torch.optim.SGD(traced_model.parameters(), lr=0.5)
    eager, traced = _step(eager_model, eager_opt), tf.function(_step(traced_model, traced_opt))
    for i, (x, target) in enumerate(_data(6)):
        if i == 3:
            eager_opt.param_groups[0]["lr"] = traced_opt.param_groups[0]["lr"] = 0.05
        a, b = eager(x, target).item(), traced(x, target).item()
        assert abs(a - b) <= 1e-9 * abs(a)
    assert traced.trace_count == 2


def test_gradients_carried_between_calls_are_refused() -> None:
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)

    @tf.function
    def no_zero_grad(x, target):
        loss = torch.nn.functional.cross_entropy(model(x), target)
        loss.backward()
        opt.step()
        return loss

    x, target = _data(1)[0]
    torch.nn.functional.cross_entropy(model(x), target).backward()  # leaves .grad behind
    with pytest.raises(tf.TracingError, match="zero_grad"):
        no_zero_grad(x, target)
    assert model[0].weight.grad is not None  # the failed trace changed nothing


def test_no_grad_and_detach_stop_gradients_as_in_eager() -> None:
    def loss_of(model: Any, x: Any) -> Any:
        hidden = model[0](x)
        with torch.no_grad():
            scale = hidden.abs().mean()
        return ((model[2](torch.sigmoid(hidden)) * scale).sum()
                + (hidden.detach() * model[0].bias).sum())

    eager_model, traced_model = _model(), _model()

    @tf.function
    def traced(x):
        traced_model.zero_grad()
        loss = loss_of(traced_model, x)
        loss.backward()
        return loss

    x = _data(1)[0][0]
    eager_model.zero_grad()
    loss_of(eager_model, x).backward()
    traced(x)
    for p, q in zip(eager_model.parameters(), traced_model.parameters(), strict=True):
        np.testing.assert_allclose(q.grad.numpy(), p.grad.numpy(), rtol=1e-12)


def test_rnn_traces_once_per_batch_length_and_agrees() -> None:
    from tapeflow.compare import data
    from tapeflow.compare.rnn_dynamic import RnnDynamic
    from tapeflow.compare.rnn_traced import RnnTraced
    from tapeflow.compare.weights import rnn_weights

    task = data.SentimentTask()
    batches = [b for b in task.batches(4, 1, seed=3) if b.max_length <= 8]
    weights = rnn_weights(3, "float64", task.vocab_size, 8, 6)
    eager, traced = RnnDynamic(weights, 0.1, "float64"), RnnTraced(weights, 0.1, "float64")
    for batch in batches + batches:
        a, b = eager.step(batch), traced.step(batch)
        assert abs(a - b) <= 1e-9 * abs(a)
    assert traced.train_step.trace_count == len({b.max_length for b in batches})
    np.testing.assert_array_equal(eager.predict(batches[0]), traced.predict(batches[0]))


def test_harness_traced_column_agrees_with_eager() -> None:
    from tapeflow.compare.harness import run_workload
    from tapeflow.compare.workloads import xor

    workload = xor("float64", seed=0)
    workload.modes = [m for m in workload.modes if m.name in ("dynamic", "traced")]
    result = run_workload(workload, steps=30, dtype="float64")
    assert result.agrees
    traced = next(r for r in result.results if r.mode == "traced")
    assert traced.stats["compilations"] == 1 and traced.stats["update_nodes"] > 0
    assert traced.stats["arena_bytes"] <= traced.stats["naive_bytes"]


def test_a_step_without_zero_grad_is_refused_when_a_grad_is_left_over() -> None:
    model = _model()

    @tf.function
    def accumulate(x, target):
        loss = torch.nn.functional.cross_entropy(model(x), target)
        loss.backward()  # eager mode would add to .grad left by the previous call
        return loss

    x, target = _data(1)[0]
    accumulate(x, target)  # .grad was None: the graph assumed that, and a guard checks it
    assert model[0].weight.grad is not None
    with pytest.raises(tf.TracingError, match="zero_grad"):
        accumulate(x, target)


def test_an_optimizer_without_a_traced_rule_refuses() -> None:
    class Halving(torch.optim.SGD):
        def step(self) -> None:  # its own Python step: tracing cannot know what it keeps
            super().step()
            for group in self.param_groups:
                group["lr"] /= 2

    model = _model()
    opt = Halving(model.parameters(), lr=0.5)
    with pytest.raises(tf.TracingError, match="Halving.step"):
        tf.function(_step(model, opt))(*_data(1)[0])
    x, target = _data(1)[0]
    _step(model, opt)(x, target)  # eager mode still works: the class was put back
    assert opt.param_groups[0]["lr"] == 0.25
