"""What each thread keeps for itself: grad mode, anomaly mode, interceptors and observers.

PyTorch keeps grad mode per thread (a new thread starts with it on, whatever the thread that
started it is doing), so one thread's ``no_grad()`` never stops another thread's training.
tapeflow keeps every switch the dynamic front end reads that way, in one
``threading.local`` record:

* grad mode (``no_grad``, ``enable_grad``, ``set_grad_enabled``, and ``backward()`` while it
  runs gradient rules);
* anomaly mode (``detect_anomaly``);
* the interceptor stack: an object that takes over ops, ``optimizer.step()`` and
  ``zero_grad()`` (``tapeflow.static.function`` traces with one; see
  :mod:`tapeflow.dynamic.interop`);
* kernel observers (``visualize.memory_trace`` samples memory with one);
* the GEMM library of 2-D matmuls (``torch.backends.blas.set_provider``; None: numpy's).

The op dispatch reads all of it once per op, as the tuple :attr:`ThreadState.hot`, which
every setter below keeps current: one thread-local lookup instead of three.

Example:
    >>> import threading
    >>> set_grad(False)
    True
    >>> seen = []
    >>> t = threading.Thread(target=lambda: seen.append(grad_enabled())); t.start(); t.join()
    >>> seen, grad_enabled()
    ([True], False)
    >>> _ = set_grad(True)
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

#: An observer: called with ("kernel", op name) after a kernel made its output, and with
#: ("backward", None) / ("backward_end", None) around a backward sweep.
Observer = Callable[[str, Any], None]


class ThreadState(threading.local):
    """One thread's switches (``threading.local`` runs ``__init__`` once in each thread)."""

    def __init__(self) -> None:
        self.grad = True
        self.anomaly = False
        self.interceptors: list[Any] = []
        self.observers: list[Observer] = []
        self.gemm: str | None = None  # a runtime/blas.py provider name, or "auto"
        #: (interceptor or None, whether any per-op check runs, grad mode): the dispatch's
        #: per-op read. "Checks" are anomaly mode's NaN check and the kernel observers.
        self.hot: tuple[Any, bool, bool] = (None, False, True)

    def refresh(self) -> None:
        top = self.interceptors[-1] if self.interceptors else None
        self.hot = (top, self.anomaly or bool(self.observers), self.grad)


STATE = ThreadState()


def grad_enabled() -> bool:
    """Whether this thread records ops on tensors that require grad."""
    return STATE.grad


def set_grad(enabled: bool) -> bool:
    """Sets this thread's grad mode; returns the previous one (to restore it)."""
    state = STATE
    previous: bool = state.grad
    state.grad = enabled
    # only the grad slot of ``hot`` changes (every setter keeps the rest current): cheaper
    # than refresh(), and backward() switches grad mode twice per call
    interceptor, checks, _ = state.hot
    state.hot = (interceptor, checks, enabled)
    return previous


def anomaly_enabled() -> bool:
    """Whether anomaly detection checks this thread's ops."""
    return STATE.anomaly


def set_anomaly(enabled: bool) -> bool:
    """Turns this thread's anomaly detection on or off; returns the previous setting."""
    return _swap("anomaly", enabled)


def _swap(switch: str, value: bool) -> bool:
    state = STATE
    previous: bool = getattr(state, switch)
    setattr(state, switch, value)
    state.refresh()
    return previous


def current_interceptor() -> Any:
    """The innermost interceptor pushed in this thread, or None."""
    return STATE.hot[0]


def push_interceptor(interceptor: Any) -> None:
    """Makes ``interceptor`` this thread's current one (until the matching pop)."""
    state = STATE
    state.interceptors.append(interceptor)
    state.refresh()


def pop_interceptor(interceptor: Any) -> None:
    """Removes ``interceptor``, which must be this thread's innermost one."""
    state = STATE
    if not state.interceptors or state.interceptors[-1] is not interceptor:
        raise RuntimeError(f"pop_interceptor({interceptor!r}): it is not this thread's "
                           "innermost interceptor (pushes and pops must nest)")
    state.interceptors.pop()
    state.refresh()


def add_observer(observer: Observer) -> None:
    """Calls ``observer`` for every kernel and backward sweep this thread runs."""
    state = STATE
    state.observers.append(observer)
    state.refresh()


def remove_observer(observer: Observer) -> None:
    """Stops calling ``observer`` (added with :func:`add_observer` in this thread)."""
    state = STATE
    state.observers.remove(observer)
    state.refresh()


def notify(event: str, what: Any = None) -> None:
    """Tells this thread's observers about ``event`` (a kernel's op name, a backward sweep)."""
    for observer in list(STATE.observers):
        observer(event, what)


__all__ = ["STATE", "Observer", "ThreadState", "add_observer", "anomaly_enabled",
           "current_interceptor", "grad_enabled", "notify", "pop_interceptor",
           "push_interceptor", "remove_observer", "set_anomaly", "set_grad"]
