"""Matrix products that a CUDA-graph capture can record: cuBLAS called on a handle of our own.

cupy refuses every cuBLAS call while a stream captures ("calling cuBLAS API during stream
capture is currently unsupported", cupy 13 and 14, in ``cupy.matmul`` and in its low-level
binding alike), although cuBLAS itself can be captured (PyTorch's graphs do it). So while a
plan is captured (``cuda_graph.py``), ``matmul`` goes through :func:`capture_matmul`: the
same cuBLAS GEMM that ``cupy.matmul`` uses for 2-D float operands, called through ctypes
(:class:`Cublas`) on a handle bound to the capture stream. Row-major C = A B is column-major
C^T = B^T A^T, so no data moves: each operand is passed as it lies, transposed or not
according to its strides.

Example:
    >>> # blas = Cublas(); matmul = capture_matmul(cupy, blas.create(stream.ptr), blas.gemm)
    >>> # matmul(a, b, out=c)   # c = a @ b, recordable in a stream capture
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

OP_N, OP_T = 0, 1  # cublasOperation_t: as stored, transposed


def blas_operand(x: Any, xp: Any) -> tuple[Any, int, int]:
    """A 2-D row-major array as a column-major BLAS operand of its transpose: (array,
    op, leading dimension), copying only when its strides fit neither layout."""
    rows, cols = x.shape
    item = x.itemsize
    s0, s1 = x.strides
    if (cols == 1 or s1 == item) and (rows == 1 or (s0 >= cols * item and s0 % item == 0)):
        return x, OP_N, max(s0 // item if rows > 1 else cols, cols, 1)
    if (rows == 1 or s0 == item) and (cols == 1 or (s1 >= rows * item and s1 % item == 0)):
        return x, OP_T, max(s1 // item if cols > 1 else rows, rows, 1)
    x = xp.ascontiguousarray(x)
    return x, OP_N, max(cols, 1)


def gemm_arguments(a: Any, b: Any, c: Any, xp: Any) -> tuple[Any, ...]:
    """cuBLAS GEMM arguments for row-major ``c = a @ b`` (all 2-D; ``c`` C-contiguous):
    (transa, transb, m, n, k, A, lda, B, ldb, C, ldc), computed as c^T = b^T a^T."""
    (m, k), n = a.shape, b.shape[1]
    b_arr, op_b, ld_b = blas_operand(b, xp)
    a_arr, op_a, ld_a = blas_operand(a, xp)
    return op_b, op_a, n, m, k, b_arr, ld_b, a_arr, ld_a, c, max(n, 1)


def capture_matmul(xp: Any, handle: int, gemm_for: Any) -> Any:
    """``matmul(a, b, out=None)`` for 1-D/2-D float32/float64 operands through cuBLAS on
    ``handle``; ``gemm_for(dtype)`` gives the GEMM binding (:meth:`Cublas.gemm`)."""
    def matmul(a: Any, b: Any, out: Any = None, **kwargs: Any) -> Any:
        if kwargs or a.ndim > 2 or b.ndim > 2 or a.dtype != b.dtype:
            raise NotImplementedError(
                f"a captured matmul takes 1-D/2-D operands of one dtype and no options "
                f"(got {a.dtype}{a.shape} @ {b.dtype}{b.shape}, {sorted(kwargs)})")
        a2 = a.reshape(1, -1) if a.ndim == 1 else a
        b2 = b.reshape(-1, 1) if b.ndim == 1 else b
        shape = a2.shape[:1] + b2.shape[1:]
        final = shape[0:a.ndim - 1] + shape[1:b.ndim]  # the 1-D axes dropped again
        target = out if out is not None and out.flags.c_contiguous else xp.empty(shape, a.dtype)
        target2 = target.reshape(shape)
        if a2.shape[1] == 0:
            target2.fill(0)
        elif target2.size:
            binding = gemm_for(a.dtype)
            transa, transb, m, n, k, A, lda, B, ldb, C, ldc = gemm_arguments(a2, b2, target2, xp)
            one, zero = _scalars(binding, a.dtype)
            binding(handle, transa, transb, m, n, k, one, _ptr(A), lda, _ptr(B), ldb, zero,
                    _ptr(C), ldc)
        if out is None:
            return target.reshape(final)
        if target is not out:
            xp.copyto(out, target.reshape(final))
        return out

    return matmul


class Cublas:
    """cuBLAS called through ctypes: cupy's own binding refuses calls while a stream
    captures (cupy 14 checks in the binding itself), cuBLAS does not. Loads the library
    cupy loaded (found by cuda-pathfinder, else by its usual names) on first use.

    Example:
        >>> # blas = Cublas(); handle = blas.create(stream.ptr); blas.gemm("float64")(...)
    """

    _NAMES = ("libcublas.so.13", "libcublas.so.12", "libcublas.so")

    def __init__(self) -> None:
        self._lib: Any = None

    def _load(self) -> Any:
        if self._lib is None:
            path = None
            try:
                from cuda.pathfinder import load_nvidia_dynamic_lib  # type: ignore[import-not-found]

                path = load_nvidia_dynamic_lib("cublas").abs_path
            except Exception:  # noqa: BLE001 - no pathfinder: the loader's search path
                pass
            for name in ([path] if path else []) + list(self._NAMES):
                try:
                    self._lib = ctypes.CDLL(name)
                    break
                except OSError:
                    continue
            else:
                raise NotImplementedError("cuBLAS (libcublas.so) could not be loaded")
            p, i = ctypes.c_void_p, ctypes.c_int
            for fn in ("cublasDgemm_v2", "cublasSgemm_v2"):
                getattr(self._lib, fn).argtypes = [p, i, i, i, i, i, p, p, i, p, i, p, p, i]
                getattr(self._lib, fn).restype = i
        return self._lib

    def create(self, stream_ptr: int) -> int:
        """A new handle whose calls go to ``stream_ptr`` (kept for the process: a captured
        graph's GEMMs use its workspace)."""
        lib = self._load()
        handle = ctypes.c_void_p()
        _check(lib.cublasCreate_v2(ctypes.byref(handle)), "cublasCreate")
        _check(lib.cublasSetStream_v2(handle, ctypes.c_void_p(stream_ptr)), "cublasSetStream")
        return int(handle.value or 0)

    def gemm(self, dtype: Any) -> Any:
        """The GEMM for ``dtype``: (handle, transa, transb, m, n, k, alpha*, A*, lda, B*, ldb,
        beta*, C*, ldc), pointers as ints."""
        names = {"float64": "cublasDgemm_v2", "float32": "cublasSgemm_v2"}
        if str(dtype) not in names:
            raise NotImplementedError(f"a captured matmul of {dtype} (float32/float64 only)")
        fn = getattr(self._load(), names[str(dtype)])

        def call(*args: Any) -> None:
            _check(fn(*args), names[str(dtype)])

        return call


def _check(status: int, what: str) -> None:
    if status != 0:
        raise RuntimeError(f"{what} failed: cuBLAS status {status}")


_HOST_SCALARS: dict[str, tuple[Any, Any]] = {}


def _scalars(binding: Any, dtype: Any) -> tuple[Any, Any]:
    """alpha = 1 and beta = 0 as the binding takes them: cupy's takes host pointers
    (``size_t alpha``; cuBLAS reads them when the call is made, so a capture keeps the
    values); a binding whose signature says ``double alpha``/``float alpha`` takes numbers."""
    doc = (getattr(binding, "__doc__", None) or "").split("\n")[0]
    if "double alpha" in doc or "float alpha" in doc:
        return 1.0, 0.0
    key = str(dtype)
    if key not in _HOST_SCALARS:  # kept alive for the process: the pointers must stay valid
        _HOST_SCALARS[key] = (np.ones(1, dtype), np.zeros(1, dtype))
    one, zero = _HOST_SCALARS[key]
    return one.ctypes.data, zero.ctypes.data


def _ptr(x: Any) -> Any:
    data = getattr(x, "data", None)
    return data.ptr if hasattr(data, "ptr") else x  # (a test binding takes the array itself)
