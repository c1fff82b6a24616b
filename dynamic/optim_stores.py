"""Where the eager optimizers (``optim.py``) write their updates: two
:class:`runtime.optim_rules.Store` implementations and the per-parameter loop that picks one.

The usual case is a parameter and a gradient that are numpy arrays of one float dtype and
shape, with nothing watching the ops (no anomaly mode, observer or trace): the rules then
run on the arrays with ``optim_rules.UFUNCS`` (the registry kernels' own ufunc calls, in the
same order, so the same bits) and write straight into the tensors' memory
(:data:`ARRAYS`). Anything else (cupy arrays, a gradient of another dtype, anomaly mode)
runs the rules on tensors through the dispatcher's in-place ops (:data:`IN_PLACE`), with
its checks and observer events. Both move the version counters of what they write once per
write, as ``copy_`` and ``sub_`` do.

Without a tensor or a dispatch per operation, SGD's update of the XOR benchmark's four
parameters went from about 25 to about 7 µs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import numpy as np

from ..runtime import optim_rules as rules
from .dispatch import wrap
from .engine import _deliver_interrupts, _hold_interrupts
from .tensor import Tensor
from .thread_state import STATE

_ndarray = np.ndarray
_UFUNCS = rules.UFUNCS
_Step = TypeVar("_Step", bound=Callable[..., Any])


class _InPlace:
    """Eager optimizer state on tensors: buffers are tensors written in place by registry
    ops, so their version counters move as PyTorch's do."""

    @staticmethod
    def read(buffer: Any) -> Any:
        return buffer

    @staticmethod
    def write(buffer: Any, value: Any) -> Any:
        return buffer.copy_(value)

    @staticmethod
    def subtract(param: Any, amount: Any) -> None:
        param.sub_(amount)


class _Arrays:
    """Eager optimizer state on numpy arrays of one float dtype: the rules compute with
    ``UFUNCS`` on the tensors' arrays, and each write goes into the tensor's array and moves
    its version counter."""

    ops = _UFUNCS

    @staticmethod
    def read(buffer: Any) -> Any:
        return buffer._array

    @staticmethod
    def write(buffer: Any, value: Any) -> Any:
        array = buffer._array
        array[...] = value
        buffer._vc[0] += 1
        return array

    @staticmethod
    def subtract(param: Any, amount: Any) -> None:
        array = param._array
        _UFUNCS.sub(array, amount, out=array)  # the sub kernel's call, as sub_ makes it
        param._vc[0] += 1


IN_PLACE = _InPlace()
ARRAYS = _Arrays()


def gradients(params: Iterable[Any], weight_decay: float = 0.0
              ) -> Iterator[tuple[Any, Any, Any]]:
    """``(store, p, g)`` for each parameter ``p`` that has a gradient: ``g`` is the gradient
    the update uses (``weight_decay * p`` added when ``weight_decay`` is set), an array for
    :data:`ARRAYS` or a tensor for :data:`IN_PLACE`.

    Example:
        >>> import tapeflow.dynamic as torch
        >>> w, b = torch.ones(2, requires_grad=True), torch.ones(1, requires_grad=True)
        >>> (w * 3).sum().backward()
        >>> [(store is ARRAYS, g.tolist()) for store, _, g in gradients([w, b])]
        [(True, [3.0, 3.0])]
    """
    interceptor, checks, _ = STATE.hot  # read once: a step does not change them
    fast = interceptor is None and not checks
    for p in params:
        grad = p._grad
        if grad is None:
            continue
        array, g = p._array, grad._array
        if fast and _on_arrays(array, g):
            if weight_decay:
                g = rules.with_weight_decay(g, array, weight_decay, _UFUNCS)
            yield ARRAYS, p, g
        else:
            yield IN_PLACE, p, rules.with_weight_decay(grad, p, weight_decay)


def _on_arrays(array: Any, g: Any) -> bool:
    """Whether a parameter's update may run on :data:`ARRAYS`: numpy arrays of one float
    dtype and one shape."""
    return (type(array) is _ndarray and type(g) is _ndarray and g.dtype == array.dtype
            and array.dtype.kind == "f" and g.shape == array.shape)


def sgd_on_arrays(groups: list[dict[str, Any]]) -> bool:
    """One SGD step without momentum of every parameter of ``groups`` on :data:`ARRAYS`, when
    every parameter with a gradient qualifies (see :func:`gradients`) and nothing watches the
    ops; False, with nothing written, otherwise (the caller then takes the general path).

    Every amount ``lr * (g + weight_decay * p)`` is computed first, by the rules
    :func:`runtime.optim_rules.sgd_update` calls on ARRAYS, so the same bits; then all the
    parameters are written in one loop that Ctrl-C cannot split (as backward writes
    ``.grad``): an error or an interrupt leaves either every parameter updated or none.
    """
    interceptor, checks, _ = STATE.hot
    if interceptor is not None or checks:
        return False
    updates = []
    decays = False
    for group in groups:
        lr, decay = group["lr"], group["weight_decay"]
        if group["momentum"]:
            return False
        decays = decays or bool(decay)
        for p in group["params"]:
            grad = p._grad
            if grad is None:
                continue
            array, g = p._array, grad._array
            if not _on_arrays(array, g):
                return False
            if not array.flags.writeable:
                raise read_only_error(groups, p)
            g = rules.with_weight_decay(g, array, decay, _UFUNCS)
            updates.append((p, rules.sgd_step(g, lr, _UFUNCS)))
    if decays and len({id(p) for p, _ in updates}) != len(updates):
        return False  # a parameter listed twice decays by its own first update, in turn
    held = _hold_interrupts()
    try:
        for p, amount in updates:
            ARRAYS.subtract(p, amount)
    finally:
        if held is not None:
            _deliver_interrupts(held)
    return True


def read_only_error(groups: list[dict[str, Any]], p: Any) -> RuntimeError:
    """The error of a step whose parameter ``p`` is a read-only array (``from_numpy`` of
    one), raised before any parameter is written."""
    where = next(f"parameter {j} of group {i}" for i, group in enumerate(groups)
                 for j, q in enumerate(group["params"]) if q is p)
    return RuntimeError(f"optimizer step: {where} (shape {list(p._array.shape)}) is a "
                        "read-only array (from_numpy of a read-only numpy array), which the "
                        "update cannot write; train a copy (torch.tensor(array)) instead. No "
                        "parameter was updated.")


def uninterrupted(step: _Step) -> _Step:
    """``step`` with Ctrl-C held back until it returns (as backward holds it while it writes
    ``.grad``): an interrupt then never lands between two parameters' updates, or between a
    state buffer's update and its parameter's. For steps that call no user code (not LBFGS,
    whose closure runs forward and backward)."""

    @functools.wraps(step)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        groups = args[0].param_groups
        for group in groups:  # a parameter no update can write fails the step before any
            for p in group["params"]:
                flags = getattr(p._array, "flags", None)
                if p._grad is not None and flags is not None and not flags.writeable:
                    raise read_only_error(groups, p)
        held = _hold_interrupts()
        try:
            return step(*args, **kwargs)
        finally:
            if held is not None:
                _deliver_interrupts(held)

    return wrapper  # type: ignore[return-value]


def on_arrays(store: Any, p: Any, g: Any, *buffers: Any) -> tuple[Any, Any]:
    """``store`` and ``g`` as they are, unless a state buffer of ``p`` is not an array of
    ``p``'s dtype and shape (a state loaded or edited by hand): then :data:`IN_PLACE`, with
    ``g`` as a tensor."""
    if store is ARRAYS:
        array = p._array
        for b in buffers:
            other = b._array
            if type(other) is not _ndarray or other.dtype != array.dtype or (
                    other.shape != array.shape):
                return IN_PLACE, wrap(np.array(g, dtype=array.dtype))
    return store, g


def seed(state: dict[str, Any], g: Any) -> Any:
    """SGD's first momentum step: the buffer starts as a copy of ``g``; returned in the form
    ``g`` came in (tensor or array)."""
    if isinstance(g, Tensor):
        state["momentum_buffer"] = g.clone()
        return state["momentum_buffer"]
    state["momentum_buffer"] = buffer = wrap(np.array(g))
    return buffer._array
