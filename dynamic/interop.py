"""Public hooks for code outside ``dynamic/`` that drives the eager front end differently.

``tapeflow.static.function`` traces PyTorch-style code into a static graph with these, and
``visualize.memory_trace`` samples memory with them; neither touches a Tensor's private
fields or patches a class. Three parts:

* **Interceptors** (per thread). While one is pushed, every op the dynamic front end runs in
  that thread goes to its ``apply`` / ``apply_`` first (return ``NotImplemented`` to let the
  op run eagerly), every ``optimizer.step()`` to its ``step`` and every ``zero_grad()`` to its
  ``zero_grad`` (a notice before the gradients are cleared). Other threads are untouched.
* **Observers** (per thread): a callable told about each kernel run and each backward sweep.
* **Tensor access**: a tensor's array, version counter, view base, and new tensors around
  arrays (of a Tensor subclass, with a given autograd history).

Example:
    >>> import tapeflow.dynamic as torch
    >>> class Doubling:
    ...     def apply(self, op, args, attrs, label):
    ...         return NotImplemented if op.name != "exp" else torch.full((1,), 2.0)
    ...     def apply_(self, op, target, args, attrs, label):
    ...         return NotImplemented
    ...     def step(self, optimizer, *args, **kwargs):
    ...         return NotImplemented
    ...     def zero_grad(self, params):
    ...         pass
    >>> with intercepting(Doubling()):
    ...     torch.ones(1).exp().tolist()
    [2.0]
    >>> round(torch.ones(1).exp().item(), 4)
    2.7183
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

from . import dispatch
from .tensor import Tensor
from .thread_state import (
    Observer,
    add_observer,
    current_interceptor,
    pop_interceptor,
    push_interceptor,
    remove_observer,
)


class Interceptor(Protocol):
    """What an interceptor answers (each call may return ``NotImplemented``: run eagerly)."""

    def apply(self, op: Any, args: tuple[Any, ...], attrs: dict[str, Any],
              label: str | None) -> Any:
        """An out-of-place op on ``args`` (the result Tensor, or NotImplemented)."""

    def apply_(self, op: Any, target: Any, args: tuple[Any, ...], attrs: dict[str, Any],
               label: str | None) -> Any:
        """An in-place op on ``target`` (``target`` itself, or NotImplemented)."""

    def step(self, optimizer: Any, *args: Any, **kwargs: Any) -> Any:
        """``optimizer.step(...)`` (None, or NotImplemented for the eager step)."""

    def zero_grad(self, params: list[Any]) -> None:
        """A notice: the ``.grad`` of ``params`` is about to be cleared."""


@contextlib.contextmanager
def intercepting(interceptor: Interceptor) -> Iterator[Interceptor]:
    """Pushes ``interceptor`` for this thread inside the block (pops it on the way out)."""
    push_interceptor(interceptor)
    try:
        yield interceptor
    finally:
        pop_interceptor(interceptor)


def intercepted_step(step: Callable[..., Any]) -> Callable[..., Any]:
    """``step`` of an optimizer class, asking this thread's interceptor first.

    ``Optimizer`` applies it to the ``step`` of every subclass when the class is made, so a
    trace in one thread takes over the steps of that thread only.
    """

    @functools.wraps(step)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        interceptor = current_interceptor()
        if interceptor is not None:
            done = interceptor.step(self, *args, **kwargs)
            if done is not NotImplemented:
                return done
        return step(self, *args, **kwargs)

    wrapper.__tapeflow_intercepted__ = True  # type: ignore[attr-defined]
    return wrapper


def note_zero_grad(params: Callable[[], Iterable[Any]]) -> None:
    """Tells this thread's interceptor (if any) that the parameters ``params()`` lists lose
    their ``.grad`` now (``params`` is called only when there is an interceptor)."""
    interceptor = current_interceptor()
    if interceptor is not None:
        interceptor.zero_grad(list(params()))


@contextlib.contextmanager
def observing(observer: Observer) -> Iterator[Observer]:
    """Calls ``observer(event, what)`` for this thread inside the block: ``("kernel", op
    name)`` after each kernel made its output (forward, backward and in-place ops),
    ``("backward", None)`` and ``("backward_end", None)`` around each backward sweep."""
    add_observer(observer)
    try:
        yield observer
    finally:
        remove_observer(observer)


# ---- tensor access ------------------------------------------------------------------------


def array_of(tensor: Tensor) -> Any:
    """The array a tensor shows (numpy or cupy; shared, not copied)."""
    return tensor._array


def version_of(tensor: Tensor) -> int:
    """The tensor's version counter (PyTorch's ``_version``): in-place changes count up."""
    return tensor._vc[0]


def base_of(tensor: Tensor) -> Tensor | None:
    """The tensor a view was made from (PyTorch's ``_base``); None for a tensor that owns
    its memory."""
    return tensor._base


def view_index(tensor: Tensor) -> Any:
    """The index a view was made with by basic indexing (``base[index]``), else None."""
    return tensor._view_index


def wrap(array: Any, requires_grad: bool = False, grad_fn: Any = None,
         tensor_type: type[Tensor] | None = None) -> Tensor:
    """A new tensor around ``array`` (not copied): a leaf, or the output of ``grad_fn``.

    ``tensor_type`` is a Tensor subclass without fields of its own (``__slots__ = ()``).
    """
    t = dispatch.wrap(array)
    if tensor_type is not None:
        t.__class__ = tensor_type
    t._requires_grad = bool(requires_grad)
    t._grad_fn = grad_fn
    return t


def mark_view(tensor: Tensor, base: Tensor, index: Any = None) -> None:
    """Records that ``tensor`` is a view of ``base`` (made by ``base[index]``, if given)."""
    tensor._base = base
    tensor._view_index = index


def rebind(tensor: Tensor, array: Any, grad_fn: Any = None) -> None:
    """An in-place change that replaces the array: ``tensor`` now shows ``array`` and its
    version counter goes up. With ``grad_fn`` it becomes that node's output (and requires
    grad); without, its history stays as it was."""
    tensor._vc[0] += 1
    tensor._array = array
    if grad_fn is not None:
        tensor._requires_grad = True
        tensor._grad_fn = grad_fn


def assign(tensor: Tensor, value: Any) -> None:
    """Writes ``value`` into the tensor's memory (an in-place change: the version goes up),
    outside autograd."""
    tensor._array[...] = value
    tensor._vc[0] += 1


__all__ = ["Interceptor", "array_of", "assign", "base_of", "current_interceptor",
           "intercepted_step", "intercepting", "mark_view", "note_zero_grad", "observing",
           "rebind", "version_of", "view_index", "wrap"]
