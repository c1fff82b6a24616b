"""runtime/blas.py's caches of per-shape choices stay bounded: a process that multiplies
ever new shapes (variable-length batches) starts them over past blas.CACHE_LIMIT entries."""

from __future__ import annotations

import numpy as np
from tapeflow.runtime import blas


def test_choices_timings_and_keys_stay_within_the_limit(monkeypatch):
    monkeypatch.setattr(blas, "CACHE_LIMIT", 8)
    for name in ("_CHOSEN", "_TIMES", "_KEYS"):
        monkeypatch.setattr(blas, name, {})
    monkeypatch.setattr(blas, "measure", lambda a, b, out: {"numpy": 1.0})  # no timing
    sizes = []
    for rows in range(1, 41):
        a, b = np.ones((rows, 3), np.float32), np.ones((3, 2), np.float32)
        assert blas.choose(a, b, np.empty((rows, 2), np.float32)) == blas.NUMPY
        sizes.append((len(blas._CHOSEN), len(blas._TIMES), len(blas._KEYS)))
    assert max(max(s) for s in sizes) <= 8
    starts = sum(now[0] < before[0] for before, now in zip(sizes, sizes[1:], strict=False))
    assert starts >= 4  # started over, every 8 kinds of product


def test_a_product_after_the_caches_start_over_is_still_right(monkeypatch):
    monkeypatch.setattr(blas, "CACHE_LIMIT", 2)
    for name in ("_CHOSEN", "_TIMES", "_KEYS"):
        monkeypatch.setattr(blas, name, {})
    rng = np.random.default_rng(0)
    for rows in (3, 4, 5, 3, 6, 4):
        a, b = rng.normal(size=(rows, 4)), rng.normal(size=(4, 2))
        got = blas.product(a, b, None, "auto")
        got = a @ b if got is None else got  # (None: numpy's matmul takes it)
        np.testing.assert_allclose(got, a @ b, rtol=1e-12)
        assert len(blas._KEYS) <= 2 and len(blas._CHOSEN) <= 2
