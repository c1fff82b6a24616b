"""Matrix products that a CUDA-graph capture can record: cuBLAS called on a handle of our own.

cupy refuses every cuBLAS call while a stream captures ("calling cuBLAS API during stream
capture is currently unsupported", cupy 13 and 14), although cuBLAS itself can be captured
(PyTorch's graphs do it). So while a plan is captured (``cuda_graph.py``), ``matmul``
goes through :func:`capture_matmul`: the same cuBLAS GEMM that ``cupy.matmul`` uses for
2-D float operands, called through cupy's thin cuBLAS binding on a handle bound to the
capture stream. Row-major C = A B is column-major C^T = B^T A^T, so no data moves: each
operand is passed as it lies, transposed or not according to its strides.

Example:
    >>> # matmul = capture_matmul(cupy, cupy.cuda.cublas.create())
    >>> # matmul(a, b, out=c)   # c = a @ b, recordable in a stream capture
"""

from __future__ import annotations

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


def capture_matmul(xp: Any, handle: int, gemm: Any = None) -> Any:
    """``matmul(a, b, out=None)`` for 1-D/2-D float32/float64 operands through cuBLAS on
    ``handle`` (``gemm``: the binding, cupy's by default; tests pass another)."""
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
            binding = gemm if gemm is not None else _binding(xp, a.dtype)
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


def _binding(xp: Any, dtype: Any) -> Any:
    names = {"float64": "dgemm", "float32": "sgemm"}
    if str(dtype) not in names:
        raise NotImplementedError(f"a captured matmul of {dtype} (float32/float64 only)")
    return getattr(xp.cuda.cublas, names[str(dtype)])


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
