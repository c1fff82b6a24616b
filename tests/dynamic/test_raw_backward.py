"""backward() on raw arrays (dynamic/engine_raw.py) computes what the tensor engine computes.

A plain backward runs the gradient rules on arrays; a kernel observer (or anomaly mode,
create_graph, an interceptor, a GEMM provider) sends it through the tensor engine, which
dispatches every rule op as an unrecorded tensor op. The two must give the same gradients
bit for bit, for every differentiable registry op (the inputs of tests/runtime/vjp_cases.py),
and must show user code tensors wherever it sees a gradient.
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tapeflow.dynamic as torch
from tapeflow.dynamic import engine, thread_state
from tapeflow.dynamic.dispatch import apply
from tapeflow.runtime import REGISTRY, R, ShapeError, evaluate, get

_SPEC = importlib.util.spec_from_file_location(
    "vjp_cases_for_raw", Path(__file__).resolve().parents[1] / "runtime" / "vjp_cases.py")
assert _SPEC is not None and _SPEC.loader is not None
CASES = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(CASES)


@contextlib.contextmanager
def _engine(tensor: bool) -> Iterator[None]:
    """The tensor engine while a kernel observer watches (tensor=True), else the raw one."""
    with contextlib.ExitStack() as stack:
        if tensor:
            observer = lambda event, what: None  # noqa: E731
            thread_state.add_observer(observer)
            stack.callback(thread_state.remove_observer, observer)  # (even if backward raises)
        yield


def _engine_used(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Notes the class of each engine run_backward makes."""
    seen: list[str] = []
    for name in ("RawEngine", "_Eager"):
        real = getattr(engine, name)

        def made(*args, _real=real, **kwargs):  # type: ignore[no-untyped-def]
            seen.append(_real.__name__)
            return _real(*args, **kwargs)

        monkeypatch.setattr(engine, name, made)
    return seen


def _grads(op_name: str, inputs: tuple, attrs: dict, dtype: type, tensor_engine: bool) -> list:
    """The gradients of sum(op(inputs) * w) for the float inputs, from one engine."""
    rng = np.random.default_rng(3)
    # float inputs become tensors, save a numpy scalar past the first input (pow's
    # exponent), which stays a number
    args = [torch.tensor(np.asarray(x, dtype), requires_grad=True)
            if np.asarray(x).dtype.kind == "f" and not (i and isinstance(x, np.generic)) else x
            for i, x in enumerate(inputs)]
    out = apply(op_name, *args, **attrs)
    weight = torch.tensor(rng.standard_normal(out.shape).astype(out.detach().numpy().dtype))
    loss = (out * weight).sum()
    with _engine(tensor_engine):
        loss.backward()
    return [(a.grad.numpy().dtype, a.grad.numpy().tobytes()) if a.grad is not None else None
            for a in args if isinstance(a, torch.Tensor)]


@pytest.mark.parametrize("op_name", sorted(n for n, op in REGISTRY.items() if op.differentiable))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_rule_on_arrays_matches_the_tensor_engine_bit_for_bit(
        op_name: str, dtype: type, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _engine_used(monkeypatch)
    for inputs, attrs in CASES.CASES[op_name]:
        raw = _grads(op_name, inputs, attrs, dtype, tensor_engine=False)
        tensor = _grads(op_name, inputs, attrs, dtype, tensor_engine=True)
        assert raw == tensor, f"{op_name} {attrs}"
    assert "RawEngine" in seen and "_Eager" in seen


@pytest.mark.parametrize("scalar", [np.float64(0.1), np.float32(3.0), np.int64(3)])
def test_a_numpy_scalar_operand_stays_weak_in_the_rules(scalar: np.generic) -> None:
    # x * np.float64(0.1) on float32 is float32 (PyTorch's weak scalar): its rule multiplies
    # by the same weak 0.1, not by a float64 array that would round g * 0.1 differently
    grads = []
    for tensor_engine in (False, True):
        x = torch.tensor(np.linspace(0.5, 2.0, 999, dtype=np.float32), requires_grad=True)
        y = (x * scalar + x ** scalar) / scalar
        with _engine(tensor_engine):
            y.backward(torch.tensor(np.linspace(-1.0, 1.7, 999, dtype=np.float32)))
        assert x.grad.dtype == torch.float32
        grads.append(x.grad.numpy().tobytes())
    assert grads[0] == grads[1]


def test_hooks_see_tensors_and_their_replacements_flow_on(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    seen = _engine_used(monkeypatch)
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3.0
    y.retain_grad()
    shown: list[object] = []
    y.register_hook(lambda g: shown.append(type(g)) or g * 2.0)
    x.register_hook(lambda g: shown.append(type(g)))
    (y * y).sum().backward()
    assert seen == ["RawEngine"]
    assert shown == [torch.Tensor, torch.Tensor]
    assert y.grad.tolist() == [6.0, 12.0]  # retain_grad's hook ran before the doubling one
    assert x.grad.tolist() == [36.0, 72.0]


def test_autograd_grad_returns_tensors_for_leaves_and_intermediates() -> None:
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    h = x.exp()
    gx, gh = torch.autograd.grad((h * h).sum(), [x, h])
    assert isinstance(gx, torch.Tensor) and isinstance(gh, torch.Tensor)
    np.testing.assert_array_equal(gh.numpy(), 2 * h.detach().numpy())
    np.testing.assert_array_equal(gx.numpy(), gh.numpy() * h.detach().numpy())


def test_a_custom_function_backward_gets_tensors_in_a_raw_sweep() -> None:
    kinds: list[type] = []

    class Cube(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):  # type: ignore[no-untyped-def]
            ctx.save_for_backward(x)
            return x * x * x

        @staticmethod
        def backward(ctx, g):  # type: ignore[no-untyped-def]
            kinds.append(type(g))
            (x,) = ctx.saved_tensors
            return 3 * x * x * g

    x = torch.tensor([1.0, 2.0], requires_grad=True)
    (Cube.apply(x) * 2.0).sum().backward()
    assert kinds == [torch.Tensor] and x.grad.tolist() == [6.0, 24.0]


def test_each_leaf_grad_is_its_own_array() -> None:
    # add's rule hands the same gradient to both inputs: each .grad must be a copy
    a = torch.tensor([1.0, 2.0], requires_grad=True)
    b = torch.tensor([3.0, 4.0], requires_grad=True)
    (a + b).backward(torch.tensor([1.0, 1.0]))
    a.grad.mul_(5.0)
    assert b.grad.tolist() == [1.0, 1.0]


def test_registry_on_float_arrays_matches_evaluate() -> None:
    x = np.linspace(-1.0, 1.0, 6, dtype=np.float32).reshape(2, 3)
    y = np.linspace(0.5, 1.5, 3, dtype=np.float32)
    for name, args, attrs in [("mul", (x, y), {}), ("sub", (1.0, x), {}), ("sum", (x,), {}),
                              ("matmul", (x, x), {"transpose_b": True}), ("tanh", (x,), {}),
                              ("sum_to", (x, y), {}), ("mean", (x,), {"axis": 0})]:
        fast = getattr(R, name)(*args, **attrs)
        slow = evaluate(get(name), list(args), attrs)
        assert type(fast) is np.ndarray and fast.dtype == slow.dtype
        assert fast.tobytes() == slow.tobytes(), name
    with pytest.raises(ShapeError, match="mul"):
        R.mul(x, np.ones(4, np.float32))  # evaluate's error, naming the op and shapes


def test_a_stolen_gradient_is_never_one_someone_else_holds() -> None:
    # .grad takes a gradient array as it is only when nothing else refers to it (PyTorch's
    # AccumulateGrad steals too): the caller's gradient, a retained gradient, a view of
    # one and a hook's tensor must each be copied
    def shares(a: torch.Tensor, b: object) -> bool:
        other = b.numpy() if isinstance(b, torch.Tensor) else b
        return bool(np.shares_memory(a.grad.numpy(), other))

    g = torch.tensor([1.0, 2.0])
    x = torch.tensor([3.0, 4.0], requires_grad=True)
    (x + 1.0).backward(g)
    assert not shares(x, g)

    x = torch.tensor([3.0, 4.0], requires_grad=True)
    y = x + 1.0
    y.retain_grad()
    y.sum().backward()
    assert not shares(x, y.grad)

    x = torch.ones(2, 3, requires_grad=True)
    z = x.reshape(6)
    z.retain_grad()
    (z * 2.0).sum().backward()
    assert not shares(x, z.grad)

    kept: list[torch.Tensor] = []
    x = torch.tensor([3.0, 4.0], requires_grad=True)
    x.register_hook(kept.append)
    (x * 2.0).sum().backward()
    assert not shares(x, kept[0])
    kept[0].mul_(0.0)  # the hook's tensor is its own to change
    assert x.grad.tolist() == [2.0, 2.0]
