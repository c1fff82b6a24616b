"""Wrappers the executor puts around a kernel whose result needs one more step.

Example:
    >>> import numpy as np
    >>> returns_array(lambda xp, x: x.sum())(np, np.ones(3)).shape
    ()
"""

from __future__ import annotations

from typing import Any

from ...runtime.backend import to_device


def on_device(kernel: Any, device: str) -> Any:
    """A random kernel on a GPU: it draws on the host generator; the draw moves once."""
    def call(xp: Any, *args: Any, out: Any = None, **attrs: Any) -> Any:
        return to_device(kernel(xp, *args, **attrs), device)

    return call


def returns_array(kernel: Any) -> Any:
    """A kernel whose 0-d results numpy hands back as scalars (np.float32): as arrays."""
    def call(xp: Any, *args: Any, **attrs: Any) -> Any:
        return xp.asarray(kernel(xp, *args, **attrs))

    return call


def returns_own_array(kernel: Any) -> Any:
    """A non-view kernel run without ``out=`` (its size is known only at run time), whose
    result must own its memory: the plan may hand an input's arena buffer to another value
    as soon as this op has read it, so a result that aliases an input is copied."""
    def call(xp: Any, *args: Any, **attrs: Any) -> Any:
        result = xp.asarray(kernel(xp, *args, **attrs))
        for arg in args:
            if hasattr(arg, "shape") and xp.may_share_memory(result, arg):
                return result.copy()
        return result

    return call
