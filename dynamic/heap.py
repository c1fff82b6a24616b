"""Heap tuning for eager training on glibc: keep freed array memory for the next step.

An eager step allocates every activation and gradient afresh and frees them all at the end
of ``backward()``. With glibc's default settings the top of the heap is then given back to
the kernel (``M_TRIM_THRESHOLD``), and the next forward pass faults the same pages in
again, one page fault per 4 KiB (about 140 faults per step of the benchmark RNN, 5,000 for
the large one: 10-15% of a step). A preallocated numpy step or a compiled static schedule
never does this. :func:`tune_heap` asks glibc to

* keep ``TOP_PAD_BYTES`` of slack at the top of the heap when it grows or trims it
  (``M_TOP_PAD``), so memory freed at the end of one step serves the next one, and
* serve requests below ``MMAP_THRESHOLD_BYTES`` from the heap (``M_MMAP_THRESHOLD``): glibc
  raises its threshold that far by itself once such a block is freed, but setting the pad
  switches that adaptation off, so the ceiling is set explicitly.

It also raises the threshold of Python's cyclic garbage collector for its middle
generation from 10 to ``GC_GEN1_THRESHOLD`` (100) young collections. A recorded op leaves a
few GC-tracked objects (its tensor, version counter, node and edge tuples) that live until
``backward()``: they outlive the young generation, and every tenth young collection
traversed them again, with a full collection now and then, in the middle of the forward
pass (on bench_tape_overhead's 10,000-op chain 0.6-0.8 us of collection per op, 0.4 with
this; thread time). Cycles that die go a little later; nothing else changes.

These are process-wide settings, the CPU counterpart of a framework's caching allocator,
and nothing in tapeflow makes them behind your back: call :func:`tune_heap` once, before
anything is measured (``tapeflow compare``, ``benchmarks/bench_steps.py`` and
``benchmarks/bench_tape_overhead.py`` do, before any mode or framework runs, so all of them
are measured with the same settings). ``TAPEFLOW_MALLOC_TUNING=0`` turns both off; the
glibc part does nothing on other C libraries.
"""

from __future__ import annotations

import ctypes
import gc
import os
import sys
import threading
from typing import Any

#: glibc's mallopt parameter numbers (malloc.h)
M_TOP_PAD = -2
M_MMAP_THRESHOLD = -3

TOP_PAD_BYTES = 16 << 20
MMAP_THRESHOLD_BYTES = 32 << 20  # glibc's own ceiling for its adaptive threshold (64-bit)

#: the cyclic GC's generation-1 threshold that tune_heap sets (Python's default: 10)
GC_GEN1_THRESHOLD = 100

_LOCK = threading.Lock()
#: what the first :func:`tune_heap` call found: None before it, then whether it applied
_applied: bool | None = None


def wanted(environ: dict[str, str] | None = None) -> bool:
    """Whether the tuning applies here: Linux with glibc, and not turned off by
    ``TAPEFLOW_MALLOC_TUNING=0``.

    Example:
        >>> wanted({"TAPEFLOW_MALLOC_TUNING": "0"})
        False
    """
    if _switched_off(os.environ if environ is None else environ):
        return False
    if not sys.platform.startswith("linux"):
        return False
    try:
        version = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (ValueError, OSError):
        return False
    return version.startswith("glibc")


def _switched_off(env: Any) -> bool:
    return env.get("TAPEFLOW_MALLOC_TUNING", "1").strip().lower() in ("0", "false", "no", "off")


def tune_heap() -> bool:
    """Tunes glibc's heap and the cyclic GC for eager training, once per process (later
    calls only report).

    Process-wide and explicit: call it once at start-up, before any mode is measured, so
    that every mode runs on the same heap. Returns whether glibc's tuning is in effect
    (False when ``TAPEFLOW_MALLOC_TUNING=0``, off Linux/glibc, or when glibc refused it);
    the GC threshold is raised unless ``TAPEFLOW_MALLOC_TUNING=0``.

    Example:
        >>> tune_heap() is is_tuned()
        True
    """
    global _applied
    with _LOCK:
        if _applied is None:
            _applied = wanted() and _mallopt()
            if not _switched_off(os.environ):
                young, middle, old = gc.get_threshold()
                gc.set_threshold(young, max(middle, GC_GEN1_THRESHOLD), old)
        return _applied


def _mallopt() -> bool:
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    # the threshold first: once the pad is set, glibc stops adapting it
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        mallopt(M_TOP_PAD, TOP_PAD_BYTES))


def is_tuned() -> bool:
    """Whether :func:`tune_heap` has changed this process's heap settings."""
    return bool(_applied)


__all__ = ["GC_GEN1_THRESHOLD", "is_tuned", "tune_heap", "wanted"]
