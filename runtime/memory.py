"""Memory accounting: peak bytes of a callable, measured the same way for every mode."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
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
