"""R.<op>'s per-class caches stay bounded when classes are made at run time."""

from __future__ import annotations

import contextlib

import numpy as np
from tapeflow.runtime import R, ShapeError, registry


def test_classes_made_at_run_time_do_not_grow_the_caches_for_good():
    for k in range(3 * registry._CLASSES_KEPT):
        stand_in = type(f"Like{k}", (), {"dtype": np.dtype(np.float32), "shape": (2,)})
        with contextlib.suppress(ShapeError):  # (the kernel refuses it; the class was seen)
            R.mul(np.ones(2, np.float32), stand_in())
    assert len(registry._HANDLERS) <= registry._CLASSES_KEPT
    assert len(registry._PLAIN) <= registry._CLASSES_KEPT
