"""Memory accounting: peak bytes of a callable, measured the same way for every mode."""

from __future__ import annotations

import os
import tracemalloc
from collections.abc import Callable, Sequence
from typing import Any


def peak_bytes(fn: Callable[[], Any]) -> tuple[int, Any]:
    """Runs ``fn()`` and returns (peak bytes allocated during it, its result).

    numpy reports its buffers to ``tracemalloc``, so this counts arrays as well as Python
    objects. The peak is measured above what was allocated before the call.

    Example:
        >>> import numpy as np
        >>> peak, _ = peak_bytes(lambda: np.ones(1000))
        >>> peak >= 8000
        True
    """
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        if not was_tracing:
            tracemalloc.stop()
    return max(0, peak - before), result


#: The largest single tensor tapeflow will allocate (bytes). A shape beyond it is almost
#: always a mistake (a swapped argument, a missing reshape), so both front ends refuse it
#: with an error naming the op, the shape and the byte count *before* allocating, instead
#: of an out-of-memory crash or minutes of swapping. Override with TAPEFLOW_MAX_TENSOR_BYTES.
MAX_TENSOR_BYTES = int(os.environ.get("TAPEFLOW_MAX_TENSOR_BYTES", 64 * 2**30))


def tensor_nbytes(shape: Sequence[int], itemsize: int) -> int:
    """Bytes of a tensor of ``shape`` (Python ints: no overflow for absurd shapes)."""
    count = 1
    for d in shape:
        count *= int(d)
    return count * int(itemsize)


def too_large(shape: Sequence[int], itemsize: int) -> str | None:
    """None when a tensor of ``shape`` may be allocated; else why not, in words.

    Example:
        >>> too_large((10**6, 10**6), 4)
        '4000000000000 bytes (3.64 TiB), above the 68719476736-byte limit (64.00 GiB)'
    """
    nbytes = tensor_nbytes(shape, itemsize)
    if nbytes <= MAX_TENSOR_BYTES:
        return None
    return (
        f"{nbytes} bytes ({_human(nbytes)}), above the {MAX_TENSOR_BYTES}-byte limit "
        f"({_human(MAX_TENSOR_BYTES)})"
    )


def _human(nbytes: int) -> str:
    value = float(nbytes)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if value < 1024 or unit == "PiB":
            return f"{value:.2f} {unit}"
        value /= 1024
    return f"{nbytes} bytes"
