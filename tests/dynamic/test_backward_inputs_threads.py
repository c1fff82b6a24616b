"""backward(inputs=...) writes ``.grad`` as plain backward() does: through the engine's one
locked step that holds Ctrl-C back (dynamic/engine.py), so threads sharing a tensor add
every gradient and an interrupt leaves every ``.grad`` written or none."""

from __future__ import annotations

import signal
import sys
import threading
from concurrent.futures import ThreadPoolExecutor, wait

import pytest
import tapeflow.dynamic as torch
from tapeflow.dynamic import engine


def _in_threads(count: int, work) -> None:  # type: ignore[no-untyped-def]
    """``work(i)`` in ``count`` threads released together (the first writes, to a .grad
    still None, race most); a thread's error fails the test, and so does one still running
    after 30 s (a deadlock must not hang the suite)."""
    start = threading.Barrier(count)
    pool = ThreadPoolExecutor(count)
    runs = [pool.submit(lambda i=i: (start.wait(), work(i))) for i in range(count)]
    done, running = wait(runs, timeout=30.0)
    pool.shutdown(wait=not running)
    assert not running, "a thread did not finish"
    for run in done:
        run.result()  # raises the thread's error


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
    a, b = torch.tensor([1.0, 2.0], requires_grad=True), torch.tensor([3.0], requires_grad=True)
    a.grad = torch.tensor([1.0, 1.0])  # added into
    written: list[object] = []  # the targets, in the order their .grad was written
    write = engine._accumulate

    def ctrl_c_while_writing_a(target, *rest):  # type: ignore[no-untyped-def]
        write(target, *rest)
        written.append(target)
        if target is a:
            signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(engine, "_accumulate", ctrl_c_while_writing_a)
    with pytest.raises(KeyboardInterrupt):
        ((a * 2).sum() + (b * 3).sum()).backward(inputs=[a, b])
    assert written == [a, b]  # b's write still came before the KeyboardInterrupt
    assert (a.grad.tolist(), b.grad.tolist()) == ([3.0, 3.0], [3.0])
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_backward_with_inputs_and_create_graph_keeps_the_gradient_differentiable() -> None:
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    (x ** 3).sum().backward(inputs=[x], create_graph=True)
    assert x.grad.requires_grad and x.grad.tolist() == [3.0, 12.0]
    (second,) = torch.autograd.grad(x.grad.sum(), [x])
    assert second.tolist() == [6.0, 12.0]
    (x * 1.0).sum().backward(inputs=[x])  # a later backward adds into it
    assert x.grad.tolist() == [4.0, 13.0]
