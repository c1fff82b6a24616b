"""GEMM providers (runtime/blas.py): numpy's path is numpy's matmul bit for bit; MKL's agrees
to rounding on every layout it takes, and falls back to numpy's matmul on the rest."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from tapeflow.runtime import blas

needs_mkl = pytest.mark.skipif("mkl" not in blas.available(),
                               reason="MKL is not installed (pip install tapeflow[mkl])")


def _cases(dtype):
    """(a, b) pairs in the layouts the RNN kernels pass: plain, transposed views, a strided
    x[:, t] slice and its transpose, and a 1-row product."""
    rng = np.random.default_rng(0)
    r = lambda *s: rng.standard_normal(s).astype(dtype)  # noqa: E731
    x = r(6, 5, 7)
    return [
        (r(6, 7), r(7, 9)),
        (r(7, 6).T, r(7, 9)),
        (r(6, 7), r(9, 7).T),
        (r(7, 6).T, r(9, 7).T),
        (x[:, 2], r(7, 9)),
        (x[:, 2].T, r(6, 9)),
        (r(1, 7), r(7, 9)),
    ]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numpy_provider_is_numpy_matmul_bit_for_bit(dtype):
    for a, b in _cases(dtype):
        out = np.empty((a.shape[0], b.shape[1]), dtype)
        assert blas.gemm(a, b, out, "numpy") is out
        np.testing.assert_array_equal(out, np.matmul(a, b))


@needs_mkl
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mkl_agrees_with_numpy_to_rounding(dtype, monkeypatch):
    ran = []
    lib = blas._mkl()
    for key, fn in list(lib.fns.items()):
        monkeypatch.setitem(lib.fns, key, lambda *args, fn=fn: (ran.append(1), fn(*args)))
    rtol = 1e-5 if dtype == np.float32 else 1e-13
    for a, b in _cases(dtype):
        out = np.full((a.shape[0], b.shape[1]), np.nan, dtype)
        blas.gemm(a, b, out, "mkl")
        np.testing.assert_allclose(out, np.matmul(a, b), rtol=rtol, atol=rtol)
    assert len(ran) == len(_cases(dtype))  # MKL itself ran every one of these layouts


@needs_mkl
def test_mkl_writes_a_column_major_out_as_its_transpose():
    a, b = np.arange(6.0).reshape(2, 3), np.arange(12.0).reshape(3, 4)
    out = np.empty((4, 2)).T
    blas.gemm(a, b, out, "mkl")
    np.testing.assert_allclose(out, a @ b)


@pytest.mark.parametrize("provider", blas.PROVIDERS)
def test_cases_no_provider_handles_run_numpy(provider):
    rng = np.random.default_rng(1)
    a3, b3 = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 4, 5))
    out3 = np.empty((2, 3, 5))
    np.testing.assert_array_equal(blas.gemm(a3, b3, out3, provider), a3 @ b3)  # batched
    ai, bi = np.arange(6).reshape(2, 3), np.arange(6).reshape(3, 2)
    np.testing.assert_array_equal(blas.gemm(ai, bi, np.empty((2, 2), int), provider), ai @ bi)
    a = rng.standard_normal((4, 4))
    expected = a @ a
    np.testing.assert_array_equal(blas.gemm(a, a, a, provider), expected)  # out is an input
    every_other = rng.standard_normal((4, 8))[:, ::2]  # no unit stride: not BLAS-readable
    np.testing.assert_allclose(blas.gemm(every_other, a, np.empty((4, 4)), provider),
                               every_other @ a)
    mixed = blas.gemm(a.astype(np.float32), a, np.empty((4, 4)), provider)
    np.testing.assert_array_equal(mixed, a.astype(np.float32) @ a)


def test_unknown_provider_is_named():
    with pytest.raises(blas.UnknownProviderError, match="'openblas'.*'numpy', 'mkl'"):
        blas.gemm(np.ones((2, 2)), np.ones((2, 2)), np.empty((2, 2)), "openblas")


def test_choose_times_once_per_shape_layout_and_dtype(monkeypatch):
    timed = []
    monkeypatch.setattr(blas, "_CHOSEN", {})
    monkeypatch.setattr(blas, "available", lambda: ("numpy", "mkl"))
    monkeypatch.setattr(blas, "time_provider",
                        lambda name, *a, **k: timed.append(name) or (1.0 if name == "numpy"
                                                                     else 0.5))
    a, b = np.ones((8, 4)), np.ones((4, 8))
    for _ in range(3):
        assert blas.choose(a, b, np.empty((8, 8))) == "mkl"
    assert timed == ["numpy", "mkl"]
    blas.choose(a.astype(np.float32), b.astype(np.float32), np.empty((8, 8), np.float32))
    blas.choose(np.ones((4, 8)).T, b, np.empty((8, 8)))  # another layout: timed again
    assert len(timed) == 6
    assert blas.choose(np.ones((2, 8, 4)), np.ones((2, 4, 8)), None) == "numpy"  # batched


def test_choose_is_safe_from_threads():
    a, b = np.ones((16, 16)), np.ones((16, 16))
    results = []
    threads = [threading.Thread(target=lambda: results.append(
        blas.choose(a, b, np.empty((16, 16))))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1 and results[0] in blas.available()


def test_docstring_examples_run():
    import doctest

    result = doctest.testmod(blas)
    assert result.failed == 0 and result.attempted > 0
