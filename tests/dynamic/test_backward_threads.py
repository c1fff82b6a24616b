"""backward() under threads and interrupts (issue 18 items 1, 4 and 7).

Threads: backward() from several threads into one shared leaf adds every gradient, and
concurrent training of separate models gives exactly the serial results (no kernel reads
state that another thread's backward left behind). Interrupts: a KeyboardInterrupt raised
anywhere in backward() leaves every ``.grad`` either as it was or fully updated.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import pytest
import tapeflow.dynamic as torch
from tapeflow.dynamic import engine


@contextmanager
def frequent_thread_switches() -> Iterator[None]:
    """Makes the interpreter switch threads every microsecond, so races show up quickly."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def run_threads(count: int, work: Callable[[int], None]) -> None:
    """``work(i)`` in ``count`` threads started together; their errors fail the test, and
    so does a thread still running after 30 s (a deadlock must not hang the suite)."""
    start = threading.Barrier(count)  # all at once: the races are in the first steps
    outcomes: dict[int, BaseException | None] = {}

    def body(i: int) -> None:
        try:
            start.wait()
            work(i)
            outcomes[i] = None
        except BaseException as exc:  # noqa: BLE001 - reported in the main thread
            outcomes[i] = exc

    threads = [threading.Thread(target=body, args=(i,), daemon=True) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30.0)
    assert len(outcomes) == count, "a thread did not finish"
    assert not [exc for exc in outcomes.values() if exc is not None], outcomes


def test_concurrent_backward_into_a_shared_leaf_adds_every_gradient() -> None:
    # the first gradients race most (.grad is None: assigned, not added): many short rounds
    with frequent_thread_switches():
        for _ in range(300):
            w = torch.ones(3, requires_grad=True)
            losses = [(w * 1.0).sum() for _ in range(20)]
            run_threads(4, lambda i: [loss.backward() for loss in losses[i::4]])
            assert w.grad.tolist() == [20.0, 20.0, 20.0]


def _model_and_data(seed: int) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal((5, 6)), rng.standard_normal((5, 2))
    return model, torch.tensor(x), torch.tensor(y)


def _train(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
           steps: int) -> list[np.ndarray]:
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(steps):
        opt.zero_grad()
        h = x
        for _ in range(4):  # the same weights read transposed several times per sweep
            h = model(torch.cat([h[:, :2] * 0.5, x[:, 2:]], dim=1)) @ torch.ones(2, 6) * 0.1 + x
        loss = ((model(h) - y) ** 2).mean()
        loss.backward()
        opt.step()
    return [p.detach().numpy().copy() for p in model.parameters()]


def test_threads_training_their_own_models_match_a_serial_run() -> None:
    seeds, steps = [0, 1, 2, 3], 15
    serial = [_train(*_model_and_data(seed), steps) for seed in seeds]
    setups = [_model_and_data(seed) for seed in seeds]  # (the seeded generator is global)
    results: dict[int, list[np.ndarray]] = {}
    with frequent_thread_switches():
        run_threads(4, lambda i: results.__setitem__(i, _train(*setups[i], steps)))
    for i in range(4):
        for got, want in zip(results[i], serial[i], strict=True):
            np.testing.assert_array_equal(got, want)
    # what a backward sweep leaves behind is used by nobody: matmul reads no module state
    from tapeflow.runtime import ops_nn

    assert not [name for name in vars(ops_nn) if "TRANSPOSED" in name.upper()]


class _Interrupting(torch.autograd.Function):
    """Identity forward; its backward is Ctrl-C arriving in the middle of the sweep."""

    @staticmethod
    def forward(ctx, x):  # type: ignore[no-untyped-def]
        return x * 1.0

    @staticmethod
    def backward(ctx, grad):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt


def _two_leaves_with_grads() -> tuple[torch.Tensor, torch.Tensor, list[list[float]]]:
    a = torch.tensor([1.0, 2.0], requires_grad=True)
    b = torch.tensor([3.0], requires_grad=True)
    (a.sum() + b.sum()).backward()
    return a, b, [a.grad.tolist(), b.grad.tolist()]


def test_interrupt_in_a_rule_or_a_hook_changes_no_grad() -> None:
    a, b, before = _two_leaves_with_grads()
    with pytest.raises(KeyboardInterrupt):
        ((a * 2).sum() + _Interrupting.apply(b).sum()).backward()
    assert [a.grad.tolist(), b.grad.tolist()] == before

    def interrupt(grad):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt

    b.register_hook(interrupt)  # leaf hooks run after a's gradient is ready, before writes
    with pytest.raises(KeyboardInterrupt):
        ((a * 2).sum() + (b * 2).sum()).backward()
    assert [a.grad.tolist(), b.grad.tolist()] == before


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(),
                    reason="signals reach the main thread only")
def test_ctrl_c_during_the_grad_writes_is_delivered_after_the_last(
        monkeypatch: pytest.MonkeyPatch) -> None:
    a, b, _ = _two_leaves_with_grads()
    fresh = torch.tensor([5.0], requires_grad=True)  # no .grad yet: assigned, not added
    real = engine._accumulate
    calls: list[int] = []

    def interrupted_after_first(*args):  # type: ignore[no-untyped-def]
        real(*args)
        calls.append(1)
        if len(calls) == 1:
            signal.raise_signal(signal.SIGINT)  # Ctrl-C between two writes

    monkeypatch.setattr(engine, "_accumulate", interrupted_after_first)
    with pytest.raises(KeyboardInterrupt):
        ((a * 2).sum() + (b * 3).sum() + (fresh * 4).sum()).backward()
    assert len(calls) == 3  # every write happened before the KeyboardInterrupt
    assert (a.grad.tolist(), b.grad.tolist(), fresh.grad.tolist()) == ([3.0, 3.0], [4.0], [4.0])
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
