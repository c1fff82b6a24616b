"""Per-thread state of the dynamic front end: grad mode, anomaly mode, interceptors, observers.

PyTorch keeps grad mode per thread; so does tapeflow, with every other switch the dispatch
reads. Each test is bounded (threads are joined with a timeout) and takes well under a
second or two.
"""

from __future__ import annotations

import doctest
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import tapeflow.dynamic as torch
from tapeflow.dynamic import interop, thread_state

JOIN_S = 60  # a bound, not a timing assertion: a hung thread fails the test instead of the run


def _run_threads(targets: list[Callable[[], Any]]) -> list[Any]:
    """Runs each target in its own thread; returns results, re-raising the first error."""
    results: list[Any] = [None] * len(targets)
    errors: list[BaseException] = []

    def run(i: int, target: Callable[[], Any]) -> None:
        try:
            results[i] = target()
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, t)) for i, t in enumerate(targets)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(JOIN_S)
        assert not t.is_alive(), "a thread did not finish"
    if errors:
        raise errors[0]
    return results


def _train(seed: int, steps: int) -> tuple[list[float], list[np.ndarray]]:
    """A small model trained with SGD (momentum) from ``seed``: losses and final weights."""
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(rng.standard_normal((8, 3)).astype(np.float32))
    y = torch.from_numpy(rng.standard_normal((8, 1)).astype(np.float32))
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    with torch.no_grad():  # weights from this thread's own generator (torch's is process-wide)
        for p in model.parameters():
            p.copy_(torch.from_numpy(rng.uniform(-0.5, 0.5, tuple(p.shape)).astype(np.float32)))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()  # runs under no_grad: in this thread only
        with torch.no_grad():
            losses.append(float(loss.item()))
    return losses, [p.detach().numpy().copy() for p in model.parameters()]


def test_four_threads_each_train_their_own_model_exactly_as_alone() -> None:
    steps = 500
    alone = [_train(seed, steps) for seed in range(4)]
    together = _run_threads([lambda s=seed: _train(s, steps) for seed in range(4)])
    for (losses, weights), (want_losses, want_weights) in zip(together, alone, strict=True):
        assert losses == want_losses  # the same arithmetic in the same order: the same bits
        for got, want in zip(weights, want_weights, strict=True):
            np.testing.assert_array_equal(got, want)
        assert losses[-1] < losses[0]


def test_no_grad_in_one_thread_leaves_another_recording() -> None:
    inside, checked = threading.Event(), threading.Event()
    w = torch.ones(2, requires_grad=True)

    def quiet() -> bool:
        with torch.no_grad():
            inside.set()
            assert checked.wait(JOIN_S)
            return (w * 2).requires_grad

    def loud() -> tuple[bool, bool]:
        assert inside.wait(JOIN_S)  # the other thread is inside no_grad now
        try:
            return (w * 2).requires_grad, torch.is_grad_enabled()
        finally:
            checked.set()

    quiet_result, loud_result = _run_threads([quiet, loud])
    assert quiet_result is False
    assert loud_result == (True, True)
    assert torch.is_grad_enabled() and (w * 2).requires_grad  # nothing leaked into this one


def test_a_new_thread_starts_with_grad_mode_on_and_anomaly_mode_off() -> None:
    with torch.no_grad(), torch.autograd.detect_anomaly():
        seen = _run_threads([lambda: (torch.is_grad_enabled(),
                                      torch.autograd.is_anomaly_enabled())])
        assert not torch.is_grad_enabled() and torch.autograd.is_anomaly_enabled()
    assert seen == [(True, False)]


def test_interleaved_no_grad_exits_restore_each_threads_own_mode() -> None:
    barrier = threading.Barrier(4)

    def work(off: bool) -> list[bool]:
        seen = []
        for _ in range(50):
            with torch.set_grad_enabled(not off):
                barrier.wait(JOIN_S)
                seen.append(torch.is_grad_enabled())
            seen.append(torch.is_grad_enabled())
        return seen

    results = _run_threads([lambda o=i % 2 == 0: work(o) for i in range(4)])
    for i, seen in enumerate(results):
        inside = i % 2 != 0
        assert seen == [inside, True] * 50


def test_an_interceptor_sees_only_its_own_threads_ops() -> None:
    seen: list[str] = []
    started, done = threading.Event(), threading.Event()

    class Recorder:
        def apply(self, op: Any, args: Any, attrs: Any, label: Any) -> Any:
            seen.append(op.name)
            return NotImplemented  # run it eagerly

        def apply_(self, op: Any, target: Any, args: Any, attrs: Any, label: Any) -> Any:
            seen.append(op.name + "_")
            return NotImplemented

        def step(self, optimizer: Any, *args: Any, **kwargs: Any) -> Any:
            seen.append("step")
            return None  # taken over: the eager step does not run

        def zero_grad(self, params: list[Any]) -> None:
            seen.append(f"zero_grad({len(params)})")

    w = torch.nn.Parameter(torch.ones(2))
    opt = torch.optim.SGD([w], lr=1.0)

    def other() -> list[float]:
        assert started.wait(JOIN_S)
        (w * 3.0).sum().backward()
        opt.step()  # eager: this thread has no interceptor
        done.set()
        return w.tolist()

    def intercepted() -> float:
        with interop.intercepting(Recorder()):
            started.set()
            assert done.wait(JOIN_S)
            opt.zero_grad()
            opt.step()
            return (torch.ones(1) * 2.0).item()

    other_result, value = _run_threads([other, intercepted])
    assert other_result == [-2.0, -2.0]  # the eager step of the other thread was applied
    assert value == 2.0
    assert seen == ["zero_grad(1)", "step", "mul"]
    assert thread_state.current_interceptor() is None


def test_interceptors_nest_and_must_pop_in_order() -> None:
    a, b = object(), object()
    thread_state.push_interceptor(a)
    thread_state.push_interceptor(b)
    try:
        with pytest.raises(RuntimeError, match="innermost"):
            thread_state.pop_interceptor(a)
    finally:
        thread_state.pop_interceptor(b)
        thread_state.pop_interceptor(a)
    assert thread_state.current_interceptor() is None


def test_an_observer_sees_this_threads_kernels_and_backward() -> None:
    events: list[tuple[str, Any]] = []
    w = torch.ones(2, requires_grad=True)
    with interop.observing(lambda event, what: events.append((event, what))):
        _run_threads([lambda: (torch.ones(3) * 2.0).sum()])  # another thread: not seen
        (w * 2.0).sum().backward()
    assert events[:3] == [("kernel", "mul"), ("kernel", "sum"), ("backward", None)]
    assert events[-1] == ("backward_end", None)
    assert not thread_state.STATE.observers


def test_public_tensor_access_shares_memory_and_counts_versions() -> None:
    t = torch.zeros(3)
    before = interop.version_of(t)
    interop.assign(t, np.arange(3.0))
    assert t.tolist() == [0.0, 1.0, 2.0] and interop.version_of(t) == before + 1
    assert interop.array_of(t) is interop.array_of(t)
    view = t[1:]
    assert interop.base_of(view) is t and interop.base_of(t) is None
    made = interop.wrap(np.ones(2, dtype=np.float32), requires_grad=True)
    assert made.is_leaf and made.requires_grad


@pytest.mark.parametrize("module", ["thread_state", "interop", "heap", "grad_mode"])
def test_docstring_examples_run(module: str) -> None:
    import importlib

    result = doctest.testmod(importlib.import_module(f"tapeflow.dynamic.{module}"))
    assert result.failed == 0 and result.attempted > 0
