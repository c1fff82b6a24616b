"""backward(inputs=...) writes ``.grad`` as plain backward() does: through the engine's one
locked step that holds Ctrl-C back (dynamic/engine.py), so threads sharing a tensor add
every gradient and an interrupt leaves every ``.grad`` written or none."""

from __future__ import annotations

import signal
import sys
import threading

import pytest
import tapeflow.dynamic as torch
from tapeflow.dynamic import engine


def _in_threads(count: int, work) -> None:  # type: ignore[no-untyped-def]
    start = threading.Barrier(count)  # all at once: the first writes (.grad None) race most
    errors: list[BaseException] = []

    def body(i: int) -> None:
        try:
            start.wait()
            work(i)
        except BaseException as exc:  # noqa: BLE001 - reported in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(i,), daemon=True) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30.0)
    assert not any(t.is_alive() for t in threads), "a thread did not finish"
    assert not errors, errors


def test_concurrent_backward_with_inputs_adds_every_gradient() -> None:
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often, so a race shows up
    try:
        for _ in range(200):
            w = torch.ones(3, requires_grad=True)
            other = torch.ones(3, requires_grad=True)
            losses = [(w * other).sum() for _ in range(16)]
            _in_threads(4, lambda i: [loss.backward(inputs=[w]) for loss in losses[i::4]])
            assert w.grad.tolist() == [16.0, 16.0, 16.0]
            assert other.grad is None  # not listed in inputs
    finally:
        sys.setswitchinterval(previous)


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(),
                    reason="signals reach the main thread only")
def test_ctrl_c_during_backward_with_inputs_comes_after_the_last_write(
        monkeypatch: pytest.MonkeyPatch) -> None:
    a = torch.tensor([1.0, 2.0], requires_grad=True)
    b = torch.tensor([3.0], requires_grad=True)
    (a.sum() + b.sum()).backward()
    fresh = torch.tensor([5.0], requires_grad=True)  # no .grad yet: assigned, not added
    real = engine._accumulate
    calls: list[int] = []

    def interrupted_after_first(*args):  # type: ignore[no-untyped-def]
        real(*args)
        calls.append(1)
        if len(calls) == 1:
            signal.raise_signal(signal.SIGINT)  # Ctrl-C between two writes

    monkeypatch.setattr(engine, "_accumulate", interrupted_after_first)
    loss = (a * 2).sum() + (b * 3).sum() + (fresh * 4).sum()
    with pytest.raises(KeyboardInterrupt):
        loss.backward(inputs=[a, b, fresh])
    assert len(calls) == 3  # every write happened before the KeyboardInterrupt
    assert (a.grad.tolist(), b.grad.tolist(), fresh.grad.tolist()) == ([3.0, 3.0], [4.0], [4.0])
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_backward_with_inputs_and_create_graph_keeps_the_gradient_differentiable() -> None:
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    (x ** 3).sum().backward(inputs=[x], create_graph=True)
    assert x.grad.requires_grad and x.grad.tolist() == [3.0, 12.0]
    (second,) = torch.autograd.grad(x.grad.sum(), [x])
    assert second.tolist() == [6.0, 12.0]
    (x * 1.0).sum().backward(inputs=[x])  # a later backward adds into it
    assert x.grad.tolist() == [4.0, 13.0]
