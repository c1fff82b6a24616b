"""The raw engine's fused sweep (dynamic/sweep_raw.py) walks as graphs/sweep.py does.

``backward()`` on arrays runs :func:`tapeflow.dynamic.sweep_raw.raw_sweep`, the shared
walk fused with the raw engine's rules. These tests run the same graphs through the shared
``reverse_sweep`` with the same engine (``sweep = None`` turns the fused loop off) and
require the same nodes in the same order and the same gradients, bit for bit: diamonds,
shared leaves, broadcast biases, a node reached twice by one rule (``x * x``), inputs with no
gradient, several seeds, and a heap that holds older nodes while a chain runs past them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import pytest
import tapeflow.dynamic as torch
from tapeflow.dynamic import engine, engine_raw


class _SharedWalk(engine_raw.RawEngine):
    """The raw engine without its fused sweep: graphs/sweep.py's reverse_sweep walks."""

    __slots__ = ()
    sweep = None


@contextlib.contextmanager
def _walk(fused: bool) -> Iterator[None]:
    """backward() with the fused sweep (fused=True) or the shared walk."""
    real = engine.RawEngine
    if not fused:
        engine.RawEngine = _SharedWalk  # type: ignore[misc]
    try:
        yield
    finally:
        engine.RawEngine = real  # type: ignore[misc]


def _model(seed: int, dtype: str, order: list[str] | None) -> tuple[list[object], list[object]]:
    """A small graph with every shape the walk meets; ``order`` (unless None) receives each
    node's name when its gradient arrives (a hook on every node), in the order they run."""
    rng = np.random.default_rng(seed)
    leaf = lambda *shape: torch.tensor(rng.standard_normal(shape).astype(dtype),  # noqa: E731
                                       requires_grad=True)
    w, b, v, u = leaf(3, 4), leaf(4), leaf(4, 4), leaf(4)
    x = torch.tensor(rng.standard_normal((5, 3)).astype(dtype))  # needs no gradient
    h = torch.tanh(x @ w + b)  # a broadcast bias
    sq = h * h  # one rule sends two gradients to one node
    chain = h
    for _ in range(6):  # a chain that runs past the older nodes waiting in the heap
        chain = (chain * 0.5).exp().log() + u
    branch = torch.sigmoid(h @ v) * sq  # a diamond back to h
    out = (chain.sum() + branch.mean()) * (w * w).sum()  # w reached by two paths
    second = (sq - u).pow(2).mean()  # a second seed into the same graph
    names = {"h": h, "sq": sq, "chain": chain, "branch": branch, "out": out,
             "second": second}
    for name, t in names.items() if order is not None else ():
        t.grad_fn.register_hook(lambda g, name=name: order.append(name))
    return [out, second], [w, b, v, u]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_fused_sweep_runs_the_shared_walk_bit_for_bit(seed: int, dtype: str) -> None:
    results = {}
    for fused in (True, False):
        order: list[str] = []
        outs, leaves = _model(seed, dtype, order)
        with _walk(fused):
            torch.autograd.backward(outs)
        results[fused] = (order, [p.grad.numpy().tobytes() for p in leaves])
    assert results[True][0] == results[False][0]
    assert results[True][0][0] == "second"  # newest first
    assert results[True][1] == results[False][1]


def test_without_hooks_the_gradients_are_the_shared_walks() -> None:
    # the usual path: no hook on any node, so the fused loop checks versions inline
    grads = {}
    for fused in (True, False):
        outs, leaves = _model(4, "float32", None)
        with _walk(fused):
            torch.autograd.backward(outs)
        grads[fused] = [p.grad.numpy().tobytes() for p in leaves]
    assert grads[True] == grads[False]


def test_seeds_into_one_node_are_summed_as_in_the_shared_walk() -> None:
    grads = {}
    for fused in (True, False):
        x = torch.tensor(np.linspace(-1, 1, 6, dtype=np.float32), requires_grad=True)
        y = torch.tanh(x * 3.0)
        seeds = [torch.tensor(np.full(6, v, dtype=np.float32)) for v in (0.1, 0.7, 1.3)]
        with _walk(fused):
            torch.autograd.backward([y, y, y], seeds)
        grads[fused] = x.grad.numpy().tobytes()
    assert grads[True] == grads[False]


def test_a_freed_graph_raises_and_retain_graph_keeps_it() -> None:
    x = torch.ones(3, requires_grad=True)
    y = x.exp()
    z = (y * y).sum()
    z.backward(retain_graph=True)
    z.backward()
    assert x.grad.tolist() == pytest.approx([4 * np.e ** 2] * 3)
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        z.backward()


def test_a_changed_saved_tensor_still_raises_in_the_fused_loop() -> None:
    x = torch.ones(3, requires_grad=True)
    y = x.exp()
    z = (y * y).sum()
    with torch.no_grad():
        y.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.backward()
    assert x.grad is None


def test_user_code_in_the_sweep_runs_with_grad_mode_off_and_it_comes_back() -> None:
    # the fused sweep switches grad mode off only at the first node whose hook or custom
    # backward may record; a plain sweep leaves it alone
    seen: list[bool] = []

    class Twice(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):  # type: ignore[no-untyped-def]
            return x * 2

        @staticmethod
        def backward(ctx, g):  # type: ignore[no-untyped-def]
            seen.append(torch.is_grad_enabled())
            return g * 2

    x = torch.ones(3, requires_grad=True)
    y = x.exp()
    y.grad_fn.register_hook(lambda g: seen.append(torch.is_grad_enabled()))
    Twice.apply(y).sum().backward()
    assert seen == [False, False] and torch.is_grad_enabled()
    assert x.grad.tolist() == pytest.approx([2 * np.e] * 3)

    def fails(g):  # type: ignore[no-untyped-def]
        raise ValueError("hook failed")

    z = x.exp()
    z.grad_fn.register_hook(fails)
    with pytest.raises(ValueError, match="hook failed"):
        (z * 3.0).sum().backward()
    assert torch.is_grad_enabled()
    w = torch.ones(2, requires_grad=True)
    v = w.exp()
    v.grad_fn.register_hook(lambda g: seen.append(torch.is_grad_enabled()))
    total = v.sum()
    with torch.no_grad():
        total.backward()
        assert not torch.is_grad_enabled()  # restored to the caller's mode, off here
    assert seen[-1] is False and w.grad.tolist() == pytest.approx([np.e] * 2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_r_on_an_array_and_a_python_float_has_numpys_bits(dtype: type) -> None:
    # R.<op> hands a ufunc a cached 0-d array for a Python float: the bits must be those of
    # the float itself (NEP 50), and a zero must keep its sign (0.0 == -0.0 as a dict key)
    from tapeflow.runtime import REGISTRY, R

    rng = np.random.default_rng(5)
    a = (rng.standard_normal(4000) * 10.0 ** rng.integers(-30, 30, 4000)).astype(dtype)
    a[:5] = [0.0, -0.0, np.inf, -np.inf, np.nan]
    values = [2.0, 0.1, 1 / 3, 0.0, -0.0, 1e-50, 3.5e38, 1e300, float("inf"), float("nan")]
    ops = [op for op in REGISTRY.values() if op.ufunc and op.arity == 2 and op.name != "matmul"]
    assert {"add", "mul", "div", "pow", "maximum", "lt"} <= {op.name for op in ops}
    for value in values * 2:  # (the second round reads the cache)
        for op in ops:
            with np.errstate(all="ignore"):
                expect = getattr(np, op.ufunc)(a, value)
                got = getattr(R, op.name)(a, value)
            assert got.dtype == expect.dtype and got.tobytes() == expect.tobytes(), (op, value)
