"""The bridge: ``static.function`` / ``static.trace`` -- tracing, caching per signature,
inspection and the errors that teach why a static graph cannot follow values."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import tapeflow.dynamic as torch
import tapeflow.static as tf
from tapeflow.static.jit.function import RetracingWarning


def test_forward_matches_eager_and_caches_per_signature() -> None:
    calls = []

    @tf.function
    def f(x, y):
        calls.append(1)  # Python side effects happen only while tracing
        return torch.tanh(x @ y).sum(dim=1), x * 2

    rng = np.random.default_rng(0)
    x, y = torch.from_numpy(rng.normal(size=(3, 4))), torch.from_numpy(rng.normal(size=(4, 2)))
    out, twice = f(x, y)
    np.testing.assert_array_equal(out.numpy(), torch.tanh(x @ y).sum(dim=1).numpy())
    np.testing.assert_array_equal(twice.numpy(), (x * 2).numpy())
    assert isinstance(out, torch.Tensor) and not out.requires_grad
    f(x + 1, y)  # same signature: the compiled plan runs, Python does not
    assert f.trace_count == 1 and len(calls) == 1
    f(x[:2], y)  # new shape
    f(x.float(), y.float())  # new dtype
    assert f.trace_count == 3 and len(calls) == 3


def test_python_arguments_are_part_of_the_signature() -> None:
    @tf.function
    def scale(x, k):
        return x * k

    x = torch.ones(2)
    assert scale(x, 2).tolist() == [2.0, 2.0]
    assert scale(x, 2).tolist() == [2.0, 2.0]
    assert scale(x, 3).tolist() == [3.0, 3.0]
    assert scale.trace_count == 2


@pytest.mark.parametrize("make_fn, what", [
    (lambda x: x.sum().item(), ".item()"),
    (lambda x: x if x.sum() > 0 else -x, "bool"),
    (lambda x: x * float(x[0]), "float"),
    (lambda x: x.numpy(), "numpy"),
    (lambda x: x.tolist(), "list"),
    (lambda x: x[: int(x.sum())], "int"),
])
def test_value_dependent_code_raises_a_teaching_error(make_fn, what) -> None:
    fn = tf.function(make_fn)
    with pytest.raises(tf.TracingError) as info:
        fn(torch.ones(3))
    message = str(info.value)
    assert what in message
    assert "built once" in message and "torch.where" in message
    assert isinstance(info.value, TypeError)
    assert fn.trace_count == 0  # a failed trace is not cached


def test_the_suggested_fix_traces() -> None:
    @tf.function
    def absolute(x):
        return torch.where(x > 0, x, -x)

    assert absolute(torch.tensor([-1.5, 2.0])).tolist() == [1.5, 2.0]
    assert absolute(torch.tensor([3.0, -4.0])).tolist() == [3.0, 4.0]
    assert absolute.trace_count == 1


def test_shape_code_works_while_tracing() -> None:
    @tf.function
    def f(x):
        assert x.shape == (2, 3) and x.dim() == 2 and len(x) == 2
        rows = [r * (i + 1) for i, r in enumerate(x.unbind(0))]
        return torch.stack(rows).view(3, 2).t().reshape(-1)

    x = torch.arange(6.0).view(2, 3)
    expected = torch.stack([x[0], x[1] * 2]).view(3, 2).t().reshape(-1)
    assert f(x).tolist() == expected.tolist()


def test_repeated_retracing_warns_once_naming_the_function() -> None:
    @tf.function
    def grows(x):
        return x + 1

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for n in range(1, 9):
            grows(torch.ones(n))
    retraces = [w for w in caught if issubclass(w.category, RetracingWarning)]
    assert grows.trace_count == 8 and len(retraces) == 1
    assert "'grows'" in str(retraces[0].message) and "6 times" in str(retraces[0].message)

    quiet = tf.function(lambda x: x + 1, warn_after=None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for n in range(1, 9):
            quiet(torch.ones(n))


def test_trace_module_and_sync_with_eager_updates() -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1))
    traced = tf.trace(net, (torch.zeros(4, 2),))
    assert traced.trace_count == 1  # traced for the example before any call
    x = torch.from_numpy(np.linspace(-1, 1, 8, dtype=np.float32).reshape(4, 2))
    np.testing.assert_allclose(traced(x).numpy(), net(x).detach().numpy(), rtol=1e-6)
    with torch.no_grad():
        net[0].weight.mul_(2.0)  # an eager change: the next call loads the new values
    np.testing.assert_allclose(traced(x).numpy(), net(x).detach().numpy(), rtol=1e-6)
    assert traced.trace_count == 1
    names = {n.name for n in traced.graph.nodes.values() if n.kind == "variable"}
    assert names == {"0.weight", "0.bias", "2.weight", "2.bias"}


def test_traced_tensor_escaping_its_trace_is_an_error() -> None:
    leaked = []

    @tf.function
    def f(x):
        leaked.append(x * 2)
        return x

    f(torch.ones(2))
    # the eager op path reports it as its own error, with the tracer's explanation
    with pytest.raises(RuntimeError, match="used outside its trace"):
        leaked[0] + 1


def test_in_place_ops_on_traced_tensors() -> None:
    def f(x):
        y = x * 1.0
        y += 2.0
        y.mul_(3.0)
        y[0] = 0.0
        return y

    traced = tf.function(f)
    x = torch.tensor([1.0, 2.0, 3.0])
    assert traced(x).tolist() == f(x).tolist() == [0.0, 12.0, 15.0]


def test_plan_and_graph_inspection() -> None:
    model = torch.nn.Linear(3, 2).double()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)

    @tf.function
    def step(x):
        opt.zero_grad()
        loss = (model(x) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    x = torch.ones(5, 3, dtype=torch.float64)
    plan = step.plan(x)  # traces and compiles; runs nothing
    plan.validate()
    assert plan.arena_bytes <= plan.naive_bytes and len(plan.steps) > 0
    roles = {n.role for n in step.graph.nodes.values()}
    assert {"forward", "backward", "update"} <= roles
    assigns = [n for n in step.graph.nodes.values() if n.kind == "assign" and n.role == "update"]
    assert len(assigns) == 2  # weight and bias
    before = model.weight.detach().numpy().copy()
    step(x)
    assert step.trace_count == 1 and not np.array_equal(before, model.weight.detach().numpy())


def test_method_decorator_binds_self() -> None:
    class Doubler:
        def __init__(self, k: float) -> None:
            self.k = k

        @tf.function
        def __call__(self, x):
            return x * self.k

    assert Doubler(2.0)(torch.ones(2)).tolist() == [2.0, 2.0]
    assert Doubler(3.0)(torch.ones(2)).tolist() == [3.0, 3.0]


def test_docstring_examples_run() -> None:
    import doctest
    import importlib

    attempted = 0
    for name in ("function", "tracing", "symbolic", "traced_optim"):
        result = doctest.testmod(importlib.import_module(f"tapeflow.static.jit.{name}"))
        assert result.failed == 0, name
        attempted += result.attempted
    assert attempted > 5


def test_inputs_that_require_grad_get_their_grad_accumulated() -> None:
    w = torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64)

    def f(x):
        loss = (torch.tanh(x) * w).sum()
        loss.backward()
        return loss

    traced = tf.function(f)
    x_eager = torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64, requires_grad=True)
    x_traced = torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64, requires_grad=True)
    for _ in range(2):  # twice: .grad accumulates, as in eager mode
        assert f(x_eager).item() == traced(x_traced).item()
    np.testing.assert_allclose(x_traced.grad.numpy(), x_eager.grad.numpy(), rtol=1e-12)


def test_module_buffers_are_state_and_other_captures_are_values() -> None:
    class Counter(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("calls", torch.zeros(1))
            self.offset = torch.tensor([10.0])  # a plain attribute: captured by value

        def forward(self, x):
            scale = self.calls + 1.0  # reads the buffer before it changes
            self.calls += 1
            scratch = torch.zeros(1)
            scratch += x.sum()  # a tensor made inside: fresh on every call
            return (scratch + self.offset + self.calls) * scale

    counter = Counter()
    traced = tf.trace(counter, (torch.ones(2),))
    assert counter.calls.tolist() == [0.0]  # tracing alone changes no state
    assert traced(torch.ones(2)).tolist() == [13.0]  # (2 + 10 + 1) * 1
    assert traced(torch.ones(2)).tolist() == [28.0]  # (2 + 10 + 2) * 2
    assert counter.calls.tolist() == [2.0] and traced.trace_count == 1


def test_in_place_change_of_an_indexed_view_reaches_its_base() -> None:
    w = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float64, requires_grad=True)

    def f(x):
        y = x * w
        y[0] += 10.0  # a view of y, changed in place
        row = y[1]
        row.mul_(2.0)
        loss = (y * y).sum()
        loss.backward()
        return y, loss

    x = torch.ones(2, 2, dtype=torch.float64)
    y_eager, loss_eager = f(x)
    grad_eager, w.grad = w.grad, None
    y_traced, loss_traced = tf.function(f)(x)
    assert y_traced.tolist() == y_eager.tolist() and loss_traced.item() == loss_eager.item()
    np.testing.assert_allclose(w.grad.numpy(), grad_eager.numpy(), rtol=1e-12)

    @tf.function
    def through_reshape(x):
        y = x * 1.0
        y.view(4).add_(1.0)
        return y

    with pytest.raises(tf.TracingError, match="in-place change of a view"):
        through_reshape(x)


def test_parameters_replaced_eagerly_are_loaded_again() -> None:
    model = torch.nn.Linear(2, 1)
    traced = tf.trace(model, (torch.ones(1, 2),))
    x = torch.ones(1, 2)
    traced(x)
    model.weight.data = torch.full((1, 2), 2.0)  # a new array, the same version counter
    model.bias.data = torch.zeros(1)
    assert traced(x).tolist() == [[4.0]] and traced.trace_count == 1


def test_each_call_returns_new_tensors() -> None:
    @tf.function
    def f(x):
        scratch = torch.zeros(3)
        scratch += x  # a local tensor written in place: its value comes from the graph
        return scratch, torch.ones(2)

    first, ones = f(torch.ones(3))
    second, _ = f(torch.full((3,), 2.0))
    ones.mul_(7.0)
    assert first.tolist() == [1.0, 1.0, 1.0] and second.tolist() == [2.0, 2.0, 2.0]
    assert f(torch.ones(3))[1].tolist() == [1.0, 1.0]


def test_train_eval_and_grad_mode_are_part_of_the_trace() -> None:
    class Noisy(torch.nn.Module):
        def forward(self, x):
            return x * 2.0 if self.training else x

    model = Noisy()
    traced = tf.trace(model, (torch.ones(2),))
    assert traced(torch.ones(2)).tolist() == [2.0, 2.0]
    model.eval()
    assert traced(torch.ones(2)).tolist() == [1.0, 1.0]
    with torch.no_grad():
        traced(torch.ones(2))
    assert traced.trace_count == 3


def test_autograd_grad_inside_a_trace_says_what_to_use() -> None:
    w = torch.ones(2, requires_grad=True)

    @tf.function
    def f(x):
        return torch.autograd.grad((x * w).sum(), [w])

    with pytest.raises(tf.TracingError, match="loss.backward"):
        f(torch.ones(2))
