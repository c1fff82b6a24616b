"""Grad mode: whether ops record themselves on the tape (``no_grad``, ``enable_grad``).

Grad mode belongs to the thread (as in PyTorch): ``no_grad()`` in one thread leaves every
other thread recording, and a new thread starts with grad mode on. The flag itself lives in
:mod:`tapeflow.dynamic.thread_state`; read it with :func:`is_grad_enabled`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

from .thread_state import grad_enabled, set_grad

T = TypeVar("T", bound=Callable[..., Any])


def is_grad_enabled() -> bool:
    """Whether ops on tensors that require grad are being recorded.

    Example:
        >>> with no_grad():
        ...     is_grad_enabled()
        False
    """
    return grad_enabled()


class _GradMode:
    """A context manager (and decorator) that sets grad mode and restores it on exit."""

    mode = True

    def __new__(cls, *args: Any) -> Any:
        # bare decorator use, ``@torch.no_grad`` without parentheses, as PyTorch 2 allows
        if cls is not set_grad_enabled and len(args) == 1 and callable(args[0]):
            return cls()(args[0])
        return super().__new__(cls)

    def __init__(self, *args: Any) -> None:
        self._previous: list[bool] = []

    def __enter__(self) -> None:
        self._previous.append(set_grad(self.mode))

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        set_grad(self._previous.pop())

    def __call__(self, fn: T) -> T:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with type(self)():
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


class no_grad(_GradMode):  # noqa: N801 - PyTorch's spelling
    """Ops inside record nothing; results do not require grad.

    Example:
        >>> import tapeflow.dynamic as torch
        >>> w = torch.ones(2, requires_grad=True)
        >>> with torch.no_grad():
        ...     (w * 2).requires_grad
        False
    """

    mode = False


class enable_grad(_GradMode):  # noqa: N801
    """Turns recording back on inside a ``no_grad`` block."""

    mode = True


class set_grad_enabled(_GradMode):  # noqa: N801
    """Sets grad mode to ``mode`` (as a call, or as a context manager that restores it)."""

    def __init__(self, mode: bool) -> None:
        super().__init__()
        self.mode = bool(mode)
        self._previous.append(set_grad(self.mode))

    def __enter__(self) -> None:
        pass

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        set_grad(self._previous.pop())
