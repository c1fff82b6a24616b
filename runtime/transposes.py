"""Row-major copies of weights read transposed, kept for one dynamic-mode backward.

The gradient of ``a @ b`` for ``a`` is ``g @ b^T``. numpy hands a transposed C-contiguous
``b`` to BLAS with the "transpose" flag, and on the OpenBLAS numpy ships that product can be
twice as slow as the same product on a row-major copy of ``b^T`` (32x128 @ 128x128 float32:
14.4 against 6.8 us; the copy 7.9 us). An unrolled RNN's backward reads ``w_hh^T`` once per
step, so one copy per backward pays for itself from the second read on.

Why it is scoped to one backward, per thread (an earlier module-global copy reinstalled a
stale copy for good when two sweeps overlapped in two threads: issue 18): the dynamic raw
sweep opens a table with :func:`open_table` and restores the one it replaced with
:func:`close_table` in a ``finally``; between two backwards an optimizer changes the weights
in place, and nothing checks a copy against its source. Inside one backward a weight changed
in place through a tensor raises through the version checks before the rule that reads it
runs; the sweep calls :func:`forget` before user code (a hook, a custom Function) runs, since
that code may write a weight's array behind the version counter's back.

Bits: the two layouts run different BLAS kernels, which agree bit for bit on some shapes and
not on others (OpenBLAS's small-matrix kernels, m*k*n up to 100^3, on AVX-512 machines; a
one-row ``g``, which numpy sends to GEMV). So a shape and dtype is used only after a probe on
random data of that shape gave the same bytes both ways (:func:`_agree`), once per process.
A GEMM provider other than numpy's (``runtime/blas.py``) keeps the transposed product as is.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from .blas import RAW

#: fewest elements in a weight worth copying: below it the copy's own call costs more than
#: the faster product saves
MIN_ELEMENTS = 1024

_ndarray = np.ndarray
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


class _Open(threading.local):
    table: dict[int, list[Any]] | None = None  # (class attribute: no table in a new thread)


_OPEN = _Open()
_AGREES: dict[tuple[int, int, int, str], bool] = {}  # (m, k, n, dtype char) -> same bytes


def open_table() -> dict[int, list[Any]] | None:
    """Opens an empty table for this thread's backward; returns the one it replaces (a
    backward run from a hook inside another gets its own), for :func:`close_table`."""
    held = _OPEN.table
    _OPEN.table = {}
    return held


def close_table(held: dict[int, list[Any]] | None) -> None:
    """Drops this backward's copies and puts back the table :func:`open_table` returned."""
    _OPEN.table = held


def forget() -> None:
    """Drops this thread's copies (user code is about to run and may write a weight)."""
    table = _OPEN.table
    if table is not None:
        table.clear()


def transposed(g: Any, b: Any) -> Any:
    """A row-major copy of ``b.T`` with ``g @ copy`` equal bit for bit to ``g @ b.T``, or None
    (no backward open in this thread, not a case that pays or agrees: compute as before).

    The first read of ``b`` in a backward only notes it; the second makes the copy, which
    later reads reuse. The table holds ``b`` itself, so its id names no other array while
    the entry lives."""
    table = _OPEN.table
    if (table is None or type(b) is not _ndarray or b.size < MIN_ELEMENTS
            or type(g) is not _ndarray or g.ndim != 2 or g.dtype is not b.dtype
            or (RAW.provider is not None and RAW.provider != "numpy")):
        return None
    entry = table.get(id(b))
    if entry is not None and entry[0] is b:
        if g.shape[1] != b.shape[1] or not _agree(g, b):
            return None
        copy = entry[1]
        if copy is None:
            copy = entry[1] = np.ascontiguousarray(b.T)
        return copy
    if b.ndim == 2 and b.dtype in _FLOATS and b.flags.c_contiguous:
        table[id(b)] = [b, None]
    return None


def _agree(g: Any, b: Any) -> bool:
    """Whether ``g @ b.T`` and ``g @ ascontiguousarray(b.T)`` gave the same bytes on two
    draws of random data of these shapes (a kernel that sums in another order differs on
    random data): once per shape and dtype in this process."""
    key = (g.shape[0], b.shape[0], b.shape[1], b.dtype.char)
    found = _AGREES.get(key)
    if found is None:
        if len(_AGREES) >= 4096:  # (ever-new batch sizes: start over)
            _AGREES.clear()
        rng = np.random.default_rng(0)
        found = True
        for _ in range(2):
            x = rng.standard_normal(g.shape).astype(b.dtype)
            w = rng.standard_normal(b.shape).astype(b.dtype)
            if (x @ w.T).tobytes() != (x @ np.ascontiguousarray(w.T)).tobytes():
                found = False
                break
        _AGREES[key] = found
    return found


__all__ = ["MIN_ELEMENTS", "close_table", "forget", "open_table", "transposed"]
