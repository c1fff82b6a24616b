"""The MKL library behind the ``"mkl"`` GEMM provider (``runtime/blas.py``), through ctypes.

The ``mkl`` wheel (``pip install tapeflow[mkl]``) installs ``libmkl_rt`` into
``<prefix>/lib``; :func:`load` loads it once, with the CBLAS GEMMs and MKL's transposing
copies bound, or answers None when it is not there or does not load (then numpy's matmul
runs every product). With one thread asked for (``MKL_NUM_THREADS``/``OMP_NUM_THREADS``),
MKL runs sequentially: no OpenMP runtime of its own next to numpy's threads.

Example:
    >>> lib = load()
    >>> lib is None or sorted(str(d) for d in lib.fns) == ['float32', 'float64']
    True
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from importlib import metadata
from typing import Any

import numpy as np

_SEQUENTIAL = 1  # MKL_THREADING_SEQUENTIAL


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
        self.omatcopy: dict[Any, Any] = {}  # dtype -> MKL_?omatcopy (a transposing copy)
        for dtype, name, scalar in ((np.float32, "MKL_Somatcopy", ctypes.c_float),
                                    (np.float64, "MKL_Domatcopy", ctypes.c_double)):
            fn = getattr(lib, name, None)
            if fn is not None:
                fn.restype = None
                fn.argtypes = [ctypes.c_char, ctypes.c_char, ctypes.c_size_t, ctypes.c_size_t,
                               scalar, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p,
                               ctypes.c_size_t]
                self.omatcopy[np.dtype(dtype)] = fn
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


def load() -> _Mkl | None:
    """The loaded library (its CBLAS GEMMs and transposing copies), or None."""
    if not _LOADED:
        with _LOCK:
            if not _LOADED:
                path = _mkl_path()
                try:
                    _LOADED.append(_Mkl(path) if path else None)
                except (OSError, AttributeError):
                    _LOADED.append(None)  # a library that does not load is no provider
    return _LOADED[0]


__all__ = ["load"]
