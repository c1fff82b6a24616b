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

import ctypes
import ctypes.util
import os
import statistics
import threading
import time
from collections.abc import Sequence
from importlib import metadata
from typing import Any

import numpy as np

NUMPY = "numpy"
MKL = "mkl"
#: every provider name :func:`gemm` accepts ("auto" is a choice to make, not a provider)
PROVIDERS = (NUMPY, MKL)

#: how much faster than numpy's matmul another provider must time to be chosen
MARGIN = 1.05

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112  # CBLAS enum values
_SEQUENTIAL = 1  # MKL_THREADING_SEQUENTIAL


class UnknownProviderError(ValueError):
    """A GEMM provider name that tapeflow does not have."""


def check_name(provider: str, allow_auto: bool = True) -> str:
    """``provider`` if it is a provider name (or "auto", when allowed); raises otherwise."""
    names = (*PROVIDERS, "auto") if allow_auto else PROVIDERS
    if provider not in names:
        raise UnknownProviderError(f"unknown GEMM provider {provider!r}; the providers are "
                                   f"{', '.join(map(repr, names))}")
    return provider


# ---- MKL through ctypes ----------------------------------------------------------------------


def _mkl_path() -> str | None:
    """libmkl_rt of the installed ``mkl`` wheel (it installs into ``<prefix>/lib``), else the
    system's, else None."""
    try:
        files = metadata.files("mkl") or []
    except metadata.PackageNotFoundError:
        files = []
    for f in files:
        if f.name.startswith("libmkl_rt.so"):
            return str(f.locate())
    return ctypes.util.find_library("mkl_rt")


class _Mkl:
    """The two CBLAS entry points, loaded once (None when MKL is not installed)."""

    def __init__(self, path: str) -> None:
        lib = ctypes.CDLL(path)
        layer = getattr(lib, "MKL_Set_Threading_Layer", None)
        if layer is not None and _threads_wanted() == 1:
            # one thread asked for: no OpenMP runtime of MKL's own next to numpy's threads
            layer.argtypes = [ctypes.c_int]
            layer(_SEQUENTIAL)
        self.path = path
        self.fns: dict[Any, Any] = {}
        for dtype, name, scalar in ((np.float32, "cblas_sgemm", ctypes.c_float),
                                    (np.float64, "cblas_dgemm", ctypes.c_double)):
            fn = getattr(lib, name)
            fn.restype = None
            fn.argtypes = ([ctypes.c_int] * 6 + [scalar, ctypes.c_void_p, ctypes.c_int,
                           ctypes.c_void_p, ctypes.c_int, scalar, ctypes.c_void_p, ctypes.c_int])
            self.fns[np.dtype(dtype)] = fn


def _threads_wanted() -> int:
    for name in ("MKL_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(name, "")
        if value.isdigit():
            return int(value)
    return 0


_LOCK = threading.Lock()
_LOADED: list[_Mkl | None] = []  # empty until the first look; then [library or None]


def _mkl() -> _Mkl | None:
    if not _LOADED:
        with _LOCK:
            if not _LOADED:
                path = _mkl_path()
                try:
                    _LOADED.append(_Mkl(path) if path else None)
                except (OSError, AttributeError):
                    _LOADED.append(None)  # a library that does not load is no provider
    return _LOADED[0]


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


def _mkl_gemm(a: Any, b: Any, out: Any) -> bool:
    """out = a @ b by MKL; False (nothing written) when this case is not one it handles."""
    if not (type(a) is np.ndarray and type(b) is np.ndarray and type(out) is np.ndarray
            and a.ndim == 2 and b.ndim == 2 and out.ndim == 2):
        return False
    dtype = out.dtype
    if a.dtype != dtype or b.dtype != dtype or not out.flags.writeable:
        return False
    m, k = a.shape
    n = b.shape[1]
    if b.shape[0] != k or out.shape != (m, n) or 0 in (m, n, k) or max(m, n, k) >= 2**31:
        return False
    if not out.flags.c_contiguous:
        if out.flags.f_contiguous:  # out^T = b^T a^T, row-major
            return _mkl_gemm(b.T, a.T, out.T)
        return False
    lib = _mkl()
    fn = lib.fns.get(dtype) if lib is not None else None
    la, lb = _layout(a), _layout(b)
    if fn is None or la is None or lb is None:
        return False
    if np.may_share_memory(out, a) or np.may_share_memory(out, b):
        return False  # numpy's matmul copies an overlapping operand first; BLAS would not
    fn(_ROW_MAJOR, la[0], lb[0], m, n, k, 1.0, a.ctypes.data, la[1], b.ctypes.data, lb[1],
       0.0, out.ctypes.data, max(1, n))
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


def product(a: Any, b: Any, out: Any, provider: str) -> Any:
    """``a @ b`` by ``provider`` (or by the provider :func:`choose` picks, for ``"auto"``),
    into ``out`` or a new C-contiguous array; None, having written nothing, when that library
    does not take this case (the caller runs its own matmul then: a kernel stays one body for
    numpy and cupy)."""
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


# ---- choosing by timing ------------------------------------------------------------------


def time_provider(provider: str, a: Any, b: Any, out: Any, repeats: int = 5) -> float:
    """Median seconds of ``gemm(a, b, out, provider)`` over ``repeats`` calls, after one
    warm-up call."""
    gemm(a, b, out, provider)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        gemm(a, b, out, provider)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def fastest(a: Any, b: Any, out: Any, candidates: Sequence[str] | None = None,
            repeats: int = 5) -> str:
    """The candidate (default: every available provider) that ran ``a @ b`` into ``out``
    fastest here. numpy wins unless another is :data:`MARGIN` times faster, and wins every
    case the others do not handle."""
    names = list(candidates or available())
    if len(names) < 2 or not _handled(a, b, out):
        return NUMPY
    times = {name: time_provider(name, a, b, out, repeats) for name in names}
    if NUMPY in times:  # another library must win by a margin, not by a timer's noise
        times[NUMPY] /= MARGIN
    return min(names, key=lambda name: (times[name], name != NUMPY))


_CHOSEN: dict[tuple[Any, ...], str] = {}  # key_of(a, b) -> provider: a fact of this machine


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
    key = key_of(a, b)
    found = _CHOSEN.get(key)
    if found is None:
        found = _CHOSEN.setdefault(key, fastest(a, b, out))
    return found


def _handled(a: Any, b: Any, out: Any) -> bool:
    """Whether MKL would run this case itself (else every provider is numpy's matmul)."""
    return (type(a) is np.ndarray and type(b) is np.ndarray and a.ndim == b.ndim == 2
            and a.dtype == b.dtype and a.dtype in (np.float32, np.float64)
            and _layout(a) is not None and _layout(b) is not None)


def key_of(a: Any, b: Any) -> tuple[Any, ...]:
    """What a timing depends on: shapes, layouts (transpose flag and leading dimension) and
    the dtype; products with equal keys are timed once."""
    return (a.shape, b.shape, _layout(a), _layout(b), str(a.dtype))


__all__ = ["MKL", "NUMPY", "PROVIDERS", "UnknownProviderError", "available", "check_name",
           "choose", "fastest", "gemm", "key_of", "product", "time_provider"]
