"""Python numbers beside float arrays, as the 0-d arrays a ufunc takes fastest.

One cache for every hot path that hands a ufunc a number: dynamic mode's op dispatch
(``dynamic/dispatch.py``, ``dynamic/fast_ops.py``), ``R.<op>`` on arrays (the gradient
rules, ``registry.py``) and kernels' own constants (:func:`one_and_half`).

``y * 2.0`` hands numpy a Python float, whose weak dtype numpy works out on every call (NEP
50: it is cast to the array's dtype first); a 0-d array of that dtype skips that, about
0.19 us of a 0.47 us multiply of 4 float32s (0.28 us). The cast gives the same operand, so
the ufunc computes the same bits, as long as the dtype holds the number exactly: only such
numbers are cached, never zero (0.0 and -0.0 are equal keys) or NaN. Nodes keep the Python
number the user wrote; only the kernel call sees the array.

Example:
    >>> import numpy as np
    >>> weak(2.0, np.dtype(np.float32)).dtype, weak(0.1, np.dtype(np.float32))
    (dtype('float32'), 0.1)
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: float dtype -> {Python number: that number as a read-only 0-d array of the dtype, or
#: the number itself where the dtype does not hold it exactly}
WEAK: dict[Any, dict[Any, Any]] = {}
#: what ``WEAK.get(dtype, NO_SCALARS)`` gives for a dtype not seen yet (a miss: see weak)
NO_SCALARS: dict[Any, Any] = {}
LIMIT = 512  # numbers per dtype (a loop over changing numbers stops filling it there)


def weak(value: float | int, dtype: Any) -> Any:
    """``value`` as the cached 0-d array of ``dtype``, or itself (see the module docstring).

    The hot paths look ``WEAK[dtype][value]`` up themselves and call this on a miss.
    """
    cache = WEAK.get(dtype)
    if cache is None:
        cache = WEAK[dtype] = {}
    found = cache.get(value)
    if found is not None:
        return found
    if not value or value != value or len(cache) >= LIMIT:
        return value
    try:
        with np.errstate(all="ignore"):
            exact = np.array(value, dtype=dtype)
    except (OverflowError, ValueError):
        exact = None
    if exact is None or exact.item() != value:  # (NaN is never equal: never cached)
        cache[value] = value  # stays a Python number (an equal int or float casts alike)
        return value
    exact.flags.writeable = False
    cache[value] = exact
    return exact


#: float dtype -> (1, 0.5) as :func:`weak` gives them (one dict lookup for a kernel's call)
_ONE_HALF: dict[Any, tuple[Any, Any]] = {}


def one_and_half(x: Any) -> tuple[Any, Any]:
    """1 and 0.5 to compute with beside ``x``: the cached 0-d arrays of x's dtype for a
    numpy float array, else the Python numbers (a cupy array takes no numpy operands).

    Example:
        >>> one, half = one_and_half(np.zeros(2, np.float32))
        >>> one.dtype, float(half), one_and_half([1.0])
        (dtype('float32'), 0.5, (1.0, 0.5))
    """
    if type(x) is not np.ndarray:
        return 1.0, 0.5
    dtype = x.dtype
    found = _ONE_HALF.get(dtype)
    if found is None:
        found = _ONE_HALF[dtype] = ((weak(1.0, dtype), weak(0.5, dtype)) if dtype.kind == "f"
                                    else (1.0, 0.5))
    return found


__all__ = ["LIMIT", "NO_SCALARS", "WEAK", "one_and_half", "weak"]
