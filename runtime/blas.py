"""GEMM providers: which BLAS library runs a 2-D floating-point matrix product.

numpy's ``matmul`` (the OpenBLAS numpy ships with) is always there and is what every
kernel runs by default. Which library is fastest depends on the shape: on the thin
products of an unrolled RNN's backward pass (inner dimension 64) Intel's MKL can be well
ahead of OpenBLAS while on others they are level (``benchmarks/bench_blas_providers.py``
prints the table for this machine). So a provider is chosen per product, by timing
(``static/compiler/autotune.py`` at compile time, :func:`choose` for dynamic mode), never
by a global switch: the caller names the provider on each call.

Providers:

* ``"numpy"``: ``numpy.matmul(a, b, out=out)``, exactly as before (bit for bit);
* ``"mkl"``: ``cblas_sgemm``/``cblas_dgemm`` of the ``mkl`` wheel's ``libmkl_rt`` through
  ctypes (``pip install tapeflow[mkl]``); present only when that library loads.

:func:`gemm` runs a provider on the cases it handles (2-D float32/float64 operands in a
layout BLAS reads directly: row- or column-major with unit stride, including strided rows
such as ``x[:, t]``) and numpy's matmul on everything else, so any provider is always safe
to ask for. Results of different providers agree to rounding, not bit for bit.

Example:
    >>> import numpy as np
    >>> a, b = np.ones((2, 3)), np.ones((3, 4))
    >>> gemm(a, b, np.empty((2, 4)), "numpy")[0, 0]
    np.float64(3.0)
    >>> "numpy" in available()
    True
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .blas_mkl import load as _mkl

NUMPY = "numpy"
MKL = "mkl"
#: every provider name :func:`gemm` accepts ("auto" is a choice to make, not a provider)
PROVIDERS = (NUMPY, MKL)

#: how much faster than numpy's matmul another provider must time to be chosen
MARGIN = 1.05

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112  # CBLAS enum values


class _RawProvider(threading.local):
    provider: str | None = None  # (the class attribute: None in every new thread)


#: The provider ``R.matmul`` on plain arrays passes to the matmul kernel in this thread (None:
#: numpy's). The dynamic raw backward sets it around each rule it runs when the thread has a
#: provider (``torch.backends.blas``), so the rules' products go where the tensor engine's do.
RAW = _RawProvider()


class UnknownProviderError(ValueError):
    """A GEMM provider name that tapeflow does not have."""


def check_name(provider: str, allow_auto: bool = True) -> str:
    """``provider`` if it is a provider name (or "auto", when allowed); raises otherwise."""
    names = (*PROVIDERS, "auto") if allow_auto else PROVIDERS
    if provider not in names:
        raise UnknownProviderError(f"unknown GEMM provider {provider!r}; the providers are "
                                   f"{', '.join(map(repr, names))}")
    return provider


# ---- MKL through ctypes: runtime/blas_mkl.py loads it ------------------------------------


def available() -> tuple[str, ...]:
    """The providers that can run here: ``"numpy"`` always, then ``"mkl"`` when it loads."""
    return (NUMPY, MKL) if _mkl() is not None else (NUMPY,)


def _layout(x: np.ndarray) -> tuple[int, int] | None:
    """(CBLAS transpose flag, leading dimension) reading ``x`` as stored, or None."""
    if x.flags.c_contiguous:
        return _NO_TRANS, max(1, x.shape[1])
    if x.flags.f_contiguous:
        return _TRANS, max(1, x.shape[0])
    s0, s1 = x.strides
    size = x.itemsize
    if s1 == size and s0 % size == 0 and s0 // size >= x.shape[1]:
        return _NO_TRANS, s0 // size  # rows apart (a slice x[:, t] of a batch of sequences)
    if s0 == size and s1 % size == 0 and s1 // size >= x.shape[0]:
        return _TRANS, s1 // size
    return None


def mkl_call(a: Any, b: Any, out: Any, beta: float = 0.0) -> tuple[Any, list[Any]] | None:
    """(CBLAS function, its arguments) computing ``out = a @ b + beta * out`` by MKL:
    pointers, layouts and sizes worked out; None when this case is not one MKL takes (or it
    is not there). The arguments stay valid while these very arrays live (a compiled
    schedule binds them once for its fixed arena buffers: ``compiler/blas_calls.py``)."""
    if not (type(a) is np.ndarray and type(b) is np.ndarray and type(out) is np.ndarray
            and a.ndim == 2 and b.ndim == 2 and out.ndim == 2):
        return None
    dtype = out.dtype
    if a.dtype != dtype or b.dtype != dtype or not out.flags.writeable:
        return None
    m, k = a.shape
    n = b.shape[1]
    if b.shape[0] != k or out.shape != (m, n) or 0 in (m, n, k) or max(m, n, k) >= 2**31:
        return None
    if not out.flags.c_contiguous:
        if out.flags.f_contiguous:  # out^T = b^T a^T, row-major
            return mkl_call(b.T, a.T, out.T, beta)
        return None
    lib = _mkl()
    fn = lib.fns.get(dtype) if lib is not None else None
    la, lb = _layout(a), _layout(b)
    if fn is None or la is None or lb is None:
        return None
    if np.may_share_memory(out, a) or np.may_share_memory(out, b):
        return None  # numpy's matmul copies an overlapping operand first; BLAS would not
    return fn, [_ROW_MAJOR, la[0], lb[0], m, n, k, 1.0, a.ctypes.data, la[1], b.ctypes.data,
                lb[1], beta, out.ctypes.data, max(1, n)]


def _mkl_gemm(a: Any, b: Any, out: Any) -> bool:
    """out = a @ b by MKL; False (nothing written) when this case is not one it handles."""
    call = mkl_call(a, b, out)
    if call is None:
        return False
    call[0](*call[1])
    return True


def gemm(a: Any, b: Any, out: Any, provider: str = NUMPY) -> Any:
    """``out = a @ b`` by ``provider`` (a name of :data:`PROVIDERS`); returns ``out``.

    Cases the provider does not handle (not 2-D, not float32/float64, mixed dtypes, a layout
    BLAS cannot read, overlapping memory, the provider not installed) run numpy's matmul,
    so the result is always ``a @ b``. With ``"numpy"`` it is ``numpy.matmul(a, b, out=out)``.

    Example:
        >>> import numpy as np
        >>> a = np.arange(6.0).reshape(2, 3)
        >>> gemm(a, a.T, np.empty((2, 2)), "mkl").tolist()  # numpy's when MKL is absent
        [[5.0, 14.0], [14.0, 50.0]]
    """
    if provider != NUMPY:
        if provider != MKL:
            check_name(provider, allow_auto=False)
        if out is not None and _mkl_gemm(a, b, out):
            return out
    return np.matmul(a, b, out=out)


def gemm_add(a: Any, b: Any, out: Any, provider: str = NUMPY) -> Any:
    """``out += a @ b`` by ``provider``; returns ``out``. MKL adds the product into ``out``
    as it makes it (GEMM's ``beta = 1``: no pass of its own over ``out``); numpy's matmul,
    and any case MKL does not take, make the product first and then add it.

    Example:
        >>> import numpy as np
        >>> gemm_add(np.eye(2), np.ones((2, 2)), np.ones((2, 2)), "mkl").tolist()
        [[2.0, 2.0], [2.0, 2.0]]
    """
    call = mkl_call(a, b, out, 1.0) if provider == MKL else None
    if call is None:
        return np.add(out, np.matmul(a, b), out=out)
    call[0](*call[1])
    return out


def product(a: Any, b: Any, out: Any, provider: str) -> Any:
    """``a @ b`` by ``provider`` (or by the provider :func:`choose` picks, for ``"auto"``),
    into ``out`` or a new C-contiguous array; None, having written nothing, when that library
    does not take this case (the caller runs its own matmul then: a kernel stays one body for
    numpy and cupy)."""
    if provider == "auto":  # a kind of product chosen before: numpy's costs no more look
        provider = _chosen_before(a, b) or provider
        if provider == NUMPY:
            return None
    if out is None:
        if not _handled(a, b, None):
            return None
        out = np.empty((a.shape[0], b.shape[1]), a.dtype)
    if provider == "auto":
        provider = choose(a, b, out)
        if provider == NUMPY:
            return None
    elif provider != MKL:
        check_name(provider)
    return out if _mkl_gemm(a, b, out) else None


def transpose_into(a: Any, out: Any) -> Any:
    """``out[...] = a`` where ``a`` is the transpose of a row-major matrix: by MKL's
    ``MKL_?omatcopy`` when MKL is installed (a blocked transpose, about 2.5x numpy's
    element-by-element copy of a 512x512 float32 ``w.T`` here), else ``numpy.copyto``.
    A copy either way: the same bits.

    Example:
        >>> import numpy as np
        >>> w = np.arange(6.0).reshape(2, 3)
        >>> transpose_into(w.T, np.empty((3, 2))).tolist()
        [[0.0, 3.0], [1.0, 4.0], [2.0, 5.0]]
    """
    lib = _mkl() if type(a) is np.ndarray and type(out) is np.ndarray else None
    fn = lib.omatcopy.get(out.dtype) if lib is not None else None
    if (fn is None or a.ndim != 2 or a.dtype != out.dtype or a.shape != out.shape
            or 0 in a.shape or not a.T.flags.c_contiguous or not out.flags.c_contiguous
            or not out.flags.writeable or np.may_share_memory(a, out)):
        np.copyto(out, a)
        return out
    rows, cols = a.T.shape  # the stored matrix, read row-major and written transposed
    fn(b"R", b"T", rows, cols, 1.0, a.ctypes.data, cols, out.ctypes.data, rows)
    return out


# ---- choosing by timing ------------------------------------------------------------------


def time_provider(provider: str, a: Any, b: Any, out: Any, repeats: int = 5) -> float:
    """Seconds per call of ``gemm(a, b, out, provider)``: after one warm-up call, the least
    of ``repeats`` samples, each of enough calls for about 0.3 ms. The least sample, not
    the median: on a shared machine other processes only ever add time to a sample.
    (Wall time, not this thread's CPU time, which misses a multi-threaded library's
    workers.)"""
    gemm(a, b, out, provider)
    start = time.perf_counter()
    gemm(a, b, out, provider)
    once = max(time.perf_counter() - start, 1e-6)
    calls = max(1, min(64, int(3e-4 / once)))
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            gemm(a, b, out, provider)
        best = min(best, (time.perf_counter() - start) / calls)
    return best


def measure(a: Any, b: Any, out: Any, candidates: Sequence[str] | None = None,
            repeats: int = 5) -> dict[str, float]:
    """Seconds per call of ``a @ b`` into ``out`` for each candidate (default: every
    available provider); ``{}`` when only one can run or no library but numpy's takes
    this case."""
    names = list(candidates or available())
    if len(names) < 2 or not _handled(a, b, out):
        return {}
    return {name: time_provider(name, a, b, out, repeats) for name in names}


def pick(times: Mapping[str, float]) -> str:
    """The provider of ``times`` (from :func:`measure`) to run: numpy's unless another is
    :data:`MARGIN` times faster (a library must win by a margin, not by a timer's noise).

    Example:
        >>> pick({"numpy": 1.0, "mkl": 0.97}), pick({"numpy": 1.0, "mkl": 0.5}), pick({})
        ('numpy', 'mkl', 'numpy')
    """
    if not times:
        return NUMPY
    scaled = {name: t / MARGIN if name == NUMPY else t for name, t in times.items()}
    return min(scaled, key=lambda name: (scaled[name], name != NUMPY))


def fastest(a: Any, b: Any, out: Any, candidates: Sequence[str] | None = None,
            repeats: int = 5) -> str:
    """The candidate (default: every available provider) that ran ``a @ b`` into ``out``
    fastest here. numpy wins unless another is :data:`MARGIN` times faster, and wins every
    case the others do not handle."""
    return pick(measure(a, b, out, candidates, repeats))


_CHOSEN: dict[tuple[Any, ...], str] = {}  # key_of(a, b) -> provider: a fact of this machine
_TIMES: dict[tuple[Any, ...], dict[str, float]] = {}  # key_of(a, b) -> the timings behind it
_CHOOSING = threading.Lock()
#: entries each of the caches below may hold: one per kind of product, so a process that
#: multiplies ever new shapes (variable-length batches) starts over rather than grow
CACHE_LIMIT = 4096


def choose(a: Any, b: Any, out: Any) -> str:
    """The fastest provider for this product's shapes, layouts and dtype: timed on first
    use (into ``out``, which the caller overwrites next), then remembered for the process.

    Example:
        >>> import numpy as np
        >>> choose(np.ones((4, 4)), np.ones((4, 4)), np.empty((4, 4))) in available()
        True
    """
    if not _handled(a, b, out):
        return NUMPY
    if len(_KEYS) >= CACHE_LIMIT:
        _KEYS.clear()
    key = _KEYS[(a.shape, a.strides, b.shape, b.strides, a.dtype, b.dtype)] = key_of(a, b)
    found = _CHOSEN.get(key)
    if found is None:
        with _CHOOSING:  # (one timing at a time: two would slow each other down)
            found = _CHOSEN.get(key)
            if found is None:
                if len(_CHOSEN) >= CACHE_LIMIT or len(_TIMES) >= CACHE_LIMIT:
                    _CHOSEN.clear()  # (a kind of product met again is timed again)
                    _TIMES.clear()
                times = measure(a, b, out)
                _TIMES[key] = times
                found = _CHOSEN[key] = pick(times)
    return found


_KEYS: dict[tuple[Any, ...], tuple[Any, ...]] = {}  # (shapes, strides, dtypes) -> key_of()


def _chosen_before(a: Any, b: Any) -> str | None:
    """choose()'s answer for this kind of product if any, without key_of's 3 us a call."""
    if type(a) is not np.ndarray or type(b) is not np.ndarray:
        return NUMPY  # (cupy's: no library but its own takes it)
    key = _KEYS.get((a.shape, a.strides, b.shape, b.strides, a.dtype, b.dtype))
    return None if key is None else _CHOSEN.get(key)


def timings(a: Any, b: Any) -> dict[str, float]:
    """Seconds per call of each provider that :func:`choose` timed for this product's key
    (``{}`` if it was not timed, or only numpy's matmul takes it): what a choice rests on,
    for reports.

    Example:
        >>> import numpy as np
        >>> timings(np.ones((3, 5)), np.ones((5, 7)))
        {}
    """
    return dict(_TIMES.get(key_of(a, b), {}))


def _handled(a: Any, b: Any, out: Any) -> bool:
    """Whether MKL would run this case itself (else every provider is numpy's matmul)."""
    return (type(a) is np.ndarray and type(b) is np.ndarray and a.ndim == b.ndim == 2
            and a.dtype == b.dtype and a.dtype in (np.float32, np.float64)
            and _layout(a) is not None and _layout(b) is not None)


def key_of(a: Any, b: Any) -> tuple[Any, ...]:
    """What a timing depends on: shapes, layouts (transpose flag and leading dimension) and
    the dtype; products with equal keys are timed once."""
    return (a.shape, b.shape, _layout(a), _layout(b), str(a.dtype))


__all__ = ["CACHE_LIMIT", "MKL", "NUMPY", "PROVIDERS", "RAW", "UnknownProviderError",
           "available", "check_name", "choose", "fastest", "gemm", "gemm_add", "key_of",
           "measure", "mkl_call", "pick", "product", "time_provider", "timings",
           "transpose_into"]
