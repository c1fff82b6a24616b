"""Helpers of the loop-hoist tests (test_loop_bias.py, test_loop_rows.py): one graph
compiled with the hoist, without it and under ``exact=True``, and their values compared."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
from tapeflow.static.compiler import CompileOptions


def three_programs(make: Callable[[CompileOptions], Any]) -> tuple[Any, Any, Any]:
    """(hoisted, plain, exact): ``make(options)`` under the default options, without
    ``loop_hoist`` and with ``exact=True``."""
    return (make(CompileOptions()), make(CompileOptions().without("loop_hoist")),
            make(CompileOptions(exact=True)))


def assert_loop_values(hoisted: Any, plain: Any, exact: Any, feeds: Iterable[dict]) -> None:
    """The hoisted program's values equal the loop's to rounding (1e-12 relative), the exact
    program's bit for bit, for every feed."""
    for feed in feeds:
        got, want, kept = (p.run(feed, {})[0] for p in (hoisted, plain, exact))
        for a, b, c in zip(got, want, kept, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)
            np.testing.assert_array_equal(c, b)  # (exact: the loop as built)
