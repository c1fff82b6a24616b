"""Anomaly detection (``torch.autograd.detect_anomaly`` / ``set_detect_anomaly``).

While it is on, every op's result is checked for NaN and infinity as it is computed, and
every gradient rule's results during ``backward()``; the first op that produces one raises
a ``RuntimeError`` naming it (PyTorch's ``MulBackward0`` name and the registry op) and the
user's source line that ran its forward. Only the backward check exists in PyTorch; the
forward check is tapeflow's addition, so a NaN is named where it first appears (an op that
produces infinity on purpose, such as masking with ``-inf``, needs ``check_nan=False``).

Nothing is lost: a failing forward op has not written anything yet (an in-place op leaves
its target as it was), and ``backward()`` stores leaves' ``.grad`` only after the whole
sweep succeeded.
"""

from __future__ import annotations

import functools
import os
import sys
import weakref
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, TypeVar

from ..runtime import OpDef, array_module
from ..runtime.registry import format_shape
from .thread_state import anomaly_enabled, set_anomaly

T = TypeVar("T", bound=Callable[..., Any])

_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_SITES: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def is_anomaly_enabled() -> bool:
    """Whether anomaly detection is on.

    Example:
        >>> with detect_anomaly():
        ...     is_anomaly_enabled()
        True
    """
    return anomaly_enabled()


class detect_anomaly:  # noqa: N801 - PyTorch's spelling
    """Context manager (and decorator) turning anomaly detection on inside it.

    Example:
        >>> import tapeflow.dynamic as torch
        >>> x = torch.tensor([-1.0], requires_grad=True)
        >>> with torch.autograd.detect_anomaly():
        ...     try:
        ...         torch.sqrt(x)
        ...     except RuntimeError as exc:
        ...         print(str(exc).split(" (")[0])
        Function 'SqrtBackward0' returned nan values in its forward output
    """

    def __init__(self, check_nan: bool = True) -> None:
        self.check_nan = check_nan
        self._previous: list[bool] = []

    def __enter__(self) -> None:
        self._previous.append(set_anomaly(self.check_nan))

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        set_anomaly(self._previous.pop())

    def __call__(self, fn: T) -> T:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with detect_anomaly(self.check_nan):
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


class set_detect_anomaly(detect_anomaly):  # noqa: N801
    """Turns anomaly detection on or off: as a call, or as a context manager that restores it.

    Example:
        >>> _ = set_detect_anomaly(True); is_anomaly_enabled()
        True
        >>> _ = set_detect_anomaly(False); is_anomaly_enabled()
        False
    """

    def __init__(self, mode: bool, check_nan: bool = True) -> None:
        super().__init__(check_nan)
        self._previous.append(set_anomaly(bool(mode) and check_nan))

    def __enter__(self) -> None:
        pass

    def __repr__(self) -> str:
        return f"set_detect_anomaly(mode={anomaly_enabled()})"


# ---- the checks (called only while anomaly mode is on) -------------------------------------


def user_site() -> str:
    """``file:line`` of the innermost stack frame outside tapeflow: the user's line."""
    frame = sys._getframe(1)
    while frame is not None:
        if not frame.f_code.co_filename.startswith(_PACKAGE_ROOT):
            return f"{frame.f_code.co_filename}:{frame.f_lineno}"
        frame = frame.f_back  # type: ignore[assignment]
    return "<unknown>"


def remember(node: Any) -> None:
    """Keeps the user's line that recorded ``node`` (named if its backward goes wrong)."""
    _SITES[node] = user_site()


def _bad(array: Any) -> str | None:
    if getattr(array, "dtype", None) is None or array.dtype.kind not in "fc":
        return None
    xp = array_module(array)
    if bool(xp.isnan(array).any()):
        return "nan"
    if bool(xp.isinf(array).any()):
        return "inf"
    return None


def check_forward(op: OpDef, result: Any, inputs: Sequence[Any]) -> None:
    """Raises if ``op`` made a NaN/inf out of finite inputs (a non-finite input is not its
    fault: the op that made it was checked, or it came from outside, and is named as such)."""
    found = _bad(result)
    if found is None:
        return
    from .tape import display_name

    for k, x in enumerate(inputs):
        bad_input = _bad(getattr(x, "_array", None))
        if bad_input is not None:
            raise RuntimeError(
                f"Function '{display_name(op.name)}' got {bad_input} values in its input {k} "
                f"(op {op.name}, at {user_site()}): the tensor came from outside the ops "
                "checked by anomaly detection (created with nan/inf, or computed before "
                "detect_anomaly was turned on)")
    raise RuntimeError(
        f"Function '{display_name(op.name)}' returned {found} values in its forward output "
        f"(op {op.name}, output shape {format_shape(tuple(result.shape))}, at {user_site()}); "
        f"its inputs were finite, so it is the first op to produce {found}")


def checked_vjp(node: Any, g: Any, ans: Any) -> tuple[Any, ...]:
    """``node``'s gradient rule, then the check of its results (the ops the rule runs are
    not checked one by one: a NaN they make is reported as this node's)."""
    set_anomaly(False)
    try:
        grads: tuple[Any, ...] = node.op.vjp(g, ans, node.inputs, node.attrs, node.needed)
    finally:
        set_anomaly(True)
    check_backward(node, grads)
    return grads


def check_backward(node: Any, grads: Sequence[Any]) -> None:
    """Raises if the gradient rule of ``node`` returned NaN/inf (PyTorch's message)."""
    for k, grad in enumerate(grads):
        if grad is None:
            continue
        found = _bad(getattr(grad, "_array", grad))
        if found is not None:
            site = _SITES.get(node, "<not recorded: anomaly detection was off in forward>")
            raise RuntimeError(
                f"Function '{node.name()}' returned {found} values in its {k}th output "
                f"(op {node.op.name}; its forward ran at {site}). No .grad was "
                "changed.")


__all__ = ["detect_anomaly", "is_anomaly_enabled", "set_detect_anomaly"]
